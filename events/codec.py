"""Socket.IO packets as text: orjson for python-socketio, and our own encoder.

python-socketio wants a JSON module with ``dumps``/``loads`` on strings. The
broadcast path encodes its packets itself, once per broadcast: a Socket.IO
EVENT in the default namespace is ``2`` followed by ``[event, data]``.
"""

from __future__ import annotations

from typing import Any

import orjson


class OrjsonCodec:
    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return orjson.loads(text)


def event_text(event: str, data: Any) -> str:
    """The Socket.IO EVENT packet for ``event`` with one argument, no ack."""
    return "2" + orjson.dumps([event, data]).decode()
