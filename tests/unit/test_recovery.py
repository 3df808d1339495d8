"""Sessions kept for another door than Socket.IO are never recovered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from chat.history import StoreFailed
from chat.recovery import Recovery, Session
from chat.resumption import client_key
from store import SQLiteStore


async def test_a_session_kept_for_a_client_id_is_not_recovered_by_pid(
    sqlite_store: Callable[..., Awaitable[SQLiteStore]],
) -> None:
    store = await sqlite_store(":memory:")
    recovery = Recovery(store, 120)
    key = client_key("tab-ann", "lobby", "Ann")
    assert key == client_key("tab-ann", "lobby", "ann")  # names as the room reads them
    assert key != client_key("tab-bob", "lobby", "Ann")
    session = Session(
        pid=key,
        sid="0123abcd",
        room="lobby",
        name="Ann",
        client="tab-ann",
        format="structured",
        epoch=store.epoch,
        delivered=0,
        expires=time.time() + 60,
        door="ws",
    )
    await recovery.keep(session)
    assert session.conn == "ws:0123abcd"
    assert await recovery.take(key, None) is None  # refused, and put back
    assert await recovery.stored() == [session]


async def test_sessions_kept_at_once_share_a_write(
    sqlite_store: Callable[..., Awaitable[SQLiteStore]],
) -> None:
    """A join storm or a mass disconnect: a few writes, not one each."""
    store = await sqlite_store(":memory:")
    writes: list[int] = []
    save = store.save_sessions

    async def counted(rows: Sequence[tuple[str, str, int]]) -> None:
        writes.append(len(rows))
        await save(rows)

    store.save_sessions = counted  # type: ignore[method-assign]
    recovery = Recovery(store, 120)
    sessions = [
        Session(
            f"pid{i}",
            f"sid{i}",
            "lobby",
            f"n{i}",
            None,
            "tutorial",
            store.epoch,
            0,
            time.time() + 60,
        )
        for i in range(200)
    ]
    await asyncio.gather(*(recovery.keep(s) for s in sessions))
    assert sum(writes) == 200 and len(writes) <= 2, writes
    assert sorted(s.pid for s in await recovery.stored()) == sorted(
        s.pid for s in sessions
    )
    await recovery.stop()


async def test_a_failed_write_fails_each_of_its_sessions(
    sqlite_store: Callable[..., Awaitable[SQLiteStore]],
) -> None:
    store = await sqlite_store(":memory:")

    async def broken(rows: Sequence[tuple[str, str, int]]) -> None:
        raise StoreFailed("the disk is full")

    store.save_sessions = broken  # type: ignore[method-assign]
    recovery = Recovery(store, 120)
    session = Session("p", "s", "lobby", None, None, "tutorial", store.epoch, 0, 1e12)
    results = await asyncio.gather(
        recovery.keep(session), recovery.keep(session), return_exceptions=True
    )
    assert all(isinstance(r, StoreFailed) for r in results)
