"""Rooms, presence, typing, history and catch-up, with real clients."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app import create_app
from config import Config
from tests.helpers import (
    TIMEOUT,
    SioClient,
    eventually,
    free_port,
    raw_socketio,
    url_of,
)


async def test_rooms_are_separate(sio_client) -> None:
    a = await sio_client()
    b = await sio_client()
    c = await sio_client()
    await a.join("a", "red")
    await b.join("b", "blue")
    reply = await c.join("a", "blue")  # same name, other room: fine
    assert reply["room"] == "blue" and reply["users"] == ["b", "a"]
    await a.call("message", "in red")
    await b.call("message", "in blue")
    assert [m["text"] for m in await c.inbox.quiet("chat")] == ["in blue"]
    assert [m["text"] for m in a.inbox.of("chat")] == ["in red"]
    assert (await c.call("join", {"name": "x", "room": "bad room!"}))["error"][
        "code"
    ] == "invalid_room"


async def test_presence_and_leave_notice(sio_client) -> None:
    a = await sio_client()
    b = await sio_client()
    await a.join("alice")
    reply = await b.join("bob")
    assert reply["users"] == ["alice", "bob"]  # the joiner gets the whole list
    assert (await b.inbox.wait("history"))["users"] == ["alice", "bob"]
    # Everyone else learns only who came and who went, never the list again.
    came = await a.inbox.wait("user_joined", lambda u: u["name"] == "bob")
    assert came == {"room": "lobby", "name": "bob"}
    await b.sio.disconnect()
    assert await a.inbox.wait("leave", lambda n: n == "bob")
    assert await a.inbox.wait("user_left") == {"room": "lobby", "name": "bob"}
    assert a.inbox.of("leave") == ["bob"] and a.inbox.of("user_left") == [came]
    assert a.inbox.of("users") == []
    c = await sio_client()
    await c.join("bob")  # free again


async def test_connection_lost_past_ping_timeout_frees_the_name(make_server) -> None:
    server = await make_server(ping_interval=0.2, ping_timeout=0.3)
    url = url_of(server)
    watcher = await SioClient().connect(url)
    await watcher.join("watcher")
    # A raw Engine.IO client that joins, then never answers a ping again:
    # what a phone that lost its network looks like to the server.
    async with aiohttp.ClientSession() as http:
        ws = await raw_socketio(http, url)
        await ws.send_str('42["join","lost"]')
        await watcher.inbox.wait("join", lambda n: n == "lost")
        assert await watcher.inbox.wait("leave", lambda n: n == "lost", timeout=5)
        await ws.close()
    await watcher.sio.disconnect()


async def test_typing_reaches_others_and_clears_on_send(sio_client) -> None:
    a = await sio_client()
    b = await sio_client()
    await a.join("alice")
    await b.join("bob")
    await a.emit("typing", True)
    assert await b.inbox.wait(
        "typing", lambda e: e == {"room": "lobby", "name": "alice", "typing": True}
    )
    await a.call("message", "sent")
    assert await b.inbox.wait("typing", lambda e: e["typing"] is False)
    assert a.inbox.of("typing") == []  # nobody sees their own indicator


async def test_joiner_gets_recent_history(make_server) -> None:
    server = await make_server(history=3)
    url = url_of(server)
    a = await SioClient().connect(url)
    await a.join("alice")
    for i in range(5):
        await a.call("message", f"m{i}")
    b = await SioClient().connect(url)
    await b.join("bob")
    await a.call("message", "after")
    history = await b.inbox.wait("history")
    assert [m["text"] for m in history["messages"]] == ["m2", "m3", "m4"]
    assert history["catchup"] is False and history["last_id"] == 5
    # History arrives before anything broadcast after the join.
    live = await b.inbox.wait("chat", lambda m: m["text"] == "after")
    events = [event for event, _ in b.inbox.items]
    assert events.index("history") < b.inbox.items.index(("chat", live))
    assert events.index("history") < events.index("join")  # its own notice
    for client in (a, b):
        await client.sio.disconnect()


async def test_reconnect_with_auth_gets_exactly_what_it_missed(sio_client) -> None:
    talker = await sio_client()
    await talker.join("talker")
    for i in range(3):
        await talker.call("message", f"before{i}")
    away = await sio_client(auth={"name": "away", "after": 0, "client": "tab-1"})
    first = await away.inbox.wait("history")
    assert first["catchup"] and [m["id"] for m in first["messages"]] == [1, 2, 3]
    await away.sio.disconnect()
    for i in range(2):
        await talker.call("message", f"missed{i}")
    back = await sio_client(auth={"name": "away", "after": 3, "client": "tab-1"})
    history = await back.inbox.wait("history")
    assert history["catchup"] is True
    assert [m["text"] for m in history["messages"]] == ["missed0", "missed1"]
    joined = await back.inbox.wait("joined")
    assert joined["name"] == "away"
    await talker.call("message", "live")
    live = await back.inbox.wait("chat")
    assert live["text"] == "live" and live["id"] == 6


async def test_reconnect_takes_over_its_own_stale_connection(sio_client) -> None:
    auth = {"name": "phone", "client": "tab-9"}
    watcher = await sio_client()
    await watcher.join("watcher")
    old = await sio_client(auth=auth)
    await old.inbox.wait("joined")
    new = await sio_client(auth=auth)  # before the old one timed out
    assert (await new.inbox.wait("joined"))["name"] == "phone"
    await eventually(lambda: not old.sio.connected)
    assert "phone" not in watcher.inbox.of("leave")
    impostor = await sio_client(auth={"name": "phone", "client": "other"})
    err = await impostor.inbox.wait("chat_error")
    assert err["code"] == "name_taken" and err["suggestion"] == "phone2"


@pytest.mark.slow
async def test_restart_keeps_history_and_catches_up_once(tmp_path: Path) -> None:
    # The page-reload catch-up (auth "after"), without standard recovery.
    config = Config(
        port=free_port(), db=str(tmp_path / "chat.db"), rate_limit=0, recovery_window=0
    )
    server = TestServer(create_app(config), port=config.port)
    await server.start_server()
    url = url_of(server)

    seen: list[int] = []
    reader = SioClient()

    @reader.sio.on("chat")
    async def on_chat(m: dict[str, Any], offset: str | None = None) -> None:
        seen.append(m["id"])

    @reader.sio.on("history")
    async def on_history(h: dict[str, Any], offset: str | None = None) -> None:
        seen.extend(m["id"] for m in h["messages"])

    def auth() -> dict[str, Any]:
        return {"name": "reader", "after": max(seen, default=0), "client": "r1"}

    await reader.sio.connect(
        url, auth=auth, transports=["websocket"], wait_timeout=TIMEOUT
    )
    writer = await SioClient().connect(url)
    await writer.join("writer")
    for i in range(2):
        assert (await writer.call("message", f"before{i}"))["ok"]
    await eventually(lambda: len(seen) >= 2)

    await server.close()  # the whole server goes away, connections and all
    assert not reader.sio.connected
    server = TestServer(create_app(config), port=config.port)
    await server.start_server()
    writer = await SioClient().connect(url)
    await writer.join("writer")
    for i in range(3):
        assert (await writer.call("message", f"after{i}"))["ok"]
    # This reader does not reconnect by itself (test_restart.py has ones
    # that do), so connect again the way it would: same auth callable, now
    # carrying the last id seen.
    await reader.sio.connect(
        url, auth=auth, transports=["websocket"], wait_timeout=TIMEOUT
    )

    await eventually(lambda: len(seen) >= 5, timeout=15)
    await asyncio.sleep(0.3)
    assert sorted(seen) == [1, 2, 3, 4, 5]
    await reader.sio.disconnect()
    await writer.sio.disconnect()
    await server.close()


@pytest.mark.slow
async def test_a_restart_does_not_flood_the_room(tmp_path: Path) -> None:
    """Members who reconnect within --shutdown-grace of a restart come back
    without a 'joined' line; the one who does not is seen to leave, once."""
    config = Config(  # clients that cannot recover: --shutdown-grace alone
        port=free_port(),
        db=str(tmp_path / "chat.db"),
        rate_limit=0,
        shutdown_grace=2,
        recovery_window=0,
    )
    server = TestServer(create_app(config), port=config.port)
    await server.start_server()
    url = url_of(server)
    auths = [{"name": n, "client": f"tab-{n}"} for n in ("ann", "bob", "cat")]
    first = [await SioClient().connect(url, auth=auth) for auth in auths]
    for client in first:
        await client.inbox.wait("joined")
    await server.close()  # a restart: everyone is disconnected
    server = TestServer(create_app(config), port=config.port)
    await server.start_server()
    ann, bob = [await SioClient().connect(url, auth=auth) for auth in auths[:2]]
    for client in (ann, bob):
        users = (await client.inbox.wait("joined"))["users"]
        assert sorted(users) == ["ann", "bob", "cat"]  # cat's name is still kept
    assert await ann.inbox.wait("user_left", lambda u: u["name"] == "cat", timeout=5)
    await asyncio.sleep(0.3)
    assert ann.inbox.of("user_joined") == []
    assert [u["name"] for u in ann.inbox.of("user_left")] == ["cat"]
    assert (await bob.call("join", {"name": "cat"}))["ok"]  # free now
    await bob.sio.disconnect()
    await ann.sio.disconnect()
    await server.close()
