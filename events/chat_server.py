"""The Socket.IO server wrapper: it touches python-socketio internals.

Written against python-socketio 5.18.1, pinned exactly in pyproject.toml;
``tests/unit/test_engine.py`` fails loudly when an upgrade changes anything
relied on here:

- ``socketio.AsyncServer._handle_event_internal`` is wrapped to learn
  whether the client asked for an ack (python-socketio does not say);
- ``socketio.AsyncServer._handle_eio_message`` is wrapped to answer bad and
  binary packets instead of logging a traceback for each;
- ``socketio.AsyncServer._handle_connect`` answers CONNECT_ERROR for a
  session over ``--max-connections-per-address``, and for a namespace whose
  gate (the Admin UI's password) refuses the CONNECT's auth;
- ``socketio.AsyncServer._handle_connect`` is replaced, for the default
  namespace with recovery on, by :func:`events.handshake.connect` (its
  docstring lists what it uses);
- ``_handle_eio_connect`` keeps no environ; ``manager.eio_sid_from_sid``
  and ``eio.sockets`` find a link.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import WSCloseCode
from socketio import packet as sio_packet

from chat.rules import UNPAIRED_SURROGATE, unpaired_surrogate
from events import handshake
from events.engine import Engine
from events.link import Link

NAMESPACE = "/"
_ack_requested: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ack_requested", default=False
)
_NO_ENVIRON: dict[str, Any] = {}


def ack_requested() -> bool:
    """Whether the event being handled came with an ack id."""
    return _ack_requested.get()


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

    def transports(self) -> dict[str, int]:
        """Open sessions by transport (``websocket``, ``polling``), for /metrics."""
        links = [s for s in self.eio.sockets.values() if isinstance(s, Link)]
        websocket = sum(1 for link in links if link.outlet is not None)
        return {"websocket": websocket, "polling": len(links) - websocket}

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
        traffic = self.eio.traffic
        if traffic is not None:
            traffic.heard(len(data) if isinstance(data, bytes) else len(data.encode()))
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
