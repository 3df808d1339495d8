"""The SQLite history store (``--db``), behind the core's interface
(:class:`chat.history.HistoryStore`); Redis Streams is :mod:`cluster.history`."""

from __future__ import annotations

from config import sqlite_path
from store.sqlite import SQLiteStore


def make_store(url: str, *, retention_days: float, room_cap: int) -> SQLiteStore:
    """A file path, ``sqlite:///relative.db``, ``sqlite:////abs.db`` or ``:memory:``.

    The store is returned unopened; the app opens it in its cleanup context.
    """
    path = sqlite_path(url)
    return SQLiteStore(path, retention_days=retention_days, room_cap=room_cap)


__all__ = ["SQLiteStore", "make_store"]
