from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from chat.models import NewMessage
from store import make_store
from store.sqlite import SQLiteStore
from tests.stores import DAY_MS, msg

OpenStore = Callable[..., Awaitable[SQLiteStore]]


async def test_ids_count_per_room_and_survive_reopening(
    tmp_path: Path, sqlite_store: OpenStore
) -> None:
    path = str(tmp_path / "chat.db")
    store = await sqlite_store(path)
    stored = await store.append_many([msg("a", "1"), msg("b", "1"), msg("a", "2")])
    assert [(m.room, m.id) for m in stored] == [("a", 1), ("b", 1), ("a", 2)]
    await store.close()

    epoch = store.epoch
    assert epoch
    store = await sqlite_store(path)
    assert store.epoch == epoch  # the same database keeps its epoch
    other = await sqlite_store(str(tmp_path / "other.db"))
    assert other.epoch != epoch
    assert await store.last_id("a") == 2
    assert await store.last_id("nobody") == 0
    (third,) = await store.append_many([msg("a", "3")])
    assert third.id == 3
    assert [m.text for m in await store.recent("a", 2)] == ["2", "3"]
    assert [m.id for m in await store.after("a", 1, 10)] == [2, 3]
    assert [m.id for m in await store.after("a", 1, 1)] == [2]


async def test_retention_by_age_and_cap_never_reuses_ids(
    tmp_path: Path, sqlite_store: OpenStore
) -> None:
    store = await sqlite_store(str(tmp_path / "chat.db"), days=1, cap=3)
    old = [msg("a", f"old{i}", ts=0) for i in range(2)]
    new = [msg("a", f"new{i}", ts=10 * DAY_MS) for i in range(4)]
    await store.append_many(old + new)
    assert await store.prune(now_ms=10 * DAY_MS + 1) == 3  # 2 by age, 1 by cap
    assert [m.text for m in await store.recent("a", 10)] == ["new1", "new2", "new3"]
    await store.prune(now_ms=100 * DAY_MS)
    assert await store.recent("a", 10) == []
    (next_msg,) = await store.append_many([msg("a", "again", ts=100 * DAY_MS)])
    assert next_msg.id == 7


async def test_a_failed_write_changes_nothing(
    tmp_path: Path, sqlite_store: OpenStore
) -> None:
    store = await sqlite_store(str(tmp_path / "chat.db"))
    await store.append_many([msg("a", "kept")])
    with pytest.raises(sqlite3.IntegrityError):
        await store.append_many([msg("a", "x"), NewMessage("a", "bob", None, 1)])  # type: ignore[arg-type]
    assert [m.text for m in await store.recent("a", 10)] == ["kept"]
    (m,) = await store.append_many([msg("a", "next")])
    assert m.id == 2


def test_store_urls(tmp_path: Path) -> None:
    assert isinstance(make_store(":memory:", retention_days=0, room_cap=0), SQLiteStore)
    store = make_store(f"sqlite:///{tmp_path}/x.db", retention_days=0, room_cap=0)
    assert store._path == f"{tmp_path}/x.db"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unsupported"):
        make_store("mongodb://x", retention_days=0, room_cap=0)
