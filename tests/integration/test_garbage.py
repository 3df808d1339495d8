"""Garbage on every door of the real process: it answers and keeps serving."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import SioClient, raw_socketio
from tests.server_process import StartProcess


@pytest.mark.slow
async def test_the_real_process_survives_garbage_on_every_door(
    tmp_path: Path, start_process: StartProcess
) -> None:
    server = await start_process(tmp_path / "chat.db")
    watcher = await SioClient().connect(server.url)
    await watcher.join("watcher")
    async with aiohttp.ClientSession() as http:
        # Socket.IO over WebSocket: answered, then cut off after ten.
        ws = await raw_socketio(http, server.url)
        for junk in ['42["message"', "4Z", "451-[]", "9", "42{{"] * 2:
            await ws.send_str(junk)
        answers = []
        while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            answers.append(msg.data)
        assert any('"bad_packet"' in a for a in answers)
        assert msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
        # Engine.IO long polling: a session that does not exist.
        async with http.post(
            server.url + "/socket.io/?EIO=4&transport=polling&sid=nope", data="x"
        ) as resp:
            assert resp.status == 400
        # The plain WebSocket door: an error frame each, then 1009.
        plain = await http.ws_connect(server.url + "/ws")
        for junk in (b"\x00\xff", "{nope", '{"type": 5}', "[]"):
            if isinstance(junk, bytes):
                await plain.send_bytes(junk)
            else:
                await plain.send_str(junk)
            frame = await plain.receive_json(timeout=5)
            assert frame["type"] == "system" and frame["error"]["code"]
        await plain.send_str("x" * 200_000)
        msg = await plain.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        # HTTP: bodies that are not JSON, or far too big.
        for kwargs, status in (
            ({"data": "{", "headers": {"Content-Type": "application/json"}}, 400),
            ({"data": "name=x"}, 415),
            (
                {
                    "data": "x" * 100_000,
                    "headers": {"Content-Type": "application/json"},
                },
                413,
            ),
        ):
            async with http.post(server.url + "/api/session", **kwargs) as resp:
                assert resp.status == status
                assert (await resp.json())["error"]["code"]
    # Not even HTTP.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
    await writer.drain()
    assert (await reader.read(100)).split(b" ")[1] == b"400"
    writer.close()
    # Everyone else was served all along.
    assert server.returncode() is None
    assert (await watcher.call("message", "still here"))["ok"]
    assert (await server.get("/healthz"))[0] == 200
    await watcher.sio.disconnect()
    assert await server.stop() == 0
    assert "Traceback" not in server.stderr
