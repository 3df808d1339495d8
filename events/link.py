"""One Engine.IO session (:class:`Link`): it touches python-engineio internals.

Written against python-engineio 4.15.1 (pinned; ``tests/unit/test_engine.py``
fingerprints what is relied on here). :class:`Link` subclasses
``engineio.async_socket.AsyncSocket``: it overrides ``send``, ``poll``,
``close`` and ``schedule_ping``, calls ``receive``, and reads the server's
``max_unsent``, ``ping_interval``, ``ping_timeout``, ``reason``,
``sockets`` and ``_trigger_event``. A poll that gets ``None`` from the queue
of a closed session raises ``QueueEmpty``, which engineio's
``handle_request`` answers with 400. A Socket.IO DISCONNECT is noted as the
frame arrives (:meth:`Link._on_frame`): python-socketio handles it in a task
of its own, which the transport's close that follows can overtake.

Why: engineio gives each WebSocket session a writer task and a queue, a
task per heartbeat and a ``wait_for`` per received frame, and its ``send``
raises for a session that timed out, which ends a broadcast loop. A
:class:`Link` writes straight to the transport through an
:class:`~plumbing.ws_frames.Outlet`, keeps one timer for its heartbeat, and never
raises on send. An idle session is one task with a short chain of frames.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from aiohttp import WSCloseCode
from engineio import exceptions as eio_exceptions, packet as eio_packet
from engineio.async_socket import AsyncSocket

from chat.bounds import PerAddress
from events.codec import event_text, frames, message_packet
from plumbing.upgrade import accept, refusal
from plumbing.ws_frames import Outlet, frame
from plumbing.ws_protocol import WebSocket

log = logging.getLogger(__name__)
MAX_STRIKES = 10
INBOX = 64
"""Messages a client may be ahead of their handling before its connection
stops being read (until they are handled)."""
"""Malformed packets a connection may send before it is disconnected."""
_PING = eio_packet.Packet(eio_packet.PING)
_CLOSE = eio_packet.Packet(eio_packet.CLOSE)
_tasks: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


class Link(AsyncSocket):  # type: ignore[misc]
    """One Engine.IO session.

    Over WebSocket, packets are framed and written straight to the transport.
    Before the upgrade and for long-polling they wait in engineio's queue, as
    usual, so the order a client sees never changes.
    """

    # Set by engineio's BaseSocket; declared for mypy (engineio is untyped).
    server: Any  # the Engine (events/engine.py) that made it
    sid: str
    queue: Any
    connected: bool
    upgrading: bool
    upgraded: bool
    closing: bool
    closed: bool

    def __init__(self, server: Any, sid: str) -> None:
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
        self.wire: asyncio.Transport | None = None
        """The WebSocket connection serving (or upgrading) this session."""
        self._key = ""
        self._probed = False
        self._inbox: collections.deque[str | bytes] | None = None
        """Messages not handled yet; None while there are none."""

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
        self.tell([pkt])

    def tell(self, packets: Sequence[eio_packet.Packet], *, bulk: bool = False) -> None:
        """:meth:`put` to this one client, counted for the Admin UI while
        one watches (a broadcast counts its recipients at once instead)."""
        traffic = self.server.traffic
        if traffic is None:
            self.put(packets, bulk=bulk)
            return
        data = frames(packets)
        traffic.sent(len(packets), len(data))
        self.put(packets, data, bulk=bulk)

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
                spawn(self.close(wait=False, abort=True, reason="too slow"))

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
            spawn(self.close(wait=False, abort=True, reason=self._end_reason))

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
        self.tell([message_packet(event_text("chat_error", error))])
        if self._strikes >= MAX_STRIKES:
            log.warning(
                "session %s: %d bad packets; disconnecting", self.sid, MAX_STRIKES
            )
            if self.outlet is not None:
                self.outlet.close(WSCloseCode.POLICY_VIOLATION, "too many bad packets")
            else:
                spawn(self.close(wait=False, reason="bad packets"))

    # Served as a WebSocket, by the listener itself (this link is the
    # connection's plumbing.ws_protocol.Peer) or by aiohttp (Engine.serve).

    def websocket(self, key: str, *, upgrade: bool = False) -> WebSocket:
        """The connection for the listener to serve, answering ``key``."""
        self._key = key
        self.serving(upgrade)
        return WebSocket(self, self.server.max_http_buffer_size)

    def serving(self, upgrade: bool) -> None:
        """A WebSocket for this session: a new one, or one probing to take
        over from polling (a failed probe may be tried again)."""
        self.upgrading = upgrade
        self._probed = False

    def opened(self, transport: asyncio.Transport) -> None:
        self.wire = transport
        if self.upgrading:
            transport.write(accept(self._key))
        else:
            spawn(self._open(transport))

    async def _open(self, transport: asyncio.Transport) -> None:
        """A new session: answered once the connect handlers let it in."""
        accepted = await self.server.accepted(self)
        if transport.is_closing():
            return  # the client went meanwhile (see lost)
        if not accepted:
            self.wire = None
            transport.write(refusal("401 Unauthorized", b"connection refused"))
            transport.close()
            return
        self.attach(transport, accept(self._key))

    def message(self, data: str | bytes) -> None:
        """A message, handled in the order received."""
        if self.upgrading:
            self._probe(data)
            return
        if not self.connected:
            return  # before its handshake's answer: a client that cannot wait
        inbox = self._inbox
        if inbox is None:
            if data == "3":  # PONG, every heartbeat: what receive() does, sooner
                self.schedule_ping()
                return
            self._inbox = collections.deque((data,))
            spawn(self._drain())
            return
        inbox.append(data)
        if len(inbox) == INBOX and self.wire is not None:
            self.wire.pause_reading()  # the client is ahead of us: let TCP wait

    async def _drain(self) -> None:
        inbox = self._inbox
        assert inbox is not None
        try:
            while inbox:
                await self._on_frame(inbox.popleft())
        finally:
            self._inbox = None
            wire = self.wire
            if wire is not None and not wire.is_closing():
                wire.resume_reading()

    def lost(self, transport: asyncio.Transport) -> None:
        if transport is not self.wire:
            return
        if self.upgrading:  # a failed upgrade: polling goes on
            self.upgrading = False
            self.wire = None
            return
        reason = self._end_reason or self.server.reason.TRANSPORT_CLOSE
        spawn(self.close(wait=False, abort=True, reason=reason))

    def _probe(self, data: str | bytes) -> None:
        """A polling session moving to WebSocket: PING "probe", PONG "probe",
        UPGRADE; until then packets keep going to the pending poll."""
        wire = self.wire
        assert wire is not None
        if data == "2probe" and not self._probed:
            self._probed = True
            wire.write(frame(b"3probe"))
            self.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))  # ends a poll
        elif data == "5" and self._probed and not self.closed:
            self.upgrading = False
            self.attach(wire)
        else:
            wire.close()

    def attach(self, transport: asyncio.Transport, head: bytes = b"") -> None:
        """The session is served over the WebSocket ``transport`` from now on,
        written to straight; what was queued first (after ``head``: the
        upgrade's answer, in the same write)."""
        self.connected = self.upgraded = True
        waiting = []
        while not self.queue.empty():
            pkt = self.queue.get_nowait()
            self.queue.task_done()
            if pkt is not None:
                waiting.append(pkt)
        self.outlet = Outlet(
            transport, self.server.max_unsent, self.sid, self.server.on_drop
        )
        data = head + frames(waiting)
        # Bulk (exempt from the bound) only when it is a catch-up, which
        # spares a new session's OPEN the measuring.
        self.outlet.write(data, bulk=len(data) > self.server.max_unsent >> 3)
        self.queue = None  # never used again; its deques cost ~3 KB a session

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
