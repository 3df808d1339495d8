"""A dead group-commit task under the real server: refused, said, not hung."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from chat.models import Message, NewMessage
from tests.helpers import SioClient, url_of
from web.keys import SERVICE


async def test_posts_are_refused_and_health_says_why(
    server: TestServer,
    sio_client: Callable[..., Awaitable[SioClient]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = server.app[SERVICE]

    async def wrong_count(batch: Sequence[NewMessage]) -> list[Message]:
        return []  # an injected store bug: the commit task ends on it

    monkeypatch.setattr(service.store, "append_many", wrong_count)
    alice = await sio_client()
    await alice.join("alice")
    for text in ("first", "second"):  # the one in flight, then a later one
        reply = await alice.call("message", text)
        assert reply["error"]["code"] == "unavailable", reply
    async with aiohttp.ClientSession() as http:
        for path in ("/healthz", "/readyz"):
            async with http.get(url_of(server) + path) as resp:
                body = await resp.json()
                assert resp.status == 503, body
                assert "commit task ended" in body["problem"], body
