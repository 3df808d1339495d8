"""The last id of the rooms in use, kept in memory up to a bound.

The ``rooms`` table holds every room's last id; this keeps those of the
rooms most recently used, so a post to a busy room reads nothing, while a
server that has seen millions of rooms over the years does not hold them all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

ROOMS_CACHED = 4096
"""Rooms whose last id is kept in memory; others are read from the database."""


class LastIds:
    def __init__(self, size: int = ROOMS_CACHED) -> None:
        self._size = max(1, size)
        self._ids: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, room: str) -> int | None:
        last = self._ids.get(room)
        if last is not None:
            self._ids.move_to_end(room)
        return last

    def update(self, ids: Mapping[str, int]) -> None:
        """Remember ``ids`` (committed), forgetting the least recently used."""
        for room, last in ids.items():
            self._ids[room] = last
            self._ids.move_to_end(room)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)
