"""The names directory over a real Redis: judgements made where they run,
and sessions that Redis ends by itself."""

from __future__ import annotations

import asyncio

from chat.models import Member
from cluster.connection import PREFIX, connect
from cluster.directory import RedisDirectory
from tests.helpers import eventually
from tests.redis_server import RedisServer


async def test_a_sweep_sent_before_redis_froze_judges_nobody_when_it_runs(
    redis_server: RedisServer,
) -> None:
    """Redis runs a script sent before it froze once it wakes, when every key
    has expired, though its sender gave up on it long before: the script
    itself must see that its judge has been unheard for too long."""
    redis = connect(redis_server.url)
    judge = RedisDirectory(redis, "judge", alive_for=1.0)
    other = RedisDirectory(redis, "other", alive_for=1.0)
    try:
        bob = Member(door="sio", conn="sio:bob", name="bob", room="lobby")
        await other.heartbeat()
        await other.claim(bob)
        await judge.heartbeat()
        judge._reachable_since = 0.0  # noqa: SLF001 - judging, long since
        assert await judge.sweep() == []  # other is alive (and the script loaded)
        redis_server.pause()
        # The owners were listed; the sweep of one is sent as Redis freezes.
        args = [PREFIX, "other", *judge._judge()]  # noqa: SLF001
        sweep = asyncio.create_task(judge._sweep(args=args))  # noqa: SLF001
        await asyncio.sleep(0.3)  # sent, unanswered
        sweep.cancel()  # as its timeout would
        await asyncio.sleep(1.5)  # every key expires meanwhile
        redis_server.resume()
        await eventually(lambda: _alive(redis_server))
        await other.heartbeat()  # bob's process renews once Redis is back
        assert await other.holds(bob)
    finally:
        redis_server.resume()
        await redis.aclose()


async def _alive(redis_server: RedisServer) -> bool:
    client = redis_server.client()
    try:
        return bool(await client.ping())
    finally:
        await client.aclose()


async def test_sessions_in_redis_need_no_sweeper(
    redis_server: RedisServer, make_server
) -> None:
    """Redis ends idle sessions by itself; one process sweeps its own."""

    def sweepers() -> int:
        return sum(t.get_name() == "sessions" for t in asyncio.all_tasks())

    await make_server(redis_url=redis_server.url)
    assert sweepers() == 0
    await make_server()
    assert sweepers() == 1
