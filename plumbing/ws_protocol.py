"""A WebSocket connection served by the listener itself, after its upgrade.

aiohttp serves a WebSocket as a request whose handler stays parked in
``receive()`` for the connection's whole life: a request, its handler,
parser, reader queue and two tasks, about 10 KB a connection. Here the
connection is this protocol, a :class:`~plumbing.ws_reader.FrameReader`
and whatever :class:`Peer` takes its messages; nothing waits while it is
idle. Pings are answered and the closing handshake done here; messages go
to the peer.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

from plumbing.ws_frames import BINARY, CLOSE, PING, PONG, TEXT, close_frame, frame
from plumbing.ws_reader import FrameError, FrameReader

NORMAL = 1000


class Peer(Protocol):
    """What a connection's messages go to."""

    def opened(self, transport: asyncio.Transport) -> None:
        """The connection is this peer's (the upgrade's answer is its to write)."""

    def message(self, data: str | bytes) -> None: ...

    def lost(self, transport: asyncio.Transport) -> None:
        """``transport`` ended, however it did."""


class WebSocket(asyncio.Protocol):
    __slots__ = ("_peer", "_reader", "_transport")

    def __init__(self, peer: Peer, max_size: int) -> None:
        self._peer = peer
        self._reader = FrameReader(max_size)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        self._peer.opened(self._transport)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        try:
            messages = self._reader.feed(data)
        except FrameError as exc:
            self._close(exc.code, exc.reason)
            return
        for message in messages:
            opcode = message.opcode
            if opcode == TEXT or opcode == BINARY:
                self._peer.message(message.data)
            elif opcode == PING:
                assert isinstance(message.data, bytes)
                self._write(frame(message.data, PONG))
            elif opcode == CLOSE:
                code = message.code
                self._close(NORMAL if code in (1005, 1006) else code, "")

    def _close(self, code: int, reason: str) -> None:
        """Answer or start the closing handshake, then close the transport."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._write(close_frame(code, reason))
            transport.close()

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        try:
            transport.write(data)
        except RuntimeError:
            pass  # our half is closed (Outlet.close): this answers our close

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._reader.closed = True
        if self._transport is not None:
            self._peer.lost(self._transport)
