"""One address cannot hold the server: per-address bounds on a real listener.

127.0.0.2 is a second client address on loopback: whatever 127.0.0.1 holds,
it still gets in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app import create_app
from config import Config
from tests.helpers import TIMEOUT, api_session, eventually, from_address, raw_socketio
from tests.server_process import ServerProcess
from web.listener import GuardedSite

Start = Callable[..., Awaitable[str]]


@pytest.fixture
async def start(config: Config) -> AsyncIterator[Start]:
    """The app behind the listener ``python app.py`` uses; its base URL."""
    runners: list[web.AppRunner] = []

    async def start(**changes: Any) -> str:
        app = create_app(dataclasses.replace(config, **changes))
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        runners.append(runner)
        site = GuardedSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site.port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def raw_socket(url: str, source: str = "127.0.0.1") -> socket.socket:
    """A TCP connection that never sends anything."""
    port = int(url.rsplit(":", 1)[1])
    sock = socket.socket()
    sock.bind((source, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def read_all(sock: socket.socket, timeout: float = TIMEOUT) -> bytes:
    """What the server sends until it closes the connection."""
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(timeout):
        while chunk := await loop.sock_recv(sock, 4096):
            data += chunk
    return data


async def test_one_address_past_its_connections_is_refused_on_every_door(
    start: Start,
) -> None:
    url = await start(max_connections_per_address=2)
    async with aiohttp.ClientSession() as http, from_address("127.0.0.2") as other:
        held = [await raw_socketio(http, url), await http.ws_connect(url + "/ws")]

        # Socket.IO: the CONNECT is answered with a CONNECT_ERROR saying why.
        ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket")
        assert (await ws.receive_str(timeout=TIMEOUT)).startswith("0{")
        await ws.send_str("40")
        refused = await ws.receive_str(timeout=TIMEOUT)
        assert refused.startswith("44{") and "too_many_connections" in refused
        assert "at most 2" in refused
        await ws.close()

        # /ws: closed with 1013 (try again later) and the reason.
        ws = await http.ws_connect(url + "/ws")
        closing = await ws.receive(timeout=TIMEOUT)
        assert closing.type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1013 and "at most 2" in closing.extra

        # A long poll: 429 and a JSON error.
        async with http.get(url + "/api/messages?wait=5") as resp:
            body = await resp.json()
            assert resp.status == 429, body
            assert body["error"]["code"] == "too_many_connections"
            assert resp.headers["Retry-After"] == "5"

        # Another address is not held to what this one holds.
        await (await raw_socketio(other, url)).close()

        # What is given back can be taken again.
        await held.pop().close()
        await eventually(lambda: _connects(http, url))
        for ws in held:
            await ws.close()


async def _connects(http: aiohttp.ClientSession, url: str) -> bool:
    ws = await http.ws_connect(url + "/ws")
    try:
        msg = await ws.receive(timeout=0.3)
    except TimeoutError:
        return True  # still open: admitted
    finally:
        await ws.close()
    return msg.type is not aiohttp.WSMsgType.CLOSE


async def test_a_connection_that_sends_no_request_is_closed(start: Start) -> None:
    url = await start(handshake_timeout=1.0)
    sock = await raw_socket(url)
    began = time.monotonic()
    try:
        assert await read_all(sock) == b""
    finally:
        sock.close()
    assert 0.8 < time.monotonic() - began < 3.0


async def test_unfinished_handshakes_are_bounded_per_address(start: Start) -> None:
    url = await start(max_handshakes_per_address=3, handshake_timeout=30.0)
    idle = [await raw_socket(url) for _ in range(3)]
    try:
        extra = await raw_socket(url)
        answer = await read_all(extra)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 429 "), answer
        assert b"too_many_connections" in answer
        async with from_address("127.0.0.2") as other:
            async with other.get(url + "/healthz") as resp:
                assert resp.status == 200
        # A request sent is a handshake finished: room for one more.
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(idle[0], b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                try:
                    async with http.get(url + "/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            assert await eventually(healthy)
    finally:
        for sock in idle:
            sock.close()


async def test_http_sessions_are_bounded_per_address(start: Start) -> None:
    url = await start(max_sessions_per_address=2)
    async with aiohttp.ClientSession() as http, from_address("127.0.0.2") as other:
        first = await api_session(http, url, "s1")
        await api_session(http, url, "s2")
        async with http.post(url + "/api/session", json={"name": "s3"}) as resp:
            body = await resp.json()
            assert resp.status == 429, body
            assert body["error"]["code"] == "too_many_connections"
            assert "HTTP API sessions" in body["error"]["message"]
        async with http.get(url + "/api/users") as resp:
            assert "s3" not in (await resp.json())["users"]  # no name was taken
        await api_session(other, url, "elsewhere")
        async with http.delete(url + "/api/session", headers=first) as resp:
            assert resp.status == 204
        await api_session(http, url, "s3")


@pytest.mark.timeout(60)
async def test_running_out_of_descriptors_is_said_once_and_on_readyz(
    tmp_path: Path,
) -> None:
    server = ServerProcess(
        str(tmp_path / "chat.db"),
        "--max-handshakes-per-address",
        "0",
        "--handshake-timeout",
        "60",
        log_dir=tmp_path,
        open_files=64,
    )
    await server.start()
    idle: list[socket.socket] = []
    # One connection kept alive from before: /readyz needs no new descriptor.
    connector = aiohttp.TCPConnector(limit=1, keepalive_timeout=60)
    try:
        async with aiohttp.ClientSession(connector=connector) as http:

            async def ready() -> tuple[int, Any]:
                async with http.get(server.url + "/readyz") as resp:
                    return resp.status, await resp.json()

            assert (await ready())[0] == 200
            for _ in range(80):  # more than the server has descriptors for
                idle.append(await raw_socket(server.url))
            await eventually(lambda: "out of file descriptors" in server.stderr)
            status, body = await ready()
            assert status == 503, body
            assert body["problem"].startswith("out of file descriptors")
            await asyncio.sleep(1.0)  # it keeps trying: still one line
            for sock in idle:
                sock.close()
            idle.clear()

            async def recovered() -> bool:
                return (await ready())[0] == 200

            await eventually(recovered, timeout=10)
        lines = server.stderr.splitlines()
        warnings = [line for line in lines if "out of file descriptors" in line]
        assert len(warnings) == 1, lines
        assert "WARNING" in warnings[0]
    finally:
        for sock in idle:
            sock.close()
        await server.stop()
