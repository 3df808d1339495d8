"""What nginx says about the client overwrites what the client says itself.

The servers trust nginx (--trusted-proxies), so a header nginx passed on
unchanged would be believed: X-Forwarded-Host passes the origin check for
any site, X-Forwarded-Prefix goes into the page's links.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from config import Config
from tests.nginx_server import Nginx

pytestmark = [pytest.mark.nginx, pytest.mark.redis]
EVIL = "evil.example"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Only the chat's own pages may write (not any origin, the default)."""
    return Config(
        port=0,
        db=str(tmp_path / "chat.db"),
        rate_limit=0,
        cors_origins="https://chat.example",
    )


@pytest.mark.parametrize("conf", ["nginx.conf", "nginx-subpath.conf"])
async def test_a_forged_forwarded_host_is_not_believed(proxy, conf: str) -> None:
    nginx: Nginx = await proxy(conf)
    base = nginx.url + ("/chat" if conf == "nginx-subpath.conf" else "")
    forged = {"Origin": f"http://{EVIL}", "X-Forwarded-Host": EVIL}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            base + "/api/session", json={"name": "mallory"}, headers=forged
        ) as resp:
            assert resp.status == 403, await resp.text()
        # nginx's own word is still believed: the page's origin passes.
        own = {"Origin": "http://127.0.0.1"}
        async with http.post(
            base + "/api/session", json={"name": "alice"}, headers=own
        ) as resp:
            assert resp.status == 201, await resp.text()


async def test_a_forged_forwarded_prefix_is_not_reflected(proxy) -> None:
    nginx: Nginx = await proxy("nginx.conf")
    async with aiohttp.ClientSession() as http:
        headers = {"X-Forwarded-Prefix": "/evil"}
        async with http.get(nginx.url + "/", headers=headers) as resp:
            page = await resp.text()
    assert resp.status == 200
    assert "/evil" not in page
    assert 'data-base=""' in page
