"""Shared by the store tests (unit/test_sqlite_store, integration/test_stores)."""

from __future__ import annotations

from chat.models import NewMessage

DAY_MS = 86_400_000


def msg(room: str, text: str, ts: int = 1_000) -> NewMessage:
    return NewMessage(room, "bob", text, ts)
