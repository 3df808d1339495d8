"""Recovery's edges, spoken as raw Socket.IO over a real WebSocket.

The official client's CONNECT on reconnect is ``40{"pid", "offset", ...auth}``;
these tests send exactly that, including what a client never should (a
forged pid, the same pid twice at once).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from tests.helpers import TIMEOUT, ServerFactory, SioClient, eventually, url_of
from tests.redis_server import RedisServer
from tests.server_process import StartProcess
from web.keys import SERVICE

Raw = tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]


@pytest.fixture
async def server(make_server: ServerFactory) -> Any:
    return await make_server(recovery_window=120)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _raw(http: aiohttp.ClientSession, url: str, auth: Any = None) -> Raw:
    """A bare session; its CONNECT answer (``{"sid", "pid"?}``)."""
    ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket")
    assert (await ws.receive_str(timeout=TIMEOUT)).startswith("0{")
    await ws.send_str("40" + (json.dumps(auth) if auth is not None else ""))
    connected = await ws.receive_str(timeout=TIMEOUT)
    assert connected.startswith("40{"), connected
    return ws, json.loads(connected[2:])


async def _events(ws: aiohttp.ClientWebSocketResponse, until: str) -> list[Any]:
    """Socket.IO events (as lists) up to and including one named ``until``
    (``ack``: an ack, as ``["ack", ...its arguments]``)."""
    out: list[Any] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            text = await ws.receive_str()
            if text == "2":  # a ping
                await ws.send_str("3")
                continue
            if text.startswith("42"):
                out.append(json.loads(text[2:]))
            elif text.startswith("43"):
                out.append(["ack", *json.loads(text[2:].lstrip("0123456789"))])
            else:
                continue
            if out[-1][0] == until:
                return out


async def _joined(http: aiohttp.ClientSession, url: str, name: str) -> Raw:
    """A tutorial page: connects, joins once, has its history (and offset)."""
    ws, hello = await _raw(http, url)
    await ws.send_str("420" + json.dumps(["join", name]))
    events = await _events(ws, "ack")  # the session is stored by then
    history = next(e for e in events if e[0] == "history")
    hello["offset"] = history[-1]
    return ws, hello


async def _refused(http: aiohttp.ClientSession, url: str, auth: Any, old: str) -> Raw:
    """A recovery that must fail: a fresh sid, and the client told so."""
    back, answer = await _raw(http, url, auth)
    assert answer["sid"] != old
    assert (await _events(back, "chat_error"))[-1][1]["code"] == "not_recovered"
    return back, answer


async def _gone(server: Any, ws: aiohttp.ClientWebSocketResponse, sid: str) -> None:
    """The connection drops; the server has seen it go."""
    await ws.close()
    service = server.app[SERVICE]
    await eventually(lambda: service.presence.get("sio:" + sid) is None)


async def _peer(url: str) -> SioClient:
    peer = await SioClient().connect(url)
    await peer.join("peer")
    return peer


async def test_a_forged_pid_gets_a_fresh_connection_and_is_told(
    server: Any, http: aiohttp.ClientSession
) -> None:
    url = url_of(server)
    ws, hello = await _joined(http, url, "ann")
    forged = {"pid": "A" * 22, "offset": hello["offset"]}
    other, answer = await _raw(http, url, forged)
    assert answer["sid"] != hello["sid"] and answer["pid"] not in (
        forged["pid"],
        hello["pid"],
    )
    error = (await _events(other, "chat_error"))[-1][1]
    assert error["code"] == "not_recovered"
    await ws.close()
    await other.close()


async def test_two_reconnects_with_one_pid_one_wins(
    server: Any, http: aiohttp.ClientSession
) -> None:
    url = url_of(server)
    peer = await _peer(url)
    ws, hello = await _joined(http, url, "ann")
    await _gone(server, ws, hello["sid"])
    service = server.app[SERVICE]
    auth = {"pid": hello["pid"], "offset": hello["offset"]}
    (a, first), (b, second) = await asyncio.gather(
        _raw(http, url, auth), _raw(http, url, auth)
    )
    sids = sorted([first["sid"] == hello["sid"], second["sid"] == hello["sid"]])
    assert sids == [False, True]
    loser = b if first["sid"] == hello["sid"] else a
    assert (await _events(loser, "chat_error"))[-1][1]["code"] == "not_recovered"
    await peer.call("message", "one ann only")
    assert await peer.inbox.quiet("user_joined") == [
        {"room": "lobby", "name": "peer"},
        {"room": "lobby", "name": "ann"},
    ]
    assert [m for m in service.presence.members() if m.name == "ann"] != []
    assert len([m for m in service.presence.members() if m.name == "ann"]) == 1
    for sock in (a, b):
        await sock.close()


async def test_a_trimmed_history_is_said_to_be_gone(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    server = await make_server(room_cap=2, recovery_window=120)
    url = url_of(server)
    peer = await _peer(url)
    ws, hello = await _joined(http, url, "ann")
    await _gone(server, ws, hello["sid"])
    service = server.app[SERVICE]
    for n in range(5):
        await peer.call("message", f"line {n}")
    await service.store.prune(0)  # the cap keeps the last 2 of 5
    back, answer = await _raw(http, url, {k: hello[k] for k in ("pid", "offset")})
    assert answer == {"sid": hello["sid"], "pid": hello["pid"]}
    events = await _events(back, "message")
    assert events[0][0] == "chat_error" and events[0][1]["code"] == "history_gone"
    assert events[0][1]["missed"] == 3
    events += await _events(back, "message") + await _events(back, "message")
    lines = [e[1] for e in events if e[0] == "message"]
    assert lines[1:] == ["peer: line 3", "peer: line 4"]
    assert "3 messages" in lines[0]
    await back.close()


async def test_the_leave_waits_for_the_window(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    await _leave_waits(await make_server(recovery_window=0.6), http)


@pytest.mark.redis
async def test_the_leave_waits_for_the_window_on_redis(
    make_server: ServerFactory, http: aiohttp.ClientSession, redis_server: RedisServer
) -> None:
    server = await make_server(recovery_window=0.6, redis_url=redis_server.url)
    await _leave_waits(server, http)


async def _leave_waits(server: Any, http: aiohttp.ClientSession) -> None:
    url = url_of(server)
    peer = await _peer(url)
    ws, hello = await _joined(http, url, "ann")
    await ws.close()
    assert await peer.inbox.quiet("user_left", 0.3) == []  # not yet
    left = await peer.inbox.wait("user_left", timeout=3)
    assert left == {"room": "lobby", "name": "ann"}
    # Too late now: a fresh connection, and the name is free for others.
    auth = {k: hello[k] for k in ("pid", "offset")}
    back, _ = await _refused(http, url, auth, hello["sid"])
    assert await peer.inbox.wait("leave", lambda n: n == "ann", timeout=3)
    await back.close()


async def test_window_zero_keeps_the_old_wire_format(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    url = url_of(await make_server(recovery_window=0))
    ws, hello = await _raw(http, url)
    assert set(hello) == {"sid"}
    await ws.send_str("42" + json.dumps(["join", "ann"]))
    await _events(ws, "history")
    await ws.send_str("42" + json.dumps(["message", "hi"]))
    assert (await _events(ws, "message"))[-1] == ["message", "ann: hi"]
    await ws.close()


@pytest.mark.parametrize("window", [0, 120])
async def test_python_socketio_handlers(
    make_server: ServerFactory, window: int
) -> None:
    """A one-argument handler fails on the offset (python-socketio passes
    every argument); the documented fix, an optional second one, works."""
    url = url_of(await make_server(recovery_window=window))
    one: list[str] = []
    fixed: list[str] = []
    client = socketio.AsyncClient(reconnection=False)

    async def strict(text: str) -> None:
        one.append(text)

    async def tolerant(text: str, offset: str | None = None) -> None:
        fixed.append(text)

    client.on("message", strict)
    client.on("join", tolerant)
    await client.connect(url, transports=["websocket"], wait_timeout=TIMEOUT)
    try:
        await client.emit("join", "ann")
        await eventually(lambda: fixed == ["ann"])
        await client.emit("message", "hi")
        await asyncio.sleep(0.3)
        assert one == (["ann: hi"] if window == 0 else [])
    finally:
        await client.disconnect()


async def test_an_offset_from_another_history_recovers_nothing(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    """The database was replaced under the session: its ids mean nothing
    here, so nothing is replayed; a fresh connection, told so. The name is
    still given back when the window ends."""
    server = await make_server(recovery_window=1)
    url = url_of(server)
    peer = await _peer(url)
    ws, hello = await _joined(http, url, "ann")
    await _gone(server, ws, hello["sid"])
    other = "0123456789abcdef:" + hello["offset"].rpartition(":")[2]
    back, _ = await _refused(
        http, url, {"pid": hello["pid"], "offset": other}, hello["sid"]
    )
    assert await peer.inbox.wait("leave", lambda n: n == "ann", timeout=3)
    await back.close()


async def test_flood_limits_carry_over_a_recovery(
    make_server: ServerFactory, http: aiohttp.ClientSession
) -> None:
    """A recovered connection is the same connection: its spent burst stays
    spent (a reconnect is no way around --rate-limit)."""
    server = await make_server(recovery_window=120, rate_limit=0.1, rate_burst=2)
    url = url_of(server)
    ws, hello = await _joined(http, url, "ann")
    for n in range(2):
        await ws.send_str("42" + json.dumps(["message", f"line {n}"]))
        await _events(ws, "message")
    await _gone(server, ws, hello["sid"])
    back, answer = await _raw(http, url, {k: hello[k] for k in ("pid", "offset")})
    assert answer["sid"] == hello["sid"]
    await back.send_str("42" + json.dumps(["message", "one more"]))
    error = (await _events(back, "chat_error"))[-1][1]
    assert error["code"] == "rate_limited", error
    await back.close()


@pytest.mark.redis
async def test_a_recovery_while_redis_is_away_is_refused_then_works(
    make_server: ServerFactory, http: aiohttp.ClientSession, durable_redis: RedisServer
) -> None:
    """Sessions live in Redis: while it is away a recovery is refused at
    once (not held up), and the session is still there when it is back."""
    server = await make_server(redis_url=durable_redis.url, recovery_window=120)
    url = url_of(server)
    ws, hello = await _joined(http, url, "ann")
    await _gone(server, ws, hello["sid"])
    auth = {k: hello[k] for k in ("pid", "offset")}
    durable_redis.stop()
    async with asyncio.timeout(5):
        refused, _ = await _refused(http, url, auth, hello["sid"])
    await refused.close()
    await durable_redis.start()
    back, answer = await _raw(http, url, auth)
    assert answer == {"sid": hello["sid"], "pid": hello["pid"]}
    await back.close()


async def test_a_crash_left_session_ends_with_its_window(
    tmp_path: Path, start_process: StartProcess, http: aiohttp.ClientSession
) -> None:
    """After kill -9 the session stored while up is recoverable while the
    restarted server holds its name (the window), and not after."""
    server = await start_process(tmp_path / "chat.db", "--recovery-window", "1")
    ws, hello = await _joined(http, server.url, "ann")
    await server.kill()
    await ws.close()
    await server.start()
    await asyncio.sleep(1.5)  # the window ends: the name is given back
    auth = {k: hello[k] for k in ("pid", "offset")}
    back, _ = await _refused(http, server.url, auth, hello["sid"])
    await back.close()
