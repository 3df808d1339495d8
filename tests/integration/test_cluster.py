"""Two app processes' worth of servers sharing one real redis-server."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from cluster.connection import connect
from cluster.directory import RedisDirectory
from config import Config
from tests.helpers import SioClient, api_session, eventually, next_frame, url_of
from tests.redis_server import RedisServer
from web.keys import SERVICE

pytestmark = pytest.mark.redis


@pytest.fixture
async def pair(redis_server: RedisServer, make_server) -> list[TestServer]:
    return [await make_server(redis_url=redis_server.url) for _ in range(2)]


async def test_messages_cross_processes_with_the_same_ids(pair) -> None:
    a = await SioClient().connect(url_of(pair[0]))
    b = await SioClient().connect(url_of(pair[1]))
    await a.join("ann")
    await b.join("bob")
    assert await a.inbox.wait("join", lambda n: n == "bob")
    sent = [await a.call("message", "from a"), await b.call("message", "from b")]
    assert [s["id"] for s in sent] == [1, 2]
    for client in (a, b):
        chats = [
            await client.inbox.wait("chat", lambda m, i=i: m["id"] == i) for i in (1, 2)
        ]
        assert [(m["name"], m["text"]) for m in chats] == [
            ("ann", "from a"),
            ("bob", "from b"),
        ]
    # Exactly once each, on both processes.
    await asyncio.sleep(0.2)
    assert [m["id"] for m in a.inbox.of("chat")] == [1, 2]
    assert [m["id"] for m in b.inbox.of("chat")] == [1, 2]
    for client in (a, b):
        await client.sio.disconnect()


async def test_names_are_unique_across_processes_and_lists_are_shared(pair) -> None:
    a = await SioClient().connect(url_of(pair[0]))
    b = await SioClient().connect(url_of(pair[1]))
    await a.join("Ann")
    reply = await b.call("join", {"name": "ann"})
    assert (
        reply["error"]["code"] == "name_taken"
        and reply["error"]["suggestion"] == "ann2"
    )
    reply = await b.join("bob")
    assert reply["users"] == ["Ann", "bob"]
    await b.sio.disconnect()
    assert await a.inbox.wait("leave", lambda n: n == "bob")
    c = await SioClient().connect(url_of(pair[1]))
    assert (await c.join("bob"))["users"] == ["Ann", "bob"]  # free again
    for client in (a, c):
        await client.sio.disconnect()


async def test_plain_websocket_and_http_work_across_processes(pair) -> None:
    sio = await SioClient().connect(url_of(pair[0]))
    await sio.join("sio")
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url_of(pair[1]) + "/ws")
        await ws.send_json({"type": "join", "name": "ws"})
        auth = await api_session(http, url_of(pair[0]), "poller")
        await ws.send_json({"type": "usermsg", "message": "from ws"})
        # The token works on the other process too.
        async with http.post(
            url_of(pair[1]) + "/api/messages", json={"text": "from http"}, headers=auth
        ) as resp:
            assert resp.status == 201, await resp.text()
        frames = [await next_frame(ws, "usermsg") for _ in range(2)]
        assert [(f["id"], f["name"], f["message"]) for f in frames] == [
            (1, "ws", "from ws"),
            (2, "poller", "from http"),
        ]
        chats = [
            await sio.inbox.wait("chat", lambda m, i=i: m["id"] == i) for i in (1, 2)
        ]
        assert [m["name"] for m in chats] == ["ws", "poller"]
        async with http.get(url_of(pair[1]) + "/api/users") as resp:
            assert (await resp.json())["users"] == ["sio", "ws", "poller"]
        async with http.delete(url_of(pair[1]) + "/api/session", headers=auth) as resp:
            assert resp.status == 204
        assert await sio.inbox.wait("leave", lambda n: n == "poller")
        await ws.close()
    await sio.sio.disconnect()


async def test_a_reconnect_takes_over_its_name_from_another_process(pair) -> None:
    watcher = await SioClient().connect(url_of(pair[0]))
    await watcher.join("watcher")
    auth = {"name": "phone", "client": "tab-1"}
    old = await SioClient().connect(url_of(pair[0]), auth=auth)
    await old.inbox.wait("joined")
    new = await SioClient().connect(url_of(pair[1]), auth=auth)
    assert (await new.inbox.wait("joined"))["name"] == "phone"
    # Kicked by its own process, told over the bus.
    await eventually(lambda: not old.sio.connected)
    await asyncio.sleep(0.3)
    assert (
        watcher.inbox.of("leave") == [] and watcher.inbox.of("join").count("phone") == 1
    )
    assert await pair[0].app[SERVICE].directory.names("lobby") == ("watcher", "phone")
    for client in (watcher, new):
        await client.sio.disconnect()


async def test_redis_going_away_and_coming_back(
    durable_redis: RedisServer, make_server
) -> None:
    redis = durable_redis
    # With the default flood limits: every limit is counted in Redis too.
    servers = [
        await make_server(redis_url=redis.url, rate_limit=Config().rate_limit)
        for _ in range(2)
    ]
    a = await SioClient().connect(url_of(servers[0]))
    b = await SioClient().connect(url_of(servers[1]))
    await a.join("ann")
    await b.join("bob")
    cat = await SioClient().connect(url_of(servers[0]))
    await cat.join("cat")
    acked = [(await a.call("message", "before"))["id"]]
    redis.stop()
    # Connections stay; posts get a clear error, never an ack for nothing.
    started = asyncio.get_running_loop().time()
    during = await a.call("message", "during")
    assert during["ok"] is False and during["error"]["code"] == "unavailable"
    assert asyncio.get_running_loop().time() - started < 10
    late = await SioClient().connect(url_of(servers[1]))
    refused = await late.call("join", {"name": "dan"})
    assert refused["ok"] is False and refused["error"]["code"] == "unavailable"
    await late.sio.disconnect()
    assert a.sio.connected and b.sio.connected
    await cat.sio.disconnect()  # its name cannot be given back just now
    assert await a.inbox.wait("leave", lambda n: n == "cat")  # seen here
    async with aiohttp.ClientSession() as http:
        async with http.get(url_of(servers[0]) + "/readyz") as resp:
            assert resp.status == 503 and "Redis" in (await resp.json())["problem"]
        async with http.post(
            url_of(servers[0]) + "/api/session", json={"name": "eve"}
        ) as resp:
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == "unavailable"
        await redis.start()  # same port, same data

        async def ready() -> bool:
            async with http.get(url_of(servers[1]) + "/readyz") as resp:
                return resp.status == 200

        await eventually(ready, timeout=15, every=0.2)
    for client, text in ((a, "after a"), (b, "after b")):
        reply = await client.call("message", text)
        assert reply["ok"], reply
        acked.append(reply["id"])
    assert acked == [1, 2, 3]
    for client in (a, b):
        ids = [
            await client.inbox.wait("chat", lambda m, i=i: m["id"] == i) for i in acked
        ]
        assert [m["text"] for m in ids] == ["before", "after a", "after b"]
    # Once Redis was back, the name was given back and the leave told.
    assert await b.inbox.wait("leave", lambda n: n == "cat", timeout=10)
    again = await SioClient().connect(url_of(servers[1]))
    assert (await again.join("cat"))["ok"]
    for client in (a, b, again):
        await client.sio.disconnect()


@pytest.fixture
def pubsubs(monkeypatch: pytest.MonkeyPatch) -> set[Any]:
    """Every redis-py PubSub made from now on (to pick which go deaf).

    Request it before ``pair`` to see those its servers make at start."""
    from redis.asyncio.client import PubSub

    made: set[Any] = set()
    real = PubSub.__init__

    def init(self: PubSub, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        made.add(self)

    monkeypatch.setattr(PubSub, "__init__", init)
    return made


async def test_a_subscription_that_goes_quiet_is_noticed_and_caught_up(
    pubsubs: set[Any], pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.asyncio.client import PubSub

    from cluster import bus as bus_module

    monkeypatch.setattr(bus_module, "PROBE_EVERY", 0.2)
    monkeypatch.setattr(bus_module, "PROBE_DEADLINE", 2.0)
    a = await SioClient().connect(url_of(pair[0]))
    b = await SioClient().connect(url_of(pair[1]))
    await a.join("ann")
    await b.join("bob")
    # The fault: every subscription open now silently receives nothing more,
    # as when a connection goes half-dead without an error.
    deaf = set(pubsubs)
    assert deaf
    real = PubSub.get_message

    async def quiet(self: PubSub, *args: Any, **kwargs: Any) -> Any:
        message = await real(self, *args, **kwargs)
        return None if self in deaf else message

    monkeypatch.setattr(PubSub, "get_message", quiet)
    await asyncio.sleep(1.2)  # calls already waiting (1 s each) have returned
    assert (await a.call("message", "while deaf"))["ok"]
    chat = await b.inbox.wait("chat", lambda m: m["text"] == "while deaf", timeout=10)
    assert chat["id"] == 1
    await asyncio.sleep(0.3)
    assert [m["id"] for m in b.inbox.of("chat")] == [1]  # once, by the catch-up
    for client in (a, b):
        await client.sio.disconnect()


async def test_the_bus_stops_even_when_its_read_eats_the_cancellation(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py can turn a cancel that races its read timeout into None."""
    from redis.asyncio.client import PubSub

    from chat.stats import Stats
    from cluster.bus import RedisBus
    from cluster.history import RedisStore

    real = PubSub.get_message
    eaten: list[bool] = []

    async def eats_cancel(self: PubSub, *args: Any, **kwargs: Any) -> Any:
        try:
            return await real(self, *args, **kwargs)
        except asyncio.CancelledError:  # the injected fault, once
            if eaten:
                raise
            eaten.append(True)
            return None

    monkeypatch.setattr(PubSub, "get_message", eats_cancel)

    async def nothing(*_: Any) -> None:
        pass

    redis = connect(redis_server.url)
    store = RedisStore(redis, "p1", retention_days=0, room_cap=0)
    bus = RedisBus(redis_server.url, redis, "p1", Stats(), store)
    task = asyncio.create_task(bus.listen(nothing, nothing, nothing))
    try:
        await eventually(lambda: bus.connected)
        await asyncio.sleep(0.2)  # inside get_message now
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=3)
        assert eaten and task in done and task.cancelled()
    finally:
        task.cancel()
        await redis.aclose()


