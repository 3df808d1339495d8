"""Every use of python-engineio and python-socketio internals, in one place.

Written against python-engineio 4.15.1 and python-socketio 5.18.1, pinned
exactly in pyproject.toml; ``tests/unit/test_engine.py`` fails loudly when
an upgrade changes anything relied on here:

- ``engineio.AsyncServer.handle_request`` is wrapped: WebSocket sessions
  (new, or upgrading from polling) are served here without engineio's
  environ and wrappers, which a session would hold for its whole life;
  long-polling POSTs are read here too (engineio takes 16 packets a POST
  at most, and leaves an oversized one unanswered), answered with CORS
  headers from ``_cors_headers`` of the driver's ``translate_request``;
- ``engineio.AsyncServer._handle_connect`` (polling) makes :class:`Link`s;
- :class:`Link` overrides ``AsyncSocket.send``, ``poll``, ``close`` and
  ``schedule_ping``, and calls ``receive``; a poll that gets ``None`` from
  the queue of a closed session raises ``QueueEmpty``, which engineio's
  ``handle_request`` answers with 400;
- ``socketio.AsyncServer._handle_event_internal`` is wrapped to learn
  whether the client asked for an ack (python-socketio does not say);
- ``socketio.AsyncServer._handle_eio_message`` is wrapped to answer bad and
  binary packets instead of logging a traceback for each;
- a Socket.IO DISCONNECT is noted as the frame arrives (:meth:`Link._on_frame`):
  python-socketio handles it in a task of its own, which the transport's close
  that follows can overtake, and reports both with one reason;
- ``socketio.AsyncServer._handle_connect`` answers CONNECT_ERROR for a
  session over ``--max-connections-per-address``, and for a namespace whose
  gate (the Admin UI's password) refuses the CONNECT's auth;
- ``socketio.AsyncServer._handle_connect`` is replaced, for the default
  namespace with recovery on, by :func:`events.handshake.connect` (the
  other module allowed internals; its docstring lists what it uses);
- ``_handle_eio_connect`` keeps no environ; ``manager.eio_sid_from_sid``
  and ``eio.sockets`` find a link.

Why: engineio gives each WebSocket session a writer task and a queue, a
task per heartbeat and a ``wait_for`` per received frame, and its ``send``
raises for a session that timed out, which ends a broadcast loop. A
:class:`Link` writes straight to the transport through an
:class:`~web.wire.Outlet`, keeps one timer for its heartbeat, and never
raises on send. An idle session is one task with a short chain of frames.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import engineio
import socketio
from aiohttp import WSCloseCode, WSMsgType, web
from engineio import exceptions as eio_exceptions, packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

from chat.rules import UNPAIRED_SURROGATE, unpaired_surrogate
from events import handshake
from events.codec import event_text, frames, message_packet
from web import proxies
from web.bounds import PerAddress
from web.origin import Allowed, environ_rule, request_allowed
from web.wire import Outlet

log = logging.getLogger(__name__)
NAMESPACE = "/"
MAX_STRIKES = 10
"""Malformed packets a connection may send before it is disconnected."""
_PING = eio_packet.Packet(eio_packet.PING)
_CLOSE = eio_packet.Packet(eio_packet.CLOSE)
_ack_requested: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ack_requested", default=False
)
_tasks: set[asyncio.Task[Any]] = set()
_NO_ENVIRON: dict[str, Any] = {}
REFUSED_GRACE = 2.0
"""Seconds a refused session has to fetch its CONNECT_ERROR before it ends."""


def ack_requested() -> bool:
    """Whether the event being handled came with an ack id."""
    return _ack_requested.get()


def _spawn(coro: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


class Link(AsyncSocket):  # type: ignore[misc]
    """One Engine.IO session.

    Over WebSocket, packets are framed and written straight to the transport.
    Before the upgrade and for long-polling they wait in engineio's queue, as
    usual, so the order a client sees never changes.
    """

    # Set by engineio's BaseSocket; declared for mypy (engineio is untyped).
    server: Engine
    sid: str
    queue: Any
    connected: bool
    upgrading: bool
    upgraded: bool
    closing: bool
    closed: bool

    def __init__(self, server: Engine, sid: str) -> None:
        super().__init__(server, sid)
        self.outlet: Outlet | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._awaiting_pong = False
        self._queued = 0
        self._strikes = 0
        self._end_reason: str | None = None
        self._close_code = WSCloseCode.GOING_AWAY
        self.remote = ""
        """The client's address."""
        self.refused: dict[str, Any] | None = None
        """Why its Socket.IO CONNECT is refused (too many from its address)."""
        self._slots: PerAddress | None = None
        self.goodbye = False
        """The client sent a Socket.IO DISCONNECT: it means to go."""

    def hold(self, slots: PerAddress | None) -> None:
        """Count this session against its address, or mark it refused."""
        if slots is None:
            return
        if slots.take(self.remote):
            self._slots = slots
        else:
            self.refused = slots.refusal().as_dict()

    # Sending -------------------------------------------------------------

    async def send(self, pkt: eio_packet.Packet) -> None:
        """engineio's API, used by python-socketio for acks and replies."""
        self.put([pkt])

    def put(
        self,
        packets: Sequence[eio_packet.Packet],
        data: bytes | None = None,
        *,
        bulk: bool = False,
    ) -> None:
        """Send ``packets`` (framed as ``data`` when the caller has it).

        Never raises and never waits: a closed link drops them, and one that
        has more than ``--max-unsent`` bytes waiting is disconnected.
        ``bulk`` (history, catch-up) is exempt from that bound.
        """
        if self.closed:
            return
        if self.outlet is not None:
            self.outlet.write(frames(packets) if data is None else data, bulk=bulk)
            return
        for pkt in packets:
            self.queue.put_nowait(pkt)
        if not bulk:
            self._queued += len(data) if data is not None else len(frames(packets))
            if self._queued > self.server.max_unsent:
                log.warning(
                    "dropping polling session %s: %d bytes not fetched (limit %d)",
                    self.sid,
                    self._queued,
                    self.server.max_unsent,
                )
                if self.server.on_drop is not None:
                    self.server.on_drop()
                _spawn(self.close(wait=False, abort=True, reason="too slow"))

    async def poll(self) -> list[eio_packet.Packet]:
        packets: list[eio_packet.Packet] = await super().poll()
        self._queued = 0
        if not packets and self.closed:
            # Ended without a CLOSE packet (see close): an error status, which
            # every client takes for a broken transport and reconnects.
            raise eio_exceptions.QueueEmpty()
        return packets

    # Heartbeat: one timer per session, not a task per ping ----------------

    def start_heartbeat(self) -> None:
        self._set_timer(self.server.ping_interval, self._ping)

    def schedule_ping(self) -> None:
        """engineio calls this for every PONG: ping again after the interval."""
        if self._awaiting_pong:
            self._awaiting_pong = False
            self._set_timer(self.server.ping_interval, self._ping)

    def _ping(self) -> None:
        self._awaiting_pong = True
        if self.outlet is not None:
            self.outlet.check()  # a reader that stopped, in a room gone quiet
        self.put([_PING])
        self._set_timer(self.server.ping_timeout, self._gone)

    def _gone(self) -> None:
        self._timer = None
        log.info("session %s: no answer to ping; closing it", self.sid)
        self._end_reason = self.server.reason.PING_TIMEOUT
        if self.outlet is not None:
            self.outlet.abort()  # the reader sees the end and closes the session
        else:
            _spawn(self.close(wait=False, abort=True, reason=self._end_reason))

    def _set_timer(self, delay: float, callback: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, callback)

    # Closing -------------------------------------------------------------

    async def end(self, code: WSCloseCode = WSCloseCode.GOING_AWAY) -> None:
        """End the session so that its client reconnects by itself.

        For a restart or a history reset. No Engine.IO CLOSE packet: the
        JavaScript client reconnects after one, but python-socketio's takes
        it for a deliberate goodbye and never comes back. A WebSocket just
        closes with ``code``; a pending poll is answered with an error.
        """
        self._close_code = code
        await self.close(
            wait=False, abort=True, reason=self.server.reason.SERVER_DISCONNECT
        )

    async def close(
        self, wait: bool = True, abort: bool = False, reason: str | None = None
    ) -> None:
        """engineio's API. Without ``abort``, a deliberate close: the client
        is sent a CLOSE packet and does not reconnect."""
        if self.closed or self.closing:
            return
        self.closing = True
        if self._slots is not None:
            self._slots.give(self.remote)
            self._slots = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.server._trigger_event(
            "disconnect",
            self.sid,
            reason or self.server.reason.SERVER_DISCONNECT,
            run_async=False,
        )
        if not abort:
            self.put([_CLOSE])
        self.closed = True
        self.server.sockets.pop(self.sid, None)
        if self.outlet is not None:
            # socket.io-client ignores an Engine.IO CLOSE on a WebSocket; the
            # close frame makes it reconnect at once.
            self.outlet.close(self._close_code, "server closed the session")
        elif abort:
            self.queue.put_nowait(None)  # ends a pending poll (see poll)
        elif wait:
            await self.queue.join()

    # Receiving -----------------------------------------------------------

    def strike(self, reason: str) -> None:
        """The client sent something malformed: tell it; drop it if it persists."""
        if self._strikes >= MAX_STRIKES:
            return  # already on its way out; frames still in flight change nothing
        self._strikes += 1
        if self._strikes == 1:
            log.info(
                "session %s from %s sent a bad packet: %s",
                self.sid,
                self.remote,
                reason,
            )
        error = {"event": None, "code": "bad_packet", "message": reason}
        self.put([message_packet(event_text("chat_error", error))])
        if self._strikes >= MAX_STRIKES:
            log.warning(
                "session %s: %d bad packets; disconnecting", self.sid, MAX_STRIKES
            )
            if self.outlet is not None:
                self.outlet.close(WSCloseCode.POLICY_VIOLATION, "too many bad packets")
            else:
                _spawn(self.close(wait=False, reason="bad packets"))

    async def run(
        self, request: web.Request, *, upgrade: bool = False
    ) -> web.WebSocketResponse:
        """Serve the session over a WebSocket until either side ends it.

        One frame for the session's whole life: an idle session is this
        coroutine parked in ``receive``.
        """
        # No permessage-deflate: for short chat lines compressing costs more
        # CPU than all the rest of a broadcast (the Node.js server's default).
        sock = web.WebSocketResponse(
            compress=False, max_msg_size=self.server.max_http_buffer_size
        )
        await sock.prepare(request)
        if upgrade:
            if not await self._probe(sock) or self.closed:
                return sock
        else:
            self.connected = self.upgraded = True
        assert request.transport is not None  # prepared just now
        self._go_direct(request.transport)
        try:
            while True:
                msg = await sock.receive()
                if msg.type is not WSMsgType.TEXT and msg.type is not WSMsgType.BINARY:
                    break
                await self._on_frame(msg.data)
        finally:
            reason = self._end_reason or self.server.reason.TRANSPORT_CLOSE
            # Shielded: a handler cancelled as its client goes (aiohttp's
            # handler_cancellation) must still leave, release and announce.
            await asyncio.shield(self.close(wait=False, abort=True, reason=reason))
        return sock

    def _go_direct(self, transport: asyncio.Transport) -> None:
        """From now on write straight to ``transport``; what was queued first."""
        waiting = []
        while not self.queue.empty():
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is not None:
                waiting.append(pkt)
        self.outlet = Outlet(
            transport, self.server.max_unsent, self.sid, self.server.on_drop
        )
        self.outlet.write(frames(waiting), bulk=True)
        self.queue = None  # never used again; its deques cost ~3 KB a session

    async def _probe(self, sock: web.WebSocketResponse) -> bool:
        """A polling session moving to WebSocket: PING "probe", PONG "probe",
        UPGRADE; until then packets keep going to the pending poll."""
        self.upgrading = True
        try:
            probe = await sock.receive()
            if probe.type is not WSMsgType.TEXT or probe.data != "2probe":
                return False
            await sock.send_str("3probe")
            self.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))  # ends a poll
            done = await sock.receive()
            if done.type is not WSMsgType.TEXT or done.data != "5":
                return False
            self.upgraded = True
            return True
        finally:
            self.upgrading = False

    async def _on_frame(self, data: str | bytes) -> None:
        if isinstance(data, str) and data.startswith("41"):
            self.goodbye = True  # see ChatServer.said_goodbye
        try:
            pkt = eio_packet.Packet(encoded_packet=data)
        except Exception:
            self.strike("Not an Engine.IO packet.")
            return
        if not 0 <= pkt.packet_type < len(eio_packet.packet_names):
            self.strike("Unknown Engine.IO packet type.")
            return
        try:
            await self.receive(pkt)
        except eio_exceptions.UnknownPacketError:
            self.strike("Unknown Engine.IO packet type.")


