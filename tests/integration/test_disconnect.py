"""A Socket.IO connection that goes is forgotten by its door, whatever its leave did."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from tests.helpers import SioClient, eventually
from web.keys import SERVICE


async def test_a_failed_leave_still_drops_the_connection(
    server: TestServer,
    sio_client: Callable[..., Awaitable[SioClient]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = server.app[SERVICE]
    door = service.fanout._doors["sio"]  # noqa: SLF001 - what the fix cleans up

    async def failing_leave(conn: str) -> None:
        raise RuntimeError("an injected fault")

    alice = await sio_client()
    await alice.join("alice")
    assert door._subs  # noqa: SLF001
    monkeypatch.setattr(service, "leave", failing_leave)
    await alice.sio.disconnect()
    await eventually(lambda: not door._subs)  # noqa: SLF001