async def test_a_flushed_redis_starts_a_new_history_everywhere(
    pair, redis_server: RedisServer
) -> None:
    """A new epoch: ids restart, so every client is made to start again."""
    a = await SioClient().connect(url_of(pair[0]), auth={"name": "ann", "client": "a"})
    b = await SioClient().connect(url_of(pair[1]), auth={"name": "bob", "client": "b"})
    for client in (a, b):
        await client.inbox.wait("joined")
    old = (await a.inbox.wait("history"))["epoch"]
    assert (await a.call("message", "before"))["id"] == 1
    await b.inbox.wait("chat", lambda m: m["text"] == "before")
    client = connect(redis_server.url)
    await client.flushall()
    await client.aclose()
    refused = await a.call("message", "lost with the old history")
    assert refused["error"]["code"] == "unavailable"
    # Both processes drop their clients, which reconnect and start again.
    await eventually(lambda: not (a.sio.connected or b.sio.connected), timeout=10)
    backs = []
    for name, server in (("ann", pair[0]), ("bob", pair[1])):
        auth = {"name": name, "client": name[0], "after": 1, "epoch": old}
        back = await SioClient().connect(url_of(server), auth=auth)
        history = await back.inbox.wait("history")
        assert history["epoch"] != old and history["catchup"] is False
        backs.append(back)
    assert (await backs[0].call("message", "after"))["id"] == 1  # ids restart
    for back in backs:
        assert (await back.inbox.wait("chat"))["text"] == "after"
        await back.sio.disconnect()