class Engine(engineio.AsyncServer):  # type: ignore[misc]
    """engineio's server, making :class:`Link` sessions.

    Its client monitor task is off: each link times itself out.
    """

    def __init__(
        self,
        *,
        max_unsent: int = 1 << 20,
        origins: Allowed = "*",
        on_drop: Callable[[], None] | None = None,
        connections: PerAddress | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            monitor_clients=False, cors_allowed_origins=environ_rule(origins), **kwargs
        )
        self.max_unsent = max_unsent
        self.origins = origins
        self.on_drop = on_drop
        """Called for each session dropped as too slow (for /metrics)."""
        self.connections = connections
        """Sessions per client address (``--max-connections-per-address``)."""

    async def handle_request(self, request: web.Request) -> web.StreamResponse:
        """WebSocket sessions are served here; the rest goes to engineio."""
        query = request.query
        if (
            query.get("transport") == "websocket"
            and request.headers.get("Upgrade", "").lower() == "websocket"
            and request_allowed(request, self.origins)
        ):
            sid = query.get("sid")
            if sid is None and query.get("EIO") == "4":
                link = self._new_link(request)
                if not await self._accepted(link, {"aiohttp.request": request}):
                    return web.Response(status=401, text="connection refused")
                return await link.run(request)
            link = self.sockets.get(sid)
            if isinstance(link, Link) and link.connected and not link.upgraded:
                return await link.run(request, upgrade=True)
        elif (
            request.method == "POST"
            and "j" not in query  # JSONP, from clients before Socket.IO 3
            and request_allowed(request, self.origins)
        ):
            link = self.sockets.get(query.get("sid"))
            if isinstance(link, Link) and link.connected and not link.upgraded:
                return await self._post(request, link)
        response: web.StreamResponse = await super().handle_request(request)
        return response

    async def _post(self, request: web.Request, link: Link) -> web.Response:
        """Packets from a long-polling client: however many, up to maxPayload
        bytes in all, as Node's server takes them. A POST the server cannot
        take ends the session as a broken transport: the client reconnects."""
        limit = self.max_http_buffer_size
        body = await _body(request, limit)
        problem = None
        if body is None:
            status, problem = 413, f"Payload over {limit} bytes."
        else:
            try:
                text = body.decode()
            except UnicodeDecodeError:
                status, problem = 400, "Request body is not valid UTF-8."
        if problem is not None:
            log.info(
                "session %s from %s: polling POST refused: %s",
                link.sid,
                link.remote,
                problem,
            )
            await link.close(wait=False, abort=True, reason=self.reason.TRANSPORT_ERROR)
            return self._reply(request, status, problem)
        for encoded in text.split("\x1e") if text else ():
            if link.closed:
                break  # a CLOSE packet, or too many bad ones
            await link._on_frame(encoded)
        return self._reply(request, 200, "ok")

    def _reply(self, request: web.Request, status: int, text: str) -> web.Response:
        """With the CORS headers engineio would give it."""
        environ = self._async["translate_request"](request)
        headers = dict(self._cors_headers(environ))
        return web.Response(status=status, text=text, headers=headers)

    async def _accepted(self, link: Link, environ: dict[str, Any]) -> bool:
        accepted = await self._trigger_event("connect", link.sid, environ)
        if accepted is not None and accepted is not True:
            del self.sockets[link.sid]
            return False
        if link.refused is not None:
            # Told why at its Socket.IO CONNECT, then ended whatever it does.
            end = link.close
            link._set_timer(REFUSED_GRACE, lambda: _spawn(end(wait=False, abort=True)))
            return True
        link.start_heartbeat()
        return True

    def _new_link(self, request: web.Request, transport: str = "websocket") -> Link:
        """A registered session with its OPEN packet queued."""
        sid = self.generate_id()
        link = Link(self, sid)
        link.remote = proxies.of(request).client(request)
        link.hold(self.connections)
        self.sockets[sid] = link
        interval = self.ping_interval + self.ping_interval_grace_period
        opening = {
            "sid": sid,
            "upgrades": self._upgrades(sid, transport),
            "pingTimeout": int(self.ping_timeout * 1000),
            "pingInterval": int(interval * 1000),
            "maxPayload": self.max_http_buffer_size,
        }
        link.put([eio_packet.Packet(eio_packet.OPEN, opening)])
        return link

    async def _handle_connect(
        self, environ: dict[str, Any], transport: str, jsonp_index: int | None = None
    ) -> Any:
        """A new long-polling session (WebSocket ones start in handle_request)."""
        if transport != "polling":
            return self._bad_request("Invalid websocket upgrade")
        link = self._new_link(environ["aiohttp.request"], transport)
        if not await self._accepted(link, environ):
            return self._unauthorized()
        link.connected = True
        try:
            return self._ok(await link.poll(), jsonp_index=jsonp_index)
        except eio_exceptions.QueueEmpty:
            return self._bad_request()


