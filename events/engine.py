"""The Engine.IO server wrapper: it touches python-engineio internals.

The modules that touch python-engineio and python-socketio internals are
this one, :mod:`events.chat_server` (the Socket.IO server),
:mod:`events.link` (the Engine.IO session), :mod:`events.handshake` and
:mod:`events.manager`; each says what it relies on.

Written against python-engineio 4.15.1, pinned exactly in pyproject.toml;
``tests/unit/test_engine.py`` fails loudly when an upgrade changes anything
relied on here:

- ``engineio.AsyncServer.handle_request`` is wrapped: WebSocket sessions
  (new, or upgrading from polling) are served here without engineio's
  environ and wrappers, which a session would hold for its whole life;
  long-polling POSTs are read here too (engineio takes 16 packets a POST
  at most, and leaves an oversized one unanswered), answered with CORS
  headers from ``_cors_headers`` of the driver's ``translate_request``;
- ``engineio.AsyncServer._handle_connect`` (polling) makes :class:`Link`s;
- ``engineio.AsyncServer.generate_id`` is replaced (python-socketio calls it
  for its ids too);
- :meth:`Engine.upgrade` is the listener's own way in for WebSockets
  (:mod:`web.listener`); it makes the same :class:`Link`s;
- :class:`~events.link.Link` is the session (its docstring lists what it
  relies on).

Why sessions are served by our own :class:`~events.link.Link`: see its module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import engineio
from aiohttp import WSMsgType, web
from engineio import exceptions as eio_exceptions, packet as eio_packet

from chat.bounds import PerAddress
from chat.tokens import token
from events.link import Link, spawn
from events.traffic import Traffic
from plumbing import proxies
from plumbing.origin import Allowed, environ_rule, origin_allowed, request_allowed
from plumbing.proxies import TrustedProxies
from plumbing.upgrade import Head
from plumbing.ws_protocol import WebSocket

log = logging.getLogger(__name__)
PATH = "/socket.io/"
"""Where python-socketio's ``attach`` serves Engine.IO."""
REFUSED_GRACE = 2.0
"""Seconds a refused session has to fetch its CONNECT_ERROR before it ends."""


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
        proxies: TrustedProxies | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            monitor_clients=False, cors_allowed_origins=environ_rule(origins), **kwargs
        )
        self.proxies = proxies or TrustedProxies()
        self.max_unsent = max_unsent
        self.origins = origins
        self.on_drop = on_drop
        """Called for each session dropped as too slow (for /metrics)."""
        self.connections = connections
        """Sessions per client address (``--max-connections-per-address``)."""
        self.traffic: Traffic | None = None
        """While an Admin UI watches: what its charts count."""

    def generate_id(self) -> str:
        """engineio's, without a system call for each (see chat.tokens)."""
        return token(15)

    def upgrade(self, head: Head) -> WebSocket | None:
        """The listener's way in (:mod:`plumbing.upgrade`): a WebSocket
        session it serves itself, new or upgrading from polling. None: for
        aiohttp and :meth:`handle_request` to answer (anything unusual)."""
        query = head.query
        if head.path != PATH or query.get("transport") != "websocket":
            return None
        headers = head.headers
        own = self.proxies.origin_of(head.peer, headers, "http", headers["Host"])
        if not origin_allowed(headers.get("Origin"), self.origins, own):
            return None
        sid = query.get("sid")
        if sid is None:
            if query.get("EIO") != "4":
                return None
            remote = self.proxies.client_of(head.peer, headers)
            return self._new_link(remote).websocket(head.key)
        polling = self._polling(sid)
        return polling.websocket(head.key, upgrade=True) if polling else None

    def _polling(self, sid: str | None) -> Link | None:
        """The long-polling session ``sid`` names, if it is one."""
        link = self.sockets.get(sid)
        if isinstance(link, Link) and link.connected and not link.upgraded:
            return link
        return None

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
                new = self._new_link(proxies.of(request).client(request))
                if not await self.accepted(new):
                    return web.Response(status=401, text="connection refused")
                return await self.serve(new, request)
            polling = self._polling(sid)
            if polling is not None:
                return await self.serve(polling, request, upgrade=True)
        elif (
            request.method == "POST"
            and "j" not in query  # JSONP, from clients before Socket.IO 3
            and request_allowed(request, self.origins)
        ):
            polling = self._polling(query.get("sid"))
            if polling is not None:
                return await self._post(request, polling)
        response: web.StreamResponse = await super().handle_request(request)
        return response

    async def serve(
        self, link: Link, request: web.Request, *, upgrade: bool = False
    ) -> web.WebSocketResponse:
        """Serve ``link`` over aiohttp's WebSocket: for an app that is not
        served by :mod:`web.listener` (which serves it without aiohttp)."""
        # No permessage-deflate: for short chat lines compressing costs more
        # CPU than all the rest of a broadcast (the Node.js server's default).
        sock = web.WebSocketResponse(
            compress=False, max_msg_size=self.max_http_buffer_size
        )
        await sock.prepare(request)
        transport = request.transport
        assert transport is not None  # prepared just now
        link.wire = transport
        link.serving(upgrade)
        if not upgrade:
            link.attach(transport)
        try:
            while True:
                msg = await sock.receive()
                if msg.type is not WSMsgType.TEXT and msg.type is not WSMsgType.BINARY:
                    break
                link.message(msg.data)
        finally:
            link.lost(transport)
        return sock

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

    async def accepted(self, link: Link, environ: dict[str, Any] | None = None) -> bool:
        """Whether the connect handlers let a new session in."""
        accepted = await self._trigger_event("connect", link.sid, environ or {})
        if accepted is not None and accepted is not True:
            del self.sockets[link.sid]
            return False
        if link.refused is not None:
            # Told why at its Socket.IO CONNECT, then ended whatever it does.
            end = link.close
            link._set_timer(REFUSED_GRACE, lambda: spawn(end(wait=False, abort=True)))
            return True
        link.start_heartbeat()
        return True

    def _new_link(self, remote: str, transport: str = "websocket") -> Link:
        """A registered session from ``remote`` with its OPEN packet queued."""
        sid = self.generate_id()
        link = Link(self, sid)
        link.remote = remote
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
        request = environ["aiohttp.request"]
        link = self._new_link(proxies.of(request).client(request), transport)
        if not await self.accepted(link, environ):
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
