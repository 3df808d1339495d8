"""Faults of the disk and the database file under the real server process.

Each test runs ``python app.py`` and talks to it with real clients; the
faults are real too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import TIMEOUT, SioClient
from tests.server_process import ServerProcess

Start = Callable[[Path], Awaitable[ServerProcess]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Start the server on a database path; stopped (by PID) at teardown."""
    servers: list[ServerProcess] = []

    async def run(db: Path) -> ServerProcess:
        server = ServerProcess(str(db), log_dir=tmp_path)
        servers.append(server)
        return await server.start()

    yield run
    for server in servers:
        await server.stop()


async def writer(server: ServerProcess, name: str = "writer") -> SioClient:
    client = await SioClient().connect(server.url)
    await client.join(name)
    return client


async def post(client: SioClient, text: str) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call("message", text)
    return reply


async def refused(client: SioClient, text: str, words: str) -> None:
    reply = await post(client, text)
    assert not reply["ok"], reply
    assert reply["error"]["code"] == "store_failed", reply
    assert words in reply["error"]["message"], reply


async def health(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    status, body = await server.get("/healthz")
    assert body["ok"] is (status == 200), body
    return status, body


async def healthy_again(server: ServerProcess) -> None:
    """/healthz turns 200 by itself (the store tries a write each second)."""
    for _ in range(int(TIMEOUT / 0.1)):
        status, body = await health(server)
        if status == 200:
            assert body["problem"] is None
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still unhealthy: {body}")


def lines_with(server: ServerProcess, words: str) -> list[str]:
    return [line for line in server.stderr.splitlines() if words in line]


async def test_a_removed_database_is_noticed_and_refused(
    tmp_path: Path, start: Start
) -> None:
    db = tmp_path / "chat.db"
    server = await start(db)
    alice = await writer(server, "alice")
    bob = await writer(server, "bob")
    assert (await post(alice, "before"))["id"] == 1
    assert (await health(server))[0] == 200
    for name in (db, tmp_path / "chat.db-wal", tmp_path / "chat.db-shm"):
        name.unlink()

    status, body = await health(server)  # noticed before anyone posts
    assert status == 503 and "database file was removed" in body["problem"], body
    for i in range(8):
        await refused(alice, f"into the void {i}", "the database file was removed")
    db.touch()  # a file there again is another database: still refused
    await refused(alice, "still", "removed")
    assert (await health(server))[0] == 503
    assert [m["text"] for m in await bob.inbox.quiet("chat")] == ["before"]
    assert len(lines_with(server, "removed")) == 1, server.stderr  # logged once
    assert "restarted" in lines_with(server, "removed")[0]
    await alice.sio.disconnect()
    await bob.sio.disconnect()
    assert await server.stop() == 0
    assert db.stat().st_size == 0  # the old connection left the newcomer alone

    # A restart is the recovery: a new database, with a new epoch.
    server = await start(db)
    assert (await health(server))[0] == 200
    again = await writer(server)
    assert (await post(again, "after"))["id"] == 1
    await again.sio.disconnect()
