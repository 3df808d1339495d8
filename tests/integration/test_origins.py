"""One cross-origin rule (--cors-origins) on every door."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.helpers import SioClient, url_of

GOOD = "http://good.example"
EVIL = "http://evil.example"


@pytest.fixture
async def guarded(make_server) -> TestServer:
    server: TestServer = await make_server(cors_origins=GOOD)
    return server


async def upgrade_status(url: str, origin: str | None) -> int:
    headers = {"Origin": origin} if origin else {}
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(url, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 101


@pytest.mark.parametrize("path", ["/ws", "/", "/socket.io/?EIO=4&transport=websocket"])
async def test_websocket_upgrades_follow_the_origin_rule(
    guarded: TestServer, path: str
) -> None:
    url = str(guarded.make_url(path))
    assert await upgrade_status(url, EVIL) in (400, 403)
    assert await upgrade_status(url, GOOD) == 101
    assert await upgrade_status(url, url_of(guarded)) == 101  # the server's own page
    assert await upgrade_status(url, None) == 101  # not a browser on another site


async def test_cross_site_writes_are_refused_and_change_nothing(
    guarded: TestServer,
) -> None:
    watcher = await SioClient().connect(url_of(guarded))
    await watcher.join("watcher")
    base = url_of(guarded) + "/api/session"
    async with aiohttp.ClientSession() as http:
        # A "simple" request, which a browser sends without asking first.
        simple = {"Origin": EVIL, "Content-Type": "text/plain"}
        async with http.post(base, data='{"name": "mallory"}', headers=simple) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == "forbidden_origin"
        async with http.post(
            base, json={"name": "mallory"}, headers={"Origin": EVIL}
        ) as resp:
            assert resp.status == 403
        # Without an origin, a body that is not JSON is refused all the same.
        async with http.post(
            base, data='{"name": "form"}', headers={"Content-Type": "text/plain"}
        ) as resp:
            assert resp.status == 415
        assert await watcher.inbox.quiet("join") == ["watcher"]
        async with http.post(
            base, json={"name": "friend"}, headers={"Origin": GOOD}
        ) as resp:
            assert resp.status == 201
            assert resp.headers["Access-Control-Allow-Origin"] == GOOD
    assert await watcher.inbox.wait("join", lambda n: n == "friend")
    await watcher.sio.disconnect()


async def test_the_default_lets_any_site_in(server: TestServer) -> None:
    url = str(server.make_url("/ws"))
    assert await upgrade_status(url, EVIL) == 101
