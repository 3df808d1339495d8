"""Faults of the disk and the database file under the real server process.

Each test runs ``python app.py`` and talks to it with real clients; the
faults are real too: files removed, a file made immutable (chattr +i, which
stops root as well), a small tmpfs filled up.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SioClient, eventually, remove_database
from tests.server_process import ServerProcess, StartProcess


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

    async def healthy() -> dict[str, Any] | None:
        status, body = await health(server)
        return body if status == 200 else None

    body = await eventually(healthy, every=0.1)
    assert body["problem"] is None


def lines_with(server: ServerProcess, words: str) -> list[str]:
    return [line for line in server.stderr.splitlines() if words in line]


async def test_a_removed_database_is_noticed_and_refused(
    tmp_path: Path, start_process: StartProcess
) -> None:
    db = tmp_path / "chat.db"
    server = await start_process(db)
    alice = await writer(server, "alice")
    bob = await writer(server, "bob")
    assert (await post(alice, "before"))["id"] == 1
    assert (await health(server))[0] == 200
    remove_database(db)

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
    server = await start_process(db)
    assert (await health(server))[0] == 200
    again = await writer(server)
    assert (await post(again, "after"))["id"] == 1
    await again.sio.disconnect()


async def test_a_read_only_database_refuses_then_recovers_by_itself(
    tmp_path: Path,
    start_process: StartProcess,
    immutable: Callable[[bool, list[Path]], None],
) -> None:
    db = tmp_path / "chat.db"
    server = await start_process(db)
    alice = await writer(server)
    assert (await post(alice, "one"))["id"] == 1
    files = [db, tmp_path / "chat.db-wal"]
    immutable(True, files)

    for i in range(5):
        await refused(alice, f"refused {i}", "the database file is read-only")
    status, body = await health(server)
    assert status == 503 and body["problem"] == "the database file is read-only"
    reader = await SioClient().connect(server.url)  # the server stays up
    await reader.join("reader")
    history = await reader.inbox.wait("history")
    assert [m["text"] for m in history["messages"]] == ["one"]
    assert len(lines_with(server, "read-only")) == 1, server.stderr

    immutable(False, files)
    await healthy_again(server)
    assert len(lines_with(server, "saved again")) == 1, server.stderr
    assert (await post(alice, "two"))["id"] == 2  # refused ones took no id
    assert [m["text"] for m in await server.history("lobby")] == ["one", "two"]
    await alice.sio.disconnect()
    await reader.sio.disconnect()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs of its own, unmounted at teardown."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(path: Path) -> None:
    """Write to ``path`` until the disk is full (bounded: 4 MiB at most)."""
    with path.open("wb", buffering=0) as f:
        for _ in range(1024):
            try:
                f.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return
    raise AssertionError("the disk did not fill up")


async def test_a_full_disk_refuses_then_recovers_by_itself(
    small_disk: Path, start_process: StartProcess
) -> None:
    db = small_disk / "chat.db"
    server = await start_process(db)
    alice = await writer(server)
    assert (await post(alice, "one"))["id"] == 1
    filler = small_disk / "filler"
    fill(filler)

    for i in range(5):
        await refused(alice, f"refused {i}", "the disk is full")
    status, body = await health(server)
    assert status == 503 and body["problem"] == "the disk is full"
    assert len(lines_with(server, "disk is full")) == 1, server.stderr

    filler.unlink()
    await healthy_again(server)
    assert (await post(alice, "two"))["id"] == 2
    assert [m["text"] for m in await server.history("lobby")] == ["one", "two"]
    await alice.sio.disconnect()
    assert await server.stop() == 0
