"""orjson as the Socket.IO JSON module (it wants ``dumps``/``loads`` on strings)."""

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
