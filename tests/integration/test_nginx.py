"""Through a real nginx running the configs shipped in deploy/, to two
processes' worth of servers sharing one real redis-server."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.helpers import api_session, from_address, next_frame
from tests.nginx_server import Nginx
from tests.node_client import TRANSPORTS, NodeClient

pytestmark = [pytest.mark.nginx, pytest.mark.redis, pytest.mark.node]


@pytest.fixture
async def nginx(proxy) -> Nginx:
    server: Nginx = await proxy("nginx.conf")
    return server


@pytest.fixture
async def subpath(proxy) -> Nginx:
    server: Nginx = await proxy("nginx-subpath.conf")
    return server


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_socket_io_client_through_nginx(nginx: Nginx, transport: str) -> None:
    """WebSocket upgrades pass; long-polling sticks to one process."""
    client = await NodeClient.start(nginx.url, transport)
    try:
        result = await client.result()
    finally:
        await client.close()
    assert result["transport"] == transport
    assert result["received"]["bob"]["chat"]["id"] == result["ack"]["id"]


async def test_plain_websocket_and_api_through_nginx(nginx: Nginx) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(nginx.url + "/ws")
        await ws.send_json({"type": "join", "name": "plain"})
        auth = await api_session(http, nginx.url, "poller")
        async with http.post(
            nginx.url + "/api/messages", json={"text": "hi"}, headers=auth
        ) as resp:
            assert resp.status == 201
        frame = await next_frame(ws, "usermsg")
        assert (frame["name"], frame["message"]) == ("poller", "hi")
        await ws.close()
        async with http.get(nginx.url + "/readyz") as resp:
            assert resp.status == 200


async def test_limits_see_the_real_client_behind_a_trusted_proxy(
    nginx: Nginx, cluster: list[TestServer]
) -> None:
    # Two clients on different addresses reach the servers through nginx,
    # so the servers see 127.0.0.1 for both; X-Forwarded-For tells them apart.
    async with from_address("127.0.0.2") as hammer:
        statuses = [
            (await hammer.get(nginx.url + "/api/users")).status for _ in range(70)
        ]
        assert statuses[0] == 200 and 429 in statuses
    async with from_address("127.0.0.3") as other:
        assert (await other.get(nginx.url + "/api/users")).status == 200
    # Straight to a server, from someone who is not a trusted proxy, a
    # forged header changes nothing: this address is limited as itself.
    direct = str(cluster[0].make_url("/api/users"))
    async with from_address("127.0.0.4") as liar:
        forged = {"X-Forwarded-For": "10.9.8.7"}
        statuses = [(await liar.get(direct, headers=forged)).status for _ in range(70)]
        assert 429 in statuses
    async with from_address("127.0.0.4") as liar:
        # Believed, another forged address would get a fresh burst of 60;
        # as it is, the bucket refills one request in 50 ms.
        forged = {"X-Forwarded-For": "10.9.8.6"}
        statuses = [(await liar.get(direct, headers=forged)).status for _ in range(20)]
        assert 429 in statuses


async def test_the_chat_under_a_sub_path(subpath: Nginx) -> None:
    base = subpath.url + "/chat"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/") as resp:
            page = await resp.text()
            assert resp.status == 200
        assert '<script src="/chat/socket.io/socket.io.js">' in page
        assert 'href="/chat/static/chat.css"' in page
        assert 'data-base="/chat"' in page
        for asset in ("/socket.io/socket.io.js", "/static/chat.js", "/static/chat.css"):
            async with http.get(base + asset) as resp:
                assert resp.status == 200, asset
        async with http.get(base + "/r/dev") as resp:
            assert 'data-room="dev"' in await resp.text()
        async with http.get(subpath.url + "/socket.io/socket.io.js") as resp:
            assert resp.status == 404  # nothing outside /chat/ is ours
    client = await NodeClient.start(subpath.url, "websocket", "--path=/chat/socket.io")
    try:
        assert (await client.result())["ack"]["ok"] is True
    finally:
        await client.close()
