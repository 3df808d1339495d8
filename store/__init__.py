"""History stores behind one narrow interface, picked from a URL."""

from __future__ import annotations

from store.base import HistoryStore, StoreFailed, make_store

__all__ = ["HistoryStore", "StoreFailed", "make_store"]
