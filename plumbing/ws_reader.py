"""WebSocket frames read from a client, incrementally (RFC 6455 5).

For connections the listener serves itself after their upgrade
(:mod:`plumbing.upgrade`): a session then costs a few objects instead of
an HTTP request handler, a reader queue and a task parked on it. No
extension is negotiated, so any RSV bit is an error; a client's frames
must be masked.
"""

from __future__ import annotations

from dataclasses import dataclass

from plumbing.ws_frames import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT

_DATA = (CONTINUATION, TEXT, BINARY)
_CONTROL = (CLOSE, PING, PONG)

PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
TOO_BIG = 1009


class FrameError(Exception):
    """The client broke the protocol: close with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """A whole message (``TEXT``: str, ``BINARY``: bytes) or a control frame
    (``PING``, ``PONG``: bytes; ``CLOSE``: its code, 1005 if none)."""

    opcode: int
    data: str | bytes
    code: int = 0


def unmask(key: bytes, data: bytes | bytearray) -> bytes:
    """XOR with the 4-byte key, as one integer operation (no byte loop)."""
    size = len(data)
    if not size:
        return b""
    pad = (key * (size // 4 + 1))[:size]
    value = int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")
    return value.to_bytes(size, "little")


class FrameReader:
    """Feed it bytes as they arrive; it returns the messages they complete."""

    __slots__ = ("_buffer", "_max_size", "_parts", "_opcode", "_size", "closed")

    def __init__(self, max_size: int) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._parts: list[bytes] = []
        self._opcode = 0
        """Of the fragmented message under way; 0: none."""
        self._size = 0
        self.closed = False
        """A CLOSE was read: anything after it is ignored."""

    def feed(self, data: bytes) -> list[Message]:
        """Raises :class:`FrameError` when the client breaks the protocol."""
        if self.closed:
            return []
        buffer = self._buffer
        buffer += data
        out: list[Message] = []
        start = 0
        end = len(buffer)
        while end - start >= 2 and not self.closed:
            first, second = buffer[start], buffer[start + 1]
            if first & 0x70:
                raise FrameError(PROTOCOL_ERROR, "Reserved bits set.")
            if not second & 0x80:
                raise FrameError(PROTOCOL_ERROR, "A client's frames must be masked.")
            size = second & 0x7F
            head = 6
            if size == 126:
                head = 8
                if end - start < head:
                    break
                size = int.from_bytes(buffer[start + 2 : start + 4], "big")
            elif size == 127:
                head = 14
                if end - start < head:
                    break
                size = int.from_bytes(buffer[start + 2 : start + 10], "big")
            opcode = first & 0x0F
            self._check(opcode, bool(first & 0x80), size)
            if end - start < head + size:
                break
            key = bytes(buffer[start + head - 4 : start + head])
            payload = unmask(key, buffer[start + head : start + head + size])
            start += head + size
            message = self._frame(opcode, bool(first & 0x80), payload)
            if message is not None:
                out.append(message)
        del buffer[:start]
        return out

    def _check(self, opcode: int, fin: bool, size: int) -> None:
        """What the header alone shows wrong, before the payload is buffered."""
        if opcode in _CONTROL:
            if not fin or size > 125:
                raise FrameError(PROTOCOL_ERROR, "Bad control frame.")
        elif opcode not in _DATA:
            raise FrameError(PROTOCOL_ERROR, f"Unknown opcode {opcode}.")
        elif (opcode == CONTINUATION) != bool(self._opcode):
            raise FrameError(PROTOCOL_ERROR, "Fragments out of order.")
        elif self._size + size > self._max_size:
            raise FrameError(TOO_BIG, f"Message over {self._max_size} bytes.")

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> Message | None:
        if opcode == CLOSE:
            self.closed = True
            return _close(payload)
        if opcode in (PING, PONG):
            return Message(opcode, payload)
        if opcode != CONTINUATION:
            self._opcode = opcode
        if not fin:
            self._parts.append(payload)
            self._size += len(payload)
            return None
        if self._parts:
            self._parts.append(payload)
            payload = b"".join(self._parts)
            self._parts = []
        opcode, self._opcode, self._size = self._opcode, 0, 0
        if opcode == BINARY:
            return Message(BINARY, payload)
        try:
            return Message(TEXT, payload.decode())
        except UnicodeDecodeError:
            raise FrameError(INVALID_DATA, "Text is not valid UTF-8.") from None


def _close(payload: bytes) -> Message:
    if not payload:
        return Message(CLOSE, b"", 1005)
    if len(payload) < 2:
        raise FrameError(PROTOCOL_ERROR, "Bad close frame.")
    return Message(CLOSE, payload[2:], int.from_bytes(payload[:2], "big"))
