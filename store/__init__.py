"""History stores behind one narrow interface: SQLite (``--db``), or Redis
Streams when scaled out (``--redis-url``, see :mod:`cluster.node`)."""

from __future__ import annotations

from store.base import HistoryStore, StoreFailed, make_store

__all__ = ["HistoryStore", "StoreFailed", "make_store"]