async def test_python_clients_come_back_by_themselves_after_a_history_reset(
    pair, redis_server: RedisServer
) -> None:
    """No Engine.IO CLOSE packet, which python-socketio takes for goodbye."""
    a = SioClient(reconnection=True, reconnection_delay=0.2)
    await a.connect(url_of(pair[0]), auth={"name": "ann", "client": "a"})
    old = (await a.inbox.wait("history"))["epoch"]
    client = connect(redis_server.url)
    await client.flushall()
    await client.aclose()
    assert (await a.call("message", "lost"))["error"]["code"] == "unavailable"
    await a.inbox.wait("history", lambda h: h["epoch"] != old, timeout=10)
    assert (await a.call("message", "after"))["id"] == 1
    await a.sio.disconnect()


async def test_a_process_taken_for_gone_claims_its_members_names_again(
    redis_server: RedisServer, make_server
) -> None:
    """Only this process lost Redis long enough for its key to expire, and
    another swept its members: on its next heartbeat it takes them back."""
    from web.keys import BACKENDS

    server = await make_server(redis_url=redis_server.url, process_timeout=3)
    ann = await SioClient().connect(url_of(server))
    await ann.join("ann")
    directory = server.app[BACKENDS].directory
    assert isinstance(directory, RedisDirectory)
    # Another process, connected to Redis all along, sweeps it the moment
    # its key is gone (between two of its heartbeats, 1 s apart).
    redis = redis_server.client()
    other = RedisDirectory(redis, "other", 0.3)
    await other.heartbeat()
    await asyncio.sleep(0.4)  # a whole timeout of Redis reachable, for it
    await redis.delete(f"chat:alive:{directory.process}")
    await other.heartbeat()  # as it does every third of its timeout
    assert [h.name for h in await other.sweep()] == ["ann"]
    assert await directory.names("lobby") == ()

    async def back() -> bool:
        return await directory.names("lobby") == ("ann",)

    await eventually(back, timeout=3)
    assert ann.sio.connected
    assert (await ann.call("message", "still here"))["ok"]
    await redis.aclose()
    await ann.sio.disconnect()
