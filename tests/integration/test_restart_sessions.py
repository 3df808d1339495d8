"""A restart keeps the plain WebSocket and HTTP doors' members as stored
sessions: one that rejoins with its ``client`` id within --shutdown-grace
takes its name back unseen; for one that does not, the leave is announced
when it ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app import create_app
from chat.recovery import Session
from config import Config
from tests.helpers import TIMEOUT, api_session, free_port, next_frame, url_of
from web.keys import SERVICE

pytestmark = pytest.mark.slow


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def servers() -> AsyncIterator[list[TestServer]]:
    """Every server a test started, closed at teardown (again is harmless)."""
    started: list[TestServer] = []
    yield started
    for server in started:
        await server.close()


async def start(config: Config, servers: list[TestServer]) -> TestServer:
    server = TestServer(create_app(config), port=config.port)
    servers.append(server)
    await server.start_server()
    return server


async def ws_join(
    http: aiohttp.ClientSession, url: str, name: str, client: str | None = None
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url + "/ws")
    await ws.send_json({"type": "join", "name": name, "client": client})
    await next_frame(ws, "joined")
    return ws


async def frames_until(
    ws: aiohttp.ClientWebSocketResponse, kind: str, **match: Any
) -> list[dict[str, Any]]:
    """Every frame up to and including the first of ``kind`` matching."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            frame = await ws.receive_json()
            frames.append(frame)
            if frame.get("type") == kind and all(
                frame.get(k) == v for k, v in match.items()
            ):
                return frames


async def stored(server: TestServer) -> list[Session]:
    store = server.app[SERVICE].store
    raws = await store.sessions(int(time.time() * 1000))
    return sorted((Session.loads(raw) for raw in raws), key=lambda s: s.name or "")


async def restarted(
    tmp_path: Path,
    http: aiohttp.ClientSession,
    servers: list[TestServer],
    grace: float,
    window: float = 0,
) -> tuple[TestServer, float]:
    """ann and cat (with ``client`` ids) and dan (without) on /ws, eve (with
    one) on the HTTP API, then a restart (recovery off by default: it changes
    nothing for them); the new server and when the old one stopped."""
    config = Config(
        port=free_port(),
        db=str(tmp_path / "chat.db"),
        rate_limit=0,
        shutdown_grace=grace,
        recovery_window=window,
    )
    server = await start(config, servers)
    members = (("ann", "tab-ann"), ("cat", "tab-cat"), ("dan", None))
    # Kept referenced: a client response that is collected closes its socket.
    sockets = [await ws_join(http, url_of(server), *member) for member in members]
    await api_session(http, url_of(server), "eve", client="tab-eve")
    stopped = time.time()
    await server.close()
    for ws in sockets:
        await ws.close()
    return await start(config, servers), stopped


@pytest.mark.parametrize("window", [0, 120])
async def test_a_rejoin_with_the_client_id_takes_its_stored_session(
    tmp_path: Path,
    http: aiohttp.ClientSession,
    servers: list[TestServer],
    window: float,
) -> None:
    server, stopped = await restarted(tmp_path, http, servers, grace=30, window=window)
    url = url_of(server)
    sessions = await stored(server)
    assert [(s.door, s.room, s.name, s.client) for s in sessions] == [
        ("ws", "lobby", "ann", "tab-ann"),
        ("ws", "lobby", "cat", "tab-cat"),
        ("http", "lobby", "eve", "tab-eve"),
    ]
    for session in sessions:  # its key says nothing of the id, name or room
        assert session.client is not None and session.client not in session.pid
        assert session.name is not None and session.name not in session.pid
        assert stopped + 29 < session.expires < time.time() + 30

    bob = await ws_join(http, url, "bob")
    users = (await next_frame(bob, "users"))["users"]
    assert sorted(users) == ["ann", "bob", "cat", "eve"]
    await next_frame(bob, "system", event="join", name="bob")
    impostor = await http.ws_connect(url + "/ws")  # another client's id
    await impostor.send_json({"type": "join", "name": "ann", "client": "tab-cat"})
    assert (await next_frame(impostor, "system"))["error"]["code"] == "name_taken"

    ann = await ws_join(http, url, "ann", "tab-ann")
    users = (await next_frame(ann, "users"))["users"]
    assert sorted(users) == ["ann", "bob", "cat", "eve"]
    await api_session(http, url, "eve", client="tab-eve")
    await ann.send_json({"type": "usermsg", "message": "back"})
    seen = await frames_until(bob, "usermsg", message="back")
    assert [f for f in seen if f["type"] == "system"] == []  # no join, no leave
    assert [s.name for s in await stored(server)] == ["cat"]  # theirs were taken


async def test_when_the_grace_ends_the_leave_is_announced(
    tmp_path: Path, http: aiohttp.ClientSession, servers: list[TestServer]
) -> None:
    server, _ = await restarted(tmp_path, http, servers, grace=1.5)
    url = url_of(server)
    bob = await ws_join(http, url, "bob")
    users = (await next_frame(bob, "users"))["users"]
    assert sorted(users) == ["ann", "bob", "cat", "eve"]
    await next_frame(bob, "system", event="join", name="bob")
    ann = await ws_join(http, url, "ann", "tab-ann")
    seen = await frames_until(bob, "system", event="leave")
    seen += await frames_until(bob, "system", event="leave")
    notices = [(f.get("event"), f["name"]) for f in seen if f["type"] == "system"]
    assert sorted(notices) == [("leave", "cat"), ("leave", "eve")]
    await bob.send_json({"type": "usermsg", "message": "then"})
    seen = await frames_until(bob, "usermsg", message="then")
    assert [f for f in seen if f["type"] == "system"] == []  # once, and only theirs
    assert await stored(server) == []
    await ws_join(http, url, "cat")  # free now, for anyone
    assert not ann.closed
