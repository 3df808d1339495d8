"""Real ``python app.py`` processes sharing a real redis-server, behind a real
nginx: kill -9 of one, and a graceful stop of one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.helpers import SioClient, send_until_cancelled
from tests.nginx_server import Nginx
from tests.redis_server import RedisServer
from tests.server_process import ServerProcess, StartProcess

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
async def processes(
    durable_redis: RedisServer, start_process: StartProcess, tmp_path: Path
) -> list[ServerProcess]:
    """Two app processes on one redis-server (stopped at teardown before it:
    start_process is set up after durable_redis)."""
    flags = [
        "--redis-url",
        durable_redis.url,
        "--trusted-proxies",
        "127.0.0.1",
        "--process-timeout",
        "3",
        "--shutdown-grace",
        "3",
        "--ping-interval",
        "1",
        "--ping-timeout",
        "2",
        "--recovery-window",  # a name is parked for its session this long
        "2",
    ]
    return [await start_process(tmp_path / "unused.db", *flags) for _ in range(2)]


async def members(process: ServerProcess) -> int:
    status, health = await process.get("/healthz")
    assert status == 200, health
    return int(health["members"])


def ids_seen(client: SioClient) -> list[int]:
    seen = [m["id"] for h in client.inbox.of("history") for m in h["messages"]]
    return seen + [m["id"] for m in client.inbox.of("chat")]


@pytest.mark.nginx
async def test_kill_9_of_one_process_loses_nothing_and_frees_its_names(
    processes: list[ServerProcess], tmp_path: Path
) -> None:
    nginx = Nginx(tmp_path, "nginx.conf", [p.port for p in processes])
    await nginx.start()
    try:
        writers = []
        for i in range(3):
            auth = {"name": f"w{i}", "client": f"tab-{i}", "after": 0}
            writers.append(await SioClient().connect(nginx.url, auth=auth))
        lost = await SioClient().connect(nginx.url, auth={"name": "lost"})
        for client in (*writers, lost):
            await client.inbox.wait("joined")
        # nginx sends every client from this address to the same process.
        counts = [await members(p) for p in processes]
        victim, survivor = (0, 1) if counts[0] else (1, 0)
        assert counts == [4, 0] or counts == [0, 4]
        watcher = await SioClient().connect(processes[survivor].url)
        await watcher.join("watcher")
        acked: dict[str, int] = {}
        sending = [
            asyncio.create_task(send_until_cancelled(w, f"w{i}", acked))
            for i, w in enumerate(writers)
        ]
        await asyncio.sleep(1.0)
        await processes[victim].kill()  # SIGKILL mid-traffic
        await asyncio.gather(*sending)
        assert len(acked) > 10
        # The writers come back through nginx, now to the survivor, and
        # catch up from the last id each saw.
        for i, old in enumerate(writers):
            last = max(ids_seen(old), default=0)
            auth = {"name": f"w{i}", "client": f"tab-{i}", "after": last}
            back = await SioClient().connect(nginx.url, auth=auth)
            assert (await back.inbox.wait("joined"))["name"] == f"w{i}"
            history = await back.inbox.wait("history")
            assert history["catchup"] is True
            assert (await back.call("message", f"back-{i}"))["ok"]
            await back.inbox.wait("chat", lambda m, i=i: m["text"] == f"back-{i}")
            seen = ids_seen(old) + ids_seen(back)
            assert len(seen) == len(set(seen)), "a message arrived twice"
            assert set(seen) >= set(acked.values()), "an acked message was lost"
            writers[i] = back
        stored = await processes[survivor].history("lobby")
        assert {m["text"]: m["id"] for m in stored if m["text"] in acked} == acked
        # "lost" never came back: its name is freed and its leave announced
        # by the survivor once the dead process's heartbeat has expired and
        # then the window of its recoverable session has ended.
        assert await watcher.inbox.wait("leave", lambda n: n == "lost", timeout=10)
        assert "w0" not in watcher.inbox.of("leave")  # came back in time
        again = await SioClient().connect(processes[survivor].url)
        assert (await again.join("lost"))["name"] == "lost"
        for client in (*writers, watcher, again):
            await client.sio.disconnect()
    finally:
        nginx.stop()


async def test_a_graceful_stop_shows_no_leave_and_join_for_those_who_come_back(
    processes: list[ServerProcess],
) -> None:
    leaving, staying = processes
    watcher = await SioClient().connect(staying.url)
    await watcher.join("watcher")
    phone = await SioClient().connect(
        leaving.url, auth={"name": "phone", "client": "p"}
    )
    # One after the other: two joins at once may be announced in either order.
    await watcher.inbox.wait("join", lambda n: n == "phone")
    await SioClient().connect(leaving.url, auth={"name": "gone", "client": "g"})
    await watcher.inbox.wait("join", lambda n: n == "gone")
    assert await leaving.stop() == 0  # SIGTERM: a deploy
    assert not phone.sio.connected
    # The page reconnects, to the other process, as the JS client does.
    back = await SioClient().connect(staying.url, auth={"name": "phone", "client": "p"})
    assert (await back.inbox.wait("joined"))["name"] == "phone"
    # After the grace period, the one that did not come back has left.
    assert await watcher.inbox.wait("leave", lambda n: n == "gone", timeout=10)
    assert watcher.inbox.of("leave") == ["gone"]
    assert watcher.inbox.of("join") == ["watcher", "phone", "gone"]
    for client in (watcher, back):
        await client.sio.disconnect()


@pytest.mark.timeout(120)
async def test_a_redis_outage_longer_than_the_timeout_sweeps_nobody_alive(
    processes: list[ServerProcess], durable_redis: RedisServer
) -> None:
    """Redis frozen (SIGSTOP) for longer than --process-timeout, so every
    process's key expires meanwhile. When it comes back, whichever process
    renews first must not take the other's keyless members for gone."""
    ann = await SioClient().connect(processes[0].url)
    bob = await SioClient().connect(processes[1].url)
    await ann.join("ann")
    await bob.join("bob")
    await ann.inbox.wait("join", lambda n: n == "bob")
    # Racy (who renews first), so several outages, each ending at another
    # point of the processes' heartbeat rounds; --process-timeout is 3.
    for outage in (3.6, 4.3, 5.0, 5.7):
        durable_redis.pause()
        await asyncio.sleep(outage)
        durable_redis.resume()
        await asyncio.sleep(5.0)  # past a full timeout of Redis being back
        assert ann.sio.connected and bob.sio.connected
        assert ann.inbox.of("leave") == bob.inbox.of("leave") == [], outage
        # Nobody else can take their names: they are still here.
        for process in processes:
            thief = await SioClient().connect(process.url)
            for name in ("ann", "bob"):
                reply = await thief.call("join", {"name": name})
                assert not reply["ok"], (outage, name, [p.stderr for p in processes])
                assert reply["error"]["code"] == "name_taken", (outage, reply)
            await thief.sio.disconnect()
        for client, text in ((ann, f"a{outage}"), (bob, f"b{outage}")):
            assert (await client.call("message", text))["ok"]
    for client in (ann, bob):
        await client.sio.disconnect()
