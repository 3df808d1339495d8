"""History stores behind one narrow interface, picked from a URL."""

from __future__ import annotations

from store.base import HistoryStore, make_store

__all__ = ["HistoryStore", "make_store"]
