"""A Redis that stalls mid-post (``DEBUG SLEEP`` longer than the client's
socket timeout): each line is stored once, and the sender is told the truth."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer

from tests.helpers import ServerFactory, SioClient, url_of
from tests.redis_server import RedisServer
from web.keys import SERVICE

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def stall(redis: RedisServer, seconds: float) -> asyncio.Task[object]:
    """Redis sleeps ``seconds``, starting now, from a connection of its own."""
    admin = redis.client()

    async def sleep() -> object:
        try:
            return await admin.execute_command("DEBUG", "SLEEP", seconds)
        finally:
            await admin.aclose()

    task = asyncio.create_task(sleep())
    await asyncio.sleep(0.2)  # the DEBUG SLEEP has reached Redis
    return task


async def texts(server: TestServer, room: str = "lobby") -> list[str]:
    stored = await server.app[SERVICE].store.recent(room, 100)
    return [m.text for m in stored]


@pytest.mark.timeout(40)
@pytest.mark.parametrize("seconds", [2.5, 5.0])
async def test_a_post_in_a_redis_stall_is_stored_once_and_answered_truly(
    redis_server: RedisServer, make_server: ServerFactory, seconds: float
) -> None:
    servers = [await make_server(redis_url=redis_server.url) for _ in range(2)]
    sender = await SioClient().connect(url_of(servers[0]))
    reader = await SioClient().connect(url_of(servers[1]))
    await sender.join("ann")
    await reader.join("bob")
    assert (await sender.call("message", "before"))["ok"]
    sleeping = await stall(redis_server, seconds)
    reply = await sender.sio.call("message", "during", timeout=30)
    await sleeping
    assert (await sender.call("message", "after"))["ok"]
    await reader.inbox.wait("chat", lambda m: m["text"] == "after", timeout=10)
    stored = await texts(servers[1])
    seen = {
        who: [m["text"] for m in c.inbox.of("chat") if m["text"] == "during"]
        for who, c in (("sender", sender), ("reader", reader))
    }
    if reply["ok"]:  # acked: stored once, with the id the sender was told
        assert stored.count("during") == 1, stored
        assert seen == {"sender": ["during"], "reader": ["during"]}
        ids = [m["id"] for m in reader.inbox.of("chat") if m["text"] == "during"]
        assert ids == [reply["id"]]
    else:  # refused: nothing stored, nothing shown
        assert reply["error"]["code"] == "unavailable", reply
        assert stored.count("during") == 0, stored
        assert seen == {"sender": [], "reader": []}
    for client in (sender, reader):
        await client.sio.disconnect()


@pytest.mark.timeout(30)
async def test_a_stall_past_the_bound_is_told_as_unconfirmed_not_as_failed(
    redis_server: RedisServer,
    make_server: ServerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis asleep longer than the append keeps asking: the line may be
    stored when it wakes, so the sender must not hear that it failed."""
    from cluster import history as redis_store

    monkeypatch.setattr(redis_store, "APPEND_WITHIN", 1.0)
    server = await make_server(redis_url=redis_server.url)
    sender = await SioClient().connect(url_of(server))
    await sender.join("ann")
    assert (await sender.call("message", "before"))["ok"]
    sleeping = await stall(redis_server, 4.0)
    reply = await sender.sio.call("message", "during", timeout=30)
    assert reply["ok"] is False and reply["error"]["code"] == "unconfirmed", reply
    await sleeping
    # It ran when Redis woke: stored once, and shown here (the process that
    # sent it skips its own bus messages) as the gap before the next line.
    assert (await sender.call("message", "after"))["ok"]
    await sender.inbox.wait("chat", lambda m: m["text"] == "after", timeout=10)
    assert await texts(server) == ["before", "during", "after"]
    shown = [m["text"] for m in sender.inbox.of("chat")]
    assert shown == ["before", "during", "after"]
    await sender.sio.disconnect()
