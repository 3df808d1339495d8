"""Connection-state recovery with the official socket.io-client (Node)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ServerFactory, SioClient, eventually, url_of
from tests.nginx_server import Nginx
from tests.node_client import TRANSPORTS, NodeClient
from tests.redis_server import RedisServer
from tests.server_process import ServerProcess, StartProcess
from web.keys import SERVICE

pytestmark = pytest.mark.node
MISSED = ["missed 1", "missed 2", "missed 3"]


@pytest.fixture
async def node() -> AsyncIterator[Any]:
    runs: list[NodeClient] = []

    async def run(url: str, transport: str, *args: str) -> NodeClient:
        client = await NodeClient.start(url, transport, "--scenario", "recover", *args)
        runs.append(client)
        return client

    yield run
    for client in runs:
        await client.close()


async def _until(client: NodeClient, event: str) -> dict[str, Any]:
    for _ in range(20):
        line = await client.line()
        if line.get("event") == event:
            return line
        assert "ok" not in line, line
    raise AssertionError(f"no {event}")


async def _check(
    page: NodeClient, ready: dict[str, Any], peer: SioClient, joins: int = 2
) -> None:
    """Recovered whole: same id, each missed line once and in order, each
    with an offset; the peer saw no leave or join, and the recovered page's
    line under its name."""
    await peer.inbox.wait("chat", lambda m: m["text"] == "I am back")
    chat = next(m for m in peer.inbox.of("chat") if m["text"] == "I am back")
    assert chat["name"] == "nod"  # its name, without joining again
    names = [u["name"] for u in peer.inbox.of("user_left")]
    assert "nod" not in names
    assert [u["name"] for u in peer.inbox.of("user_joined")] == ["peer", "nod"][:joins]
    result = await page.result()  # it leaves now (a deliberate disconnect)
    assert result["last"] == {"recovered": True, "id": ready["id"]}
    _replayed(result["messages"])


def _replayed(messages: list[list[str]]) -> None:
    """The peer's lines, each once and in order, each with its own offset
    (a replayed line's is its id, not the newest one broadcast)."""
    lines = [(text, at) for text, at in messages if text.startswith("peer: ")]
    assert [text for text, _ in lines] == [
        f"peer: {t}" for t in ["before", *MISSED, "done"]
    ]
    assert all(isinstance(at, str) and at for _, at in messages)
    ids = [int(at.rpartition(":")[2]) for _, at in lines]
    assert ids == sorted(set(ids)), ids


async def _away_then_back(
    page: NodeClient, ready: dict[str, Any], peer: SioClient, joins: int = 2
) -> None:
    """The peer posts while the page is away; the page comes back whole."""
    for text in MISSED:
        assert (await peer.call("message", text))["ok"]
    await _until(page, "back")
    await peer.call("message", "done")
    await _check(page, ready, peer, joins)
    await peer.sio.disconnect()


async def _peer(url: str) -> SioClient:
    """A python-socketio client: no recovery, so it rejoins by its auth."""
    peer = SioClient(reconnection=True, reconnection_delay=0.5)
    auth = {"name": "peer", "format": "both", "client": "peer-1"}
    await peer.connect(url, auth=auth)
    await peer.inbox.wait("joined")
    return peer


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_node_client_recovers_after_a_blip(
    make_server: ServerFactory, node: Any, transport: str
) -> None:
    url = url_of(await make_server(recovery_window=120))
    peer = await _peer(url)
    page = await node(
        url, transport, "--name", "nod", "--blip", "--expect", "before",
        "--reply-to", "done", "--reply", "I am back",
    )  # fmt: skip
    ready = await _until(page, "ready")
    await peer.inbox.wait("user_joined", lambda u: u["name"] == "nod")
    await peer.call("message", "before")
    await _until(page, "dropped")
    await asyncio.sleep(0.3)  # the server has seen it go (reconnect: 1.5 s)
    await _away_then_back(page, ready, peer)


async def _suspended(server: Any, sid: str) -> None:
    """The server has seen ``sid`` drop: its session waits to be recovered."""
    recovery = server.app[SERVICE].recovery

    async def stored() -> bool:
        return any(s.sid == sid for s in await recovery.stored())

    await eventually(stored)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_node_spectator_recovers_what_it_missed(
    make_server: ServerFactory, node: Any, transport: str
) -> None:
    """A page that never joined gets, after a blip, each line posted while
    it was away once and in order, each with its offset, then the live ones."""
    server = await make_server(recovery_window=120)
    url = url_of(server)
    page = await node(
        url, transport, "--spectate", "--blip", "--expect", "before",
        "--reply-to", "done",
    )  # fmt: skip
    ready = await _until(page, "ready")
    peer = await _peer(url)
    await peer.call("message", "before")
    await _until(page, "dropped")
    await _suspended(server, ready["id"])
    for text in MISSED:
        assert (await peer.call("message", text))["ok"]
    await _until(page, "back")
    await peer.call("message", "done")
    result = await page.result()
    assert result["last"] == {"recovered": True, "id": ready["id"]}
    _replayed(result["messages"])
    await peer.sio.disconnect()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_node_client_recovers_the_list_of_people(
    make_server: ServerFactory, node: Any, transport: str
) -> None:
    """Joins and leaves are not in the history: a recovered structured
    client is sent the room's list, as at its join, and it is right."""
    server = await make_server(recovery_window=120)
    url = url_of(server)
    leaver = await SioClient().connect(url)
    await leaver.join("carol")
    page = await node(
        url, transport, "--scenario", "roster", "--name", "ann", "--blip",
        "--expect", "before", "--reply-to", "done",
    )  # fmt: skip
    ready = await _until(page, "ready")
    peer = await _peer(url)  # "peer" stays throughout
    await peer.call("message", "before")
    await _until(page, "dropped")
    await _suspended(server, ready["id"])
    joiner = await SioClient().connect(url)
    await joiner.join("bob")
    # A second join into another room leaves this one at once.
    await leaver.join("carol", room="elsewhere")
    await peer.inbox.wait("user_left", lambda u: u["name"] == "carol")
    await _until(page, "back")
    await peer.call("message", "done")
    result = await page.result()
    assert result["last"] == {"recovered": True, "id": ready["id"]}
    # (In join order; a recovered member's name is claimed again, last.)
    assert sorted(result["people"]) == ["ann", "bob", "peer"]
    assert sorted(result["rosters"][-1]) == ["ann", "bob", "peer"]
    for client in (leaver, joiner, peer):
        await client.sio.disconnect()


@pytest.mark.parametrize("how", ["stop", "kill"])
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_node_client_recovers_across_a_restart(
    tmp_path: Path, start_process: StartProcess, node: Any, transport: str, how: str
) -> None:
    """A deploy (SIGTERM) or a crash (kill -9, the session stored while up),
    then a new process on the same database."""
    server = await start_process(tmp_path / "chat.db")
    peer = await _peer(server.url)
    page = await node(
        server.url, transport, "--name", "nod", "--reply-to", "done",
        "--reply", "I am back", "--delay", "4000",
    )  # fmt: skip
    ready = await _until(page, "ready")
    await peer.inbox.wait("user_joined", lambda u: u["name"] == "nod")
    await peer.call("message", "before")
    await peer.inbox.wait("chat", lambda m: m["text"] == "before")
    if how == "stop":
        assert await server.stop() == 0  # SIGTERM: a deploy
    else:
        await server.kill()
    await server.start()  # the same port and database
    # The peer is back (by its auth) long before the page tries (4 s).
    await eventually(lambda: len(peer.inbox.of("joined")) == 2, timeout=10)
    await _away_then_back(page, ready, peer)


@pytest.mark.redis
@pytest.mark.nginx
@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_node_client_recovers_on_another_process(
    durable_redis: RedisServer,
    start_process: StartProcess,
    tmp_path: Path,
    node: Any,
    transport: str,
    how: str,
) -> None:
    """Two processes on one Redis behind nginx; the page's process stops
    (SIGTERM) or is killed (kill -9): the page recovers on the other one,
    from the session kept in Redis, and nobody sees it leave."""
    flags = ["--redis-url", durable_redis.url, "--trusted-proxies", "127.0.0.1"]
    processes = [await start_process(tmp_path / "unused.db", *flags) for _ in "ab"]
    nginx = Nginx(tmp_path, "nginx.conf", [p.port for p in processes])
    await nginx.start()
    try:
        page = await node(
            nginx.url, transport, "--name", "nod", "--reply-to", "done",
            "--reply", "I am back", "--delay", "3000",
        )  # fmt: skip
        ready = await _until(page, "ready")
        counts = [await _members(p) for p in processes]
        assert sorted(counts) == [0, 1]
        victim, survivor = (0, 1) if counts[0] else (1, 0)
        peer = await _peer(processes[survivor].url)
        await peer.call("message", "before")
        await peer.inbox.wait("chat", lambda m: m["text"] == "before")
        if how == "stop":
            assert await processes[victim].stop() == 0
        else:
            await processes[victim].kill()
        await _away_then_back(page, ready, peer, joins=1)  # the peer came after
    finally:
        nginx.stop()


async def _members(process: ServerProcess) -> int:
    status, health = await process.get("/healthz")
    assert status == 200, health
    return int(health["members"])
