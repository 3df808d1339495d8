"""One body of tests for every history store: SQLite, and Redis Streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from chat.history import HistoryStore
from cluster.connection import connect
from cluster.history import RedisStore
from store.sqlite import SQLiteStore
from tests.redis_server import RedisServer
from tests.stores import DAY_MS, msg


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def opener(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_store: Callable[..., Awaitable[SQLiteStore]],
) -> AsyncIterator:
    """Opens stores of one kind that share one database."""
    opened: list[HistoryStore] = []
    clients: list[Any] = []
    server = None
    if request.param == "redis":
        server = RedisServer(tmp_path)
        await server.start()

    async def open_store(days: float = 0, cap: int = 0) -> HistoryStore:
        if server is None:
            return await sqlite_store(tmp_path / "chat.db", days, cap)
        clients.append(connect(server.url))
        store = RedisStore(clients[-1], "test", retention_days=days, room_cap=cap)
        await store.open()
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()
    for client in clients:
        await client.aclose()
    if server is not None:
        server.stop()


async def test_ids_count_per_room_and_reads_have_bounds(opener) -> None:
    store = await opener()
    stored = await store.append_many([msg("a", "1"), msg("b", "1"), msg("a", "2")])
    assert [(m.room, m.id) for m in stored] == [("a", 1), ("b", 1), ("a", 2)]
    (third,) = await store.append_many([msg("a", "3")])
    assert third.id == 3 and await store.last_id("a") == 3
    assert await store.last_id("nobody") == 0
    assert [m.text for m in await store.recent("a", 2)] == ["2", "3"]
    assert [m.text for m in await store.recent("a", 2, upto=2)] == ["1", "2"]
    assert [m.id for m in await store.after("a", 1, 10)] == [2, 3]
    assert [m.id for m in await store.after("a", 1, 1)] == [2]
    assert [m.id for m in await store.after("a", 0, 10, upto=2)] == [1, 2]
    assert (await store.recent("b", 5))[0].name == "bob"
    # Another handle on the same database sees the same ids and epoch. (One
    # SQLite file serves one process at a time: it is closed first.)
    if isinstance(store, SQLiteStore):
        await store.close()
    again = await opener()
    assert again.epoch == store.epoch and len(store.epoch) == 16
    assert await again.last_id("a") == 3


async def test_pages_before_an_id_reach_back_to_the_first(opener) -> None:
    store = await opener()
    await store.append_many([msg("a", str(i)) for i in range(1, 8)])
    await store.append_many([msg("b", "other room")])
    assert [m.id for m in await store.before("a", 8, 3)] == [5, 6, 7]
    assert [m.id for m in await store.before("a", 5, 3)] == [2, 3, 4]
    assert [m.id for m in await store.before("a", 2, 3)] == [1]
    assert await store.before("a", 1, 3) == []
    assert await store.before("a", 0, 3) == []
    assert [m.text for m in await store.before("a", 100, 2)] == ["6", "7"]
    assert [m.room for m in await store.before("b", 100, 10)] == ["b"]
    assert await store.before("nobody", 100, 10) == []


async def test_text_comes_back_as_it_went_in(opener) -> None:
    store = await opener()
    texts = ["你好", "👩‍💻 ok", 'quote " and \\ back', "line\nbreak", "x" * 2000]
    await store.append_many([msg("r", t) for t in texts])
    assert [m.text for m in await store.recent("r", 10)] == texts


async def test_retention_by_age_never_reuses_ids(opener) -> None:
    store = await opener(days=1)
    old = [msg("a", f"old{i}", ts=0) for i in range(2)]
    new = [msg("a", f"new{i}", ts=10 * DAY_MS) for i in range(4)]
    await store.append_many(old + new)
    assert await store.prune(now_ms=10 * DAY_MS + 1) == 2
    assert [m.text for m in await store.recent("a", 10)] == [
        f"new{i}" for i in range(4)
    ]
    await store.prune(now_ms=100 * DAY_MS)
    assert await store.recent("a", 10) == []
    (next_msg,) = await store.append_many([msg("a", "again", ts=100 * DAY_MS)])
    assert next_msg.id == 7


async def test_a_session_is_taken_once_and_not_after_it_expires(opener) -> None:
    """Connection-state recovery's sessions (chat/recovery.py)."""
    store = await opener()
    far = int(time.time() * 1000) + 60_000
    soon = int(time.time() * 1000) + 50
    await store.save_sessions([("p1", '{"a": 1}', far), ("p2", '{"b": 2}', soon)])
    if isinstance(store, SQLiteStore):
        assert await store.sessions(0) == ['{"a": 1}', '{"b": 2}']
    takes = await asyncio.gather(*(store.take_session("p1", 0) for _ in range(5)))
    assert [t for t in takes if t is not None] == ['{"a": 1}']  # one winner
    await asyncio.sleep(0.2)
    assert await store.take_session("p2", int(time.time() * 1000)) is None
    assert await store.take_session("unknown", 0) is None
