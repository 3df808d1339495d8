"""Engine.IO WebSockets served by the listener itself (plumbing.upgrade,
plumbing.ws_protocol): no aiohttp request behind an idle session, the
WebSocket protocol's duties done, and the same chat when the app runs
under aiohttp's own server instead."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app import create_app
from config import Config
from plumbing.ws_frames import CLOSE, CONTINUATION, PING
from tests.helpers import (
    TIMEOUT,
    SioClient,
    masked_frame,
    raw_socketio,
    url_of,
)
from web.keys import UPGRADES


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_an_idle_session_holds_no_aiohttp_request(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    sockets = [await raw_socketio(http, url_of(server)) for _ in range(3)]
    async with http.get(url_of(server) + "/healthz") as resp:  # aiohttp's
        assert resp.status == 200
    assert server.runner is not None and server.runner.server is not None
    assert len(server.runner.server.connections) <= 1  # the keep-alive GET's
    for ws in sockets:
        await ws.close()


async def test_small_frames_are_not_held_back(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    """TCP_NODELAY, as aiohttp sets it for its connections: without it a
    line waits for the ack of the one before (Nagle)."""
    ws = await raw_socketio(http, url_of(server))
    engine = server.app[UPGRADES].__self__  # type: ignore[attr-defined]
    (link,) = engine.sockets.values()
    sock = link.wire.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    await ws.close()


async def test_pings_are_answered_and_a_close_is_returned(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    ws = await raw_socketio(http, url_of(server), autoping=False)
    await ws.ping(b"are you there")
    pong = await ws.receive(timeout=TIMEOUT)
    assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are you there")
    await ws.close(code=4000, message=b"bye")
    assert ws.close_code == 4000  # echoed, as RFC 6455 5.5.1 asks


async def test_a_broken_frame_closes_that_connection_only(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    url = url_of(server)
    other = await SioClient().connect(url)
    await other.join("ann")
    ws = await raw_socketio(http, url)
    ws._writer.transport.write(b"\x81\x02hi")  # type: ignore[union-attr]  # unmasked
    closed = await ws.receive(timeout=TIMEOUT)
    assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 1002
    assert (await other.call("message", "still here"))["ok"]
    await other.sio.disconnect()


async def test_a_client_that_sends_too_much_is_refused_with_1009(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    ws = await raw_socketio(http, url_of(server))
    await ws.send_str("4" + "x" * 70_000)  # over the 64 KB a packet may be
    closed = await ws.receive(timeout=TIMEOUT)
    assert closed.type is aiohttp.WSMsgType.CLOSE and closed.data == 1009


async def test_a_message_in_fragments_is_one_message(
    server: TestServer, http: aiohttp.ClientSession
) -> None:
    url = url_of(server)
    ws = await raw_socketio(http, url)
    transport = ws._writer.transport  # type: ignore[union-attr]
    join = b'421["join","bob"]'
    transport.write(masked_frame(join[:5], fin=False))
    transport.write(masked_frame(b"", PING))
    transport.write(masked_frame(join[5:], CONTINUATION))
    async with asyncio.timeout(TIMEOUT):
        while True:
            msg = await ws.receive()
            if msg.type is aiohttp.WSMsgType.TEXT and msg.data.startswith("431"):
                assert '"ok":true' in msg.data  # the join's ack
                break
    transport.write(masked_frame(struct.pack("!H", 1000), CLOSE))
    await ws.close()


async def test_under_aiohttps_own_server_the_chat_works_the_same(
    aiohttp_server: object, config: Config
) -> None:
    """An app served by another runner than ``python app.py``'s listener:
    aiohttp then serves the WebSockets (events.link.Link.run)."""
    server: TestServer = await aiohttp_server(create_app(config))  # type: ignore[operator]
    url = url_of(server)
    ann = await SioClient().connect(url)
    bob = await SioClient().connect(url, transports=["polling", "websocket"])
    await ann.join("ann")
    await bob.join("bob")
    assert (await ann.call("message", "hi bob"))["ok"]
    assert (await bob.inbox.wait("chat"))["text"] == "hi bob"
    assert bob.sio.transport() == "websocket"  # upgraded from polling
    await ann.sio.disconnect()
    await bob.sio.disconnect()