async def _body(request: web.Request, limit: int) -> bytes | None:
    """The request's body; None as soon as it is known to be over ``limit``."""
    if (request.content_length or 0) > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class ChatServer(socketio.AsyncServer):  # type: ignore[misc]
    eio: Engine
    gates: dict[str, Callable[[Any], bool]]
    """Per namespace: does this CONNECT's auth get in? Checked before the
    server's ``always_connect``, so a refusal is a CONNECT_ERROR, not a
    CONNECT followed by a DISCONNECT (the Admin UI's /admin)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gates = {}

    recovery: handshake.Sessions | None = None
    """Connection-state recovery, when on (see :mod:`events.handshake`)."""

    def _engineio_server_class(self) -> type[Engine]:
        return Engine

    def end_all(self, code: WSCloseCode) -> list[asyncio.Task[None]]:
        """End every session so that each client reconnects by itself (see
        :meth:`Link.end`); the tasks doing it."""
        links = [s for s in self.eio.sockets.values() if isinstance(s, Link)]
        return [asyncio.create_task(link.end(code)) for link in links]

    def said_goodbye(self, sid: str) -> bool:
        """In a disconnect handler: the client sent a Socket.IO DISCONNECT,
        rather than losing (or closing) its transport."""
        eio_sid = self.manager.eio_sid_from_sid(sid, NAMESPACE)
        link = self.eio.sockets.get(eio_sid) if eio_sid is not None else None
        return isinstance(link, Link) and link.goodbye

    def link(self, sid: str, namespace: str = NAMESPACE) -> Link | None:
        """The live Engine.IO session behind Socket.IO ``sid``, if any."""
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace)
        link = self.eio.sockets.get(eio_sid) if eio_sid is not None else None
        if not isinstance(link, Link) or link.closing or link.closed:
            return None
        return link

    async def _handle_connect(
        self, eio_sid: str, namespace: str | None, data: Any
    ) -> None:
        link = self.eio.sockets.get(eio_sid)
        refused = link.refused if isinstance(link, Link) else None
        gate = self.gates.get(namespace or NAMESPACE) if self.gates else None
        if refused is None and gate is not None and not gate(data):
            refused = {"message": "invalid credentials"}
        if refused is None:
            recovery = self.recovery
            if recovery is not None and (namespace or NAMESPACE) == NAMESPACE:
                await handshake.connect(self, eio_sid, data, recovery)
            else:
                await super()._handle_connect(eio_sid, namespace, data)
            return
        error = sio_packet.Packet(
            sio_packet.CONNECT_ERROR, refused, namespace=namespace or NAMESPACE
        )
        await self._send_packet(eio_sid, error)
        if not isinstance(link, Link) or link.refused is None:
            return  # a wrong password: the session stays, to try again
        if link.outlet is not None:  # after the error: frames keep their order
            link.outlet.close(WSCloseCode.TRY_AGAIN_LATER, "too many connections")

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> None:
        # python-socketio keeps the environ for the session's life; nothing
        # here reads it (the address is on the Link), so keep none.
        await super()._handle_eio_connect(eio_sid, _NO_ENVIRON)

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        if isinstance(data, bytes) or data[:1] in ("5", "6"):
            problem = "Binary events are not supported; send JSON."
        else:
            try:
                await super()._handle_eio_message(eio_sid, data)
                return
            except Exception as exc:
                problem = (
                    UNPAIRED_SURROGATE
                    if unpaired_surrogate(exc)
                    else "Malformed Socket.IO packet."
                )
        link = self.eio.sockets.get(eio_sid)
        if isinstance(link, Link):
            link.strike(problem)

    async def _handle_event_internal(
        self,
        server: socketio.AsyncServer,
        sid: str,
        eio_sid: str,
        data: Any,
        namespace: str,
        id: int | None,
    ) -> None:
        token = _ack_requested.set(id is not None)
        try:
            await super()._handle_event_internal(
                server, sid, eio_sid, data, namespace, id
            )
        finally:
            _ack_requested.reset(token)
