"""Socket.IO packets as text: orjson for python-socketio, and our own encoder.

python-socketio wants a JSON module with ``dumps``/``loads`` on strings. The
broadcast path encodes its packets itself, once per broadcast: a Socket.IO
EVENT in the default namespace is ``2`` followed by ``[event, data]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from engineio import packet as eio_packet

from plumbing.ws_frames import BINARY, frame


class OrjsonCodec:
    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


def event_text(event: str, data: Any, offset: str | None = None) -> str:
    """The Socket.IO EVENT packet for ``event`` with one argument, no ack;
    with connection-state recovery, the stream ``offset`` as a last one."""
    if offset is None:
        return "2" + orjson.dumps([event, data]).decode()
    return "2" + orjson.dumps([event, data, offset]).decode()


def message_packet(text: str) -> eio_packet.Packet:
    """An Engine.IO MESSAGE carrying Socket.IO packet ``text``."""
    return eio_packet.Packet(eio_packet.MESSAGE, text)


def frames(packets: Sequence[eio_packet.Packet]) -> bytes:
    """The WebSocket frames for ``packets``, one per packet, back to back."""
    out = []
    for pkt in packets:
        encoded = pkt.encode()
        if isinstance(encoded, str):
            out.append(frame(encoded.encode()))
        else:
            out.append(frame(encoded, BINARY))
    return b"".join(out)
