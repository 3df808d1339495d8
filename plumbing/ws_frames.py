"""WebSocket frames written straight to a connection's transport.

A broadcast frames its payload once and writes the same bytes to every
recipient: no task, queue or timeout per recipient. What the peer has not
taken waits in the kernel's send queue and then in the transport's buffer;
:class:`Outlet` bounds the two together, so a reader that stops reading is
dropped instead of holding memory. Both WebSocket doors (Socket.IO and
plain) write through it.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import struct
import termios
from collections.abc import Callable

log = logging.getLogger(__name__)

CONTINUATION = 0x0
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA
TOO_SLOW = 1008
"""Close code for a reader dropped for falling behind (policy violation)."""
DROP_GRACE = 1.0
"""Seconds a dropped reader has to read its close frame before the
connection is aborted and its buffer freed."""


def frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One unmasked, unfragmented frame, as a server sends it (RFC 6455 5.2)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


def close_frame(code: int, reason: str) -> bytes:
    return frame(struct.pack("!H", code) + reason.encode()[:120], CLOSE)


def _kernel_unsent(fd: int) -> int:
    """Bytes in the socket's send queue that the peer has not acknowledged.

    The kernel grows a send buffer to megabytes by itself, so the
    transport's own buffer alone says nothing until those are full.
    """
    if fd < 0:
        return 0
    try:
        return int.from_bytes(fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0" * 4), "little")
    except OSError:
        return 0


class Outlet:
    """One connection's way out, with a bound on what it may leave unsent.

    ``write`` never blocks and never raises. Once more than ``limit`` bytes
    are unsent (in the kernel and in the transport together, measured each
    time another eighth of the limit has been written, and at heartbeats),
    the connection is dropped: told why in a close frame (1008), logged
    once, and aborted after :data:`DROP_GRACE`, which frees its buffers.

    A *bulk* write (history or catch-up, which may be larger than the bound)
    is always accepted and raises the bound by its own size until it has
    drained, so catching up never counts as being slow.
    """

    __slots__ = (
        "_transport",
        "_fd",
        "_limit",
        "_allowance",
        "_unmeasured",
        "name",
        "dropped",
        "_on_drop",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        limit: int,
        name: str,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        self._transport = transport
        sock = transport.get_extra_info("socket")
        self._fd: int = sock.fileno() if sock is not None else -1
        self._limit = limit
        self._allowance = limit
        self._unmeasured = 0
        self.name = name
        self.dropped = False
        self._on_drop = on_drop

    @property
    def closing(self) -> bool:
        return self.dropped or self._transport.is_closing()

    def unsent(self) -> int:
        """Bytes written that the peer has not taken yet."""
        return self._transport.get_write_buffer_size() + _kernel_unsent(self._fd)

    def write(self, data: bytes, *, bulk: bool = False) -> None:
        if self.closing:
            return
        if bulk:
            self._transport.write(data)
            self._allowance = max(self._limit, self.unsent() + self._limit)
            self._unmeasured = 0
            return
        self._unmeasured += len(data)
        if self._unmeasured > self._limit >> 3 and not self.check():
            return
        self._transport.write(data)

    def check(self) -> bool:
        """Measure what is unsent; drop the connection if it is over the bound.

        Called every eighth of the limit written, and by heartbeats, so a
        reader that stopped is caught even once the room has gone quiet.
        """
        if self.closing:
            return False
        self._unmeasured = 0
        unsent = self.unsent()
        if unsent <= self._limit:
            self._allowance = self._limit
        elif unsent > self._allowance:
            self._drop(unsent)
            return False
        return True

    def close(self, code: int, reason: str) -> None:
        """Say goodbye with a close frame and end our half of the connection;
        the client's close (or its end) closes it, or DROP_GRACE later it is
        aborted. Closing at once would reset a connection with bytes still
        unread (a client in mid-send), and the reset can lose the close
        frame."""
        if self.closing:
            return
        transport = self._transport
        transport.write(close_frame(code, reason))
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        asyncio.get_running_loop().call_later(DROP_GRACE, transport.abort)

    def abort(self) -> None:
        self.dropped = True
        self._transport.abort()

    def _drop(self, unsent: int) -> None:
        self.dropped = True
        if self._on_drop is not None:
            self._on_drop()
        log.warning(
            "dropping %s: %d bytes unsent (limit %d); it can reconnect and catch up",
            self.name,
            unsent,
            self._limit,
        )
        self._transport.write(close_frame(TOO_SLOW, "too slow: reconnect to catch up"))
        asyncio.get_running_loop().call_later(DROP_GRACE, self._transport.abort)
