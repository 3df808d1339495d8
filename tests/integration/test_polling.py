"""Engine.IO long-polling POSTs: any number of packets, bounded size, bad bytes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import aiohttp
import pytest

from events.server import MAX_PACKET
from tests.helpers import TIMEOUT, polling_session
from tests.server_process import StartProcess


async def test_a_post_of_many_packets_is_taken_whole(url: str) -> None:
    """More than python-engineio's 16 packets a payload, as Node's server does."""
    count = 100
    async with aiohttp.ClientSession() as http:
        endpoint = await polling_session(http, url)
        packets = ['42["join","poster"]'] + [
            f'42{count + n}["message","line {n}"]' for n in range(count)
        ]
        async with http.post(endpoint, data="\x1e".join(packets)) as resp:
            assert resp.status == 200
        acks: list[str] = []
        async with asyncio.timeout(TIMEOUT):
            while len(acks) < count:
                async with http.get(endpoint) as resp:
                    assert resp.status == 200
                    acks += [
                        p for p in (await resp.text()).split("\x1e") if p[:2] == "43"
                    ]
    replies = [json.loads(p[p.index("[") :])[0] for p in acks]
    assert [r["id"] for r in replies] == list(range(1, count + 1))


async def test_a_post_over_the_limit_is_refused_at_once_and_ends_the_session(
    url: str,
) -> None:
    async with aiohttp.ClientSession() as http:
        endpoint = await polling_session(http, url)
        body = '42["message","' + "x" * MAX_PACKET + '"]'
        async with asyncio.timeout(TIMEOUT):
            async with http.post(endpoint, data=body) as resp:
                assert resp.status == 413
            async with http.get(endpoint) as resp:
                assert resp.status == 400  # the session is gone


async def test_invalid_utf8_is_answered_with_400_and_one_line(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with aiohttp.ClientSession() as http:
        endpoint = await polling_session(http, url)
        caplog.clear()
        caplog.set_level(logging.INFO)
        async with http.post(endpoint, data=b'42["message","\xff\xfe"]') as resp:
            assert resp.status == 400
            assert "UTF-8" in await resp.text()
    problems = [r for r in caplog.records if "UTF-8" in r.getMessage()]
    assert len(problems) == 1
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.slow
@pytest.mark.parametrize("declared", [MAX_PACKET * 4, MAX_PACKET // 2])
async def test_a_stalled_post_does_not_hold_a_shutdown(
    tmp_path: Path, start_process: StartProcess, declared: int
) -> None:
    """A client that declares a body (too big, or not) and stops sending."""
    server = await start_process(tmp_path / "chat.db")
    async with aiohttp.ClientSession() as http:
        endpoint = await polling_session(http, server.url)
    path = endpoint.removeprefix(server.url)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {declared}\r\n\r\n".encode()
        + b'42["message","'
        + b"x" * 1000
    )
    await writer.drain()
    await asyncio.sleep(0.3)  # the request is being handled
    started = time.monotonic()
    code = await server.stop()
    took = time.monotonic() - started
    writer.close()
    assert code == 0
    assert took < 5.0, f"stop took {took:.1f} s"
    assert "Traceback" not in server.stderr
