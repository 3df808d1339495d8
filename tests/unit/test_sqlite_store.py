from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from chat.history import StoreFailed
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


async def test_commits_are_durable_wal_and_fully_synced(
    tmp_path: Path, sqlite_store: OpenStore
) -> None:
    """On the connection that commits, not on a new one: synchronous is a
    setting of each connection, journal_mode one of the file."""
    store = await sqlite_store(tmp_path / "chat.db")
    await store.append_many([msg("a", "1")])
    db = store._db  # type: ignore[attr-defined]
    async with db.execute("PRAGMA synchronous") as cursor:
        assert await cursor.fetchone() == (2,)  # FULL
    async with db.execute("PRAGMA journal_mode") as cursor:
        assert await cursor.fetchone() == ("wal",)


async def test_one_file_serves_one_store_at_a_time(
    tmp_path: Path, sqlite_store: OpenStore
) -> None:
    path = tmp_path / "chat.db"
    first = await sqlite_store(path)
    await first.append_many([msg("a", "1")])
    with pytest.raises(StoreFailed, match="in use by another server process"):
        await sqlite_store(path)
    await first.close()
    again = await sqlite_store(path)  # free once closed
    (second,) = await again.append_many([msg("a", "2")])
    assert second.id == 2
    # Nothing to share in memory.
    await sqlite_store(":memory:")
    await sqlite_store(":memory:")


async def test_last_ids_kept_for_a_bounded_number_of_rooms(
    tmp_path: Path, sqlite_store: OpenStore
) -> None:
    store = await sqlite_store(tmp_path / "chat.db", cap=2, rooms_cached=3)
    rooms = [f"r{i}" for i in range(10)]
    for round_ in range(1, 4):  # each room forgotten between its own posts
        stored = await store.append_many([msg(room, str(round_)) for room in rooms])
        assert [m.id for m in stored] == [round_] * len(rooms)
        assert len(store._last) <= 3  # type: ignore[attr-defined]
    assert [await store.last_id(room) for room in rooms] == [3] * len(rooms)
    assert len(store._last) <= 3  # type: ignore[attr-defined]
    assert await store.last_id("never") == 0
    # One group posting twice to a forgotten room, and ids survive pruning.
    stored = await store.append_many([msg("r0", "x"), msg("r1", "y"), msg("r0", "z")])
    assert [(m.room, m.id) for m in stored] == [("r0", 4), ("r1", 4), ("r0", 5)]
    # --room-cap applies to every room, not only those in memory.
    assert await store.prune(now_ms=0) == 3 + 2 + 8 * 1
    assert [m.id for m in await store.recent("r9", 10)] == [2, 3]
    (after_prune,) = await store.append_many([msg("r5", "again")])
    assert after_prune.id == 4
