"""One lock per key, held only while someone uses it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class KeyedLock:
    """Serializes work per key (a connection) without keeping a lock per key
    forever: an entry lives while someone holds or waits for it."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._entries[key]

    def busy(self, key: str) -> bool:
        """Someone holds or waits for ``key`` now."""
        return key in self._entries
