"""The plain WebSocket door with aiohttp's real client."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.helpers import TIMEOUT, next_frame, slow_commits
from web.json_messages import MAX_FRAME
from web.keys import SERVICE


async def next_error(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    while "error" not in (frame := await next_frame(ws, "system")):
        pass
    return frame


@pytest.fixture
async def ws_connect(url: str):
    async with aiohttp.ClientSession() as http:
        sockets: list[aiohttp.ClientWebSocketResponse] = []

        async def connect(path: str = "/ws") -> aiohttp.ClientWebSocketResponse:
            ws = await http.ws_connect(url + path)
            sockets.append(ws)
            return ws

        yield connect
        for ws in sockets:
            await ws.close()


@pytest.mark.parametrize("path", ["/ws", "/"])
async def test_tutorial_client_chats(ws_connect, path: str) -> None:
    alice = await ws_connect(path)
    bob = await ws_connect(path)
    await alice.send_json({"type": "join", "name": "alice"})
    await next_frame(alice, "system", message="alice 加入了群聊")
    await bob.send_json({"type": "join", "name": "bob"})
    await next_frame(alice, "system", message="bob 加入了群聊")
    users = await next_frame(bob, "users")
    assert users["users"] == ["alice", "bob"]
    await bob.send_json({"type": "usermsg", "message": "hi"})
    frame = await next_frame(alice, "usermsg")
    assert (frame["name"], frame["message"], frame["id"]) == ("bob", "hi", 1)
    await bob.close()
    await next_frame(alice, "system", message="bob 离开了群聊")


async def test_names_and_texts_are_html_escaped(ws_connect) -> None:
    ws = await ws_connect()
    await ws.send_json({"type": "join", "name": "<b>x</b>"})
    await ws.send_json({"type": "usermsg", "message": "<img src=x onerror=alert(1)>"})
    frame = await next_frame(ws, "usermsg")
    assert frame["name"] == "&lt;b&gt;x&lt;/b&gt;"
    assert frame["message"] == "&lt;img src=x onerror=alert(1)&gt;"


async def test_bare_text_is_a_message_once_joined(ws_connect) -> None:
    ws = await ws_connect()
    await ws.send_str("hello?")
    error = await next_error(ws)
    assert error["error"]["code"] == "not_joined"
    await ws.send_json({"type": "join", "name": "carol"})
    await ws.send_str("hello!")
    assert (await next_frame(ws, "usermsg"))["message"] == "hello!"


async def test_usermsg_with_name_joins_implicitly(ws_connect) -> None:
    ws = await ws_connect()
    await ws.send_json({"type": "usermsg", "name": "dave", "message": "first"})
    frame = await next_frame(ws, "usermsg")
    assert (frame["name"], frame["message"]) == ("dave", "first")


@pytest.mark.parametrize(
    ("send", "code"),
    [
        (lambda ws: ws.send_bytes(b"\x00\x01"), "bad_frame"),
        (lambda ws: ws.send_json({"type": "dance"}), "bad_frame"),
        (lambda ws: ws.send_json({"type": "usermsg", "message": ""}), "invalid_text"),
        (lambda ws: ws.send_json({"type": "usermsg", "message": 5}), "invalid_text"),
        (lambda ws: ws.send_json({"type": "typing", "typing": "y"}), "invalid_typing"),
        (lambda ws: ws.send_json({"type": "join", "name": "watcher"}), "name_taken"),
        (lambda ws: ws.send_str("x" * (MAX_FRAME + 1)), "frame_too_large"),
    ],
)
async def test_bad_frames_get_an_error_and_change_nothing(
    ws_connect, send, code
) -> None:
    watcher = await ws_connect()
    await watcher.send_json({"type": "join", "name": "watcher"})
    await next_frame(watcher, "users")
    ws = await ws_connect()
    await ws.send_json({"type": "join", "name": "eve"})
    await next_frame(ws, "users")
    await send(ws)
    error = await next_error(ws)
    assert error["error"]["code"] == code and error["message"]
    # The connection is still good, and the watcher saw no message.
    await ws.send_json({"type": "usermsg", "message": "after"})
    frame = await next_frame(watcher, "usermsg")
    assert frame["message"] == "after" and frame["id"] == 1


async def test_huge_frame_closes_only_that_connection(ws_connect) -> None:
    watcher = await ws_connect()
    await watcher.send_json({"type": "join", "name": "watcher"})
    ws = await ws_connect()
    await ws.send_str("x" * (8 * MAX_FRAME))
    msg = await ws.receive(timeout=TIMEOUT)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await watcher.send_json({"type": "usermsg", "message": "still fine"})
    assert (await next_frame(watcher, "usermsg"))["message"] == "still fine"


async def test_typing_goes_to_others_only(ws_connect) -> None:
    a = await ws_connect()
    b = await ws_connect()
    await a.send_json({"type": "join", "name": "a"})
    await next_frame(a, "users", users=["a"])
    await b.send_json({"type": "join", "name": "b"})
    await next_frame(a, "system", event="join", name="b")
    await a.send_json({"type": "typing", "typing": True})
    assert (await next_frame(b, "typing"))["name"] == "a"
    await a.send_json({"type": "usermsg", "message": "x"})
    # Everything a received up to its own message: no typing frame among it.
    seen = []
    async with asyncio.timeout(TIMEOUT):
        while not seen or seen[-1].get("type") != "usermsg":
            seen.append(await a.receive_json())
    assert [f["type"] for f in seen if f["type"] == "typing"] == []
    assert seen[-1]["message"] == "x"
    assert (await next_frame(b, "typing"))["typing"] is False  # b saw it stop


async def test_leave_frame(ws_connect) -> None:
    a = await ws_connect()
    b = await ws_connect()
    await a.send_json({"type": "join", "name": "a"})
    await next_frame(a, "users", users=["a"])
    await b.send_json({"type": "join", "name": "b"})
    await next_frame(a, "system", event="join", name="b")
    await a.send_json({"type": "leave"})
    await next_frame(b, "system", message="a 离开了群聊")
    await a.send_str("anyone?")
    assert (await next_error(a))["error"]["code"] == "not_joined"


async def test_server_pings_idle_connections(make_server) -> None:
    server = await make_server(ping_interval=0.2)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(server.make_url("/ws"), autoping=False)
        msg = await ws.receive(timeout=TIMEOUT)
        assert msg.type == aiohttp.WSMsgType.PING
        await ws.close()


async def test_history_on_join_and_catchup_with_after(ws_connect) -> None:
    talker = await ws_connect()
    await talker.send_json({"type": "join", "name": "talker"})
    for i in range(3):
        await talker.send_json({"type": "usermsg", "message": f"m{i}"})
        await next_frame(talker, "usermsg", message=f"m{i}")
    fresh = await ws_connect()
    await fresh.send_json({"type": "join", "name": "fresh"})
    frame = await next_frame(fresh, "usermsg")
    assert (frame["id"], frame["history"]) == (1, True)
    back = await ws_connect()
    await back.send_json({"type": "join", "name": "back", "after": 2})
    frame = await next_frame(back, "usermsg")
    assert frame["id"] == 3 and "history" not in frame


async def test_readers_miss_nothing_while_a_leave_is_under_way(
    server, ws_connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that closed while its leave has yet to run (made slow
    here) is skipped by broadcasts; the others get every line."""
    service = server.app[SERVICE]
    leave = service.leave

    async def slow_leave(conn: str) -> None:
        await asyncio.sleep(0.5)
        await leave(conn)

    monkeypatch.setattr(service, "leave", slow_leave)
    readers = [await ws_connect() for _ in range(6)]
    for i, ws in enumerate(readers):
        await ws.send_json({"type": "join", "name": f"reader{i}"})
        await next_frame(ws, "users")
    await readers[2].close()  # gone, its leave still to come
    await asyncio.sleep(0.1)
    await readers[0].send_json({"type": "usermsg", "message": "still here?"})
    for ws in readers[:2] + readers[3:]:
        await next_frame(ws, "usermsg", message="still here?")


async def test_a_slow_post_does_not_hold_the_next_frame(
    server, ws_connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await ws_connect(), await ws_connect()
    for ws, name in ((alice, "alice"), (bob, "bob")):
        await ws.send_json({"type": "join", "name": name})
        await next_frame(ws, "users")
    slow_commits(monkeypatch, server.app, 1.0)
    await alice.send_json({"type": "usermsg", "message": "slow"})
    await alice.send_json({"type": "typing", "typing": True})
    first = await next_frame(bob, "typing")  # not held behind the commit
    assert first["typing"] is True
    assert (await next_frame(bob, "usermsg"))["message"] == "slow"
