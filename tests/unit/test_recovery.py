"""Sessions kept for another door than Socket.IO are never recovered."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

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
