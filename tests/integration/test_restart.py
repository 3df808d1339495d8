"""A graceful restart: third-party Socket.IO clients come back by themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers import SioClient, eventually
from tests.node_client import TRANSPORTS
from tests.server_process import StartProcess


async def rejoining(
    url: str, name: str, transport: str, http: aiohttp.ClientSession
) -> tuple[SioClient, list[Any]]:
    """python-socketio's AsyncClient that joins in its connect handler, as a
    bot would, so every reconnect joins again; the join replies so far.

    On our HTTP session: python-engineio makes one of its own per connection
    attempt and, reconnecting across a restart, can leave one unclosed."""
    client = SioClient(reconnection=True, reconnection_delay=0.2, http_session=http)
    replies: list[Any] = []

    async def on_reply(reply: Any) -> None:
        replies.append(reply)

    @client.sio.on("connect")
    async def on_connect() -> None:
        join = {"name": name, "client": f"bot-{name}", "format": "structured"}
        await client.sio.emit("join", join, callback=on_reply)

    await client.connect(url, transports=[transport])
    await eventually(lambda: replies)
    return client, replies


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_clients_reconnect_by_themselves_across_a_restart(
    tmp_path: Path,
    start_process: StartProcess,
    transport: str,
    http: aiohttp.ClientSession,
) -> None:
    server = await start_process(tmp_path / "chat.db")
    (ann, ann_joins), (bob, bob_joins) = [
        await rejoining(server.url, name, transport, http) for name in ("ann", "bob")
    ]
    await ann.inbox.wait("user_joined", lambda u: u["name"] == "bob")
    seen = len(ann.inbox.items), len(bob.inbox.items)

    assert await server.stop() == 0  # SIGTERM: a deploy
    await server.start()  # the same port and database

    await eventually(lambda: len(ann_joins) == len(bob_joins) == 2, timeout=10)
    for replies, name in ((ann_joins, "ann"), (bob_joins, "bob")):
        assert replies[-1]["ok"] is True and replies[-1]["name"] == name, replies
    reply = await bob.call("message", "after the restart")
    assert reply["ok"] is True
    chat = await ann.inbox.wait("chat", lambda m: m["id"] == reply["id"])
    assert chat["name"] == "bob" and chat["text"] == "after the restart"
    # The names were kept for them: nobody was seen to leave or arrive.
    for client, before in zip((ann, bob), seen, strict=True):
        after = [event for event, _ in client.inbox.items[before:]]
        assert "user_left" not in after and "user_joined" not in after, after
    for client in (ann, bob):
        await client.sio.disconnect()
