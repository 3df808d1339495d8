"""Recovery after kill -9 of one of several processes on one Redis, past the
sweep of the dead process (``--process-timeout``): its members' names stay
held for their sessions' window, and only then is a leave announced."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from cluster.directory import RedisDirectory
from tests.helpers import ServerFactory, SioClient, eventually, url_of
from tests.integration.test_recovery_edges import _events, _joined, _raw
from tests.redis_server import RedisServer
from tests.server_process import ServerProcess, StartProcess
from web.keys import BACKENDS

pytestmark = [pytest.mark.redis, pytest.mark.slow]
WINDOW = 4.0
"""Seconds of --recovery-window: a few times the process timeout (1 s)."""


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _processes(
    count: int, redis_server: RedisServer, start_process: StartProcess, db: Path
) -> list[ServerProcess]:
    flags = [
        "--redis-url", redis_server.url, "--process-timeout", "1",
        "--recovery-window", str(WINDOW),
    ]  # fmt: skip
    return [await start_process(db, *flags) for _ in range(count)]


async def _swept(redis_server: RedisServer, room: str, name: str) -> float:
    """Waits until the process holding ``name`` is gone from Redis (its key
    expired and a survivor swept it); when that was seen (monotonic)."""
    redis = redis_server.client()
    try:
        raw = await redis.hget(f"chat:names:{room}", name)
        owner = json.loads(raw)["o"].encode()

        async def gone() -> bool:
            return owner not in await redis.smembers("chat:owners")

        await eventually(gone, timeout=10)
        return time.monotonic()
    finally:
        await redis.aclose()


async def _peer(process: ServerProcess, name: str) -> SioClient:
    peer = await SioClient().connect(process.url)
    await peer.join(name)
    return peer


async def test_a_killed_process_member_recovers_after_the_sweep(
    redis_server: RedisServer,
    start_process: StartProcess,
    tmp_path: Path,
    http: aiohttp.ClientSession,
) -> None:
    victim, survivor = await _processes(
        2, redis_server, start_process, tmp_path / "unused.db"
    )
    peer = await _peer(survivor, "peer")
    ws, hello = await _joined(http, victim.url, "ann")
    await peer.inbox.wait("user_joined", lambda u: u["name"] == "ann")
    await victim.kill()
    await ws.close()
    await peer.call("message", "missed")
    await _swept(redis_server, "lobby", "ann")
    await asyncio.sleep(0.5)  # a few more sweeps of the survivor
    assert [u for u in peer.inbox.of("user_left") if u["name"] == "ann"] == []
    # The client comes back to the survivor (as nginx would send it), whole.
    auth = {k: hello[k] for k in ("pid", "offset")}
    back, answer = await _raw(http, survivor.url, auth)
    assert answer == {"sid": hello["sid"], "pid": hello["pid"]}
    await back.send_str("42" + json.dumps(["message", "I am back"]))
    events = await _events(back, "message")
    events += await _events(back, "message")
    lines = [e[1] for e in events if e[0] == "message"]
    assert lines == ["peer: missed", "ann: I am back"]
    chat = await peer.inbox.wait("chat", lambda m: m["text"] == "I am back")
    assert chat["name"] == "ann"  # its name, without joining again
    assert [u["name"] for u in peer.inbox.of("user_joined")] == ["peer", "ann"]
    assert [u for u in peer.inbox.of("user_left") if u["name"] == "ann"] == []
    await back.close()
    await peer.sio.disconnect()


async def test_nobody_back_leaves_once_when_the_window_ends(
    redis_server: RedisServer,
    start_process: StartProcess,
    tmp_path: Path,
    http: aiohttp.ClientSession,
) -> None:
    """Two survivors both sweep: the leave is announced once, by one."""
    victim, first, second = await _processes(
        3, redis_server, start_process, tmp_path / "unused.db"
    )
    peer = await _peer(first, "peer")
    ws, _ = await _joined(http, victim.url, "ann")
    await peer.inbox.wait("user_joined", lambda u: u["name"] == "ann")
    newcomer = await SioClient().connect(second.url)
    await victim.kill()
    await ws.close()
    swept = await _swept(redis_server, "lobby", "ann")
    reply = await newcomer.call("join", {"name": "ann", "format": "both"})
    assert reply.get("error", {}).get("code") == "name_taken", reply  # held
    left = await peer.inbox.wait(
        "user_left", lambda u: u["name"] == "ann", timeout=WINDOW + 5
    )
    assert left == {"room": "lobby", "name": "ann"}
    assert time.monotonic() - swept > WINDOW - 1.0  # the window, not the sweep
    assert (await newcomer.join("ann"))["name"] == "ann"
    await asyncio.sleep(1.0)  # both survivors have swept again meanwhile
    assert [u for u in peer.inbox.of("user_left") if u["name"] == "ann"] == [left]
    for client in (peer, newcomer):
        await client.sio.disconnect()


async def test_a_live_process_taken_for_gone_takes_its_parked_names_back(
    redis_server: RedisServer, make_server: ServerFactory
) -> None:
    """Only this process lost Redis long enough to be swept: its member's
    name was parked for its session, not freed; on its next heartbeat it
    owns the name again, quietly, so the end of the parking frees nothing."""
    server = await make_server(
        redis_url=redis_server.url, process_timeout=3, recovery_window=2
    )
    ann = await SioClient().connect(url_of(server))
    await ann.join("ann")
    joins = list(ann.inbox.of("user_joined"))
    directory = server.app[BACKENDS].directory
    assert isinstance(directory, RedisDirectory)
    redis = redis_server.client()
    other = RedisDirectory(redis, "other", 0.3)
    try:
        await other.heartbeat()
        await asyncio.sleep(0.4)  # a whole timeout of Redis reachable, for it
        await redis.delete(f"chat:alive:{directory.process}")
        await other.heartbeat()
        assert await other.sweep() == []  # parked, not freed

        async def ours() -> bool:
            raw = await redis.hget("chat:names:lobby", "ann")
            return raw is not None and json.loads(raw)["o"] == directory.process

        await eventually(ours, timeout=3)
        await asyncio.sleep(2.2)  # the parking (the window) has ended
        await other.heartbeat()
        assert await other.sweep() == []
        assert await directory.names("lobby") == ("ann",)
        assert ann.inbox.of("user_joined") == joins  # nobody saw it go or come
    finally:
        await redis.aclose()
        await ann.sio.disconnect()
