"""The SQLite store under real file faults: removed, replaced, read-only."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from chat.history import StoreFailed
from chat.models import NewMessage
from store import sqlite as sqlite_module
from store.sqlite import SQLiteStore
from tests.helpers import remove_database


def msg(text: str) -> NewMessage:
    return NewMessage("a", "bob", text, 1_000)


Opener = Callable[[Path], Awaitable[SQLiteStore]]


@pytest.fixture
def opened(sqlite_store: Callable[..., Awaitable[SQLiteStore]]) -> Opener:
    async def open_store(path: Path) -> SQLiteStore:
        return await sqlite_store(path, days=1, cap=5)

    return open_store


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_removed_database_refuses_writes_until_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, opened: Opener
) -> None:
    path = tmp_path / "chat.db"
    store = await opened(path)
    await store.append_many([msg("kept")])
    assert await store.problem() is None
    remove_database(path)

    # Noticed without a write, as /healthz asks.
    assert "was removed" in (await store.problem() or "")
    for _ in range(3):
        with pytest.raises(StoreFailed, match="database file was removed"):
            await store.append_many([msg("lost")])
    with pytest.raises(StoreFailed):
        await store.prune(0)
    # A file that reappears is another database: still refused.
    path.touch()
    with pytest.raises(StoreFailed, match="removed"):
        await store.append_many([msg("lost")])
    assert [m.text for m in await store.recent("a", 10)] == ["kept"]
    assert len(errors(caplog)) == 1, errors(caplog)  # once, not per write
    assert str(path) in errors(caplog)[0]
    await store.close()
    assert path.stat().st_size == 0  # closing left the newcomer alone


@pytest.mark.parametrize("which", ["", "-wal"])
async def test_a_replaced_file_refuses_writes(
    tmp_path: Path, which: str, opened: Opener
) -> None:
    path = tmp_path / "chat.db"
    store = await opened(path)
    other = await opened(tmp_path / "other.db")
    await other.append_many([msg("elsewhere")])
    os.replace(f"{tmp_path}/other.db{which}", f"{path}{which}")
    with pytest.raises(StoreFailed, match="replaced by another file"):
        await store.append_many([msg("lost")])
    assert await store.problem() == (
        f"{'its WAL file' if which else 'the database file'} "
        "was replaced by another file while the server ran"
    )


async def test_a_removed_wal_refuses_writes(tmp_path: Path, opened: Opener) -> None:
    path = tmp_path / "chat.db"
    store = await opened(path)
    Path(f"{path}-wal").unlink()
    with pytest.raises(StoreFailed, match="its WAL file was removed"):
        await store.append_many([msg("lost")])


async def test_the_watch_is_quiet_through_checkpoints(
    tmp_path: Path, opened: Opener
) -> None:
    store = await opened(tmp_path / "chat.db")
    # Well past SQLite's 1000-page automatic checkpoint, and a prune.
    for group in range(30):
        await store.append_many([msg(f"{group}:{i}" + "x" * 1500) for i in range(100)])
    assert await store.prune(10**15) == 3000
    assert await store.problem() is None
    (last,) = await store.append_many([msg("last")])
    assert last.id == 3001


async def test_a_read_only_file_refuses_writes_and_recovers(
    tmp_path: Path,
    immutable: Callable[[bool, list[Path]], None],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    opened: Opener,
) -> None:
    monkeypatch.setattr(sqlite_module, "PROBE_EVERY", 0.0)
    path = tmp_path / "chat.db"
    store = await opened(path)
    await store.append_many([msg("1")])
    files = [path, Path(f"{path}-wal")]
    immutable(True, files)

    for _ in range(3):
        with pytest.raises(StoreFailed, match="the database file is read-only"):
            await store.append_many([msg("refused")])
    assert await store.problem() == "the database file is read-only"
    assert [m.text for m in await store.recent("a", 10)] == ["1"]
    assert len(errors(caplog)) == 1, errors(caplog)

    immutable(False, files)
    assert await store.problem() is None  # a test write shows it passed
    assert "saved again" in caplog.records[-1].getMessage()
    (second,) = await store.append_many([msg("2")])
    assert second.id == 2  # the refused ones took no ids
    assert [m.text for m in await store.recent("a", 10)] == ["1", "2"]


async def test_a_failed_write_from_a_bug_is_not_a_fault(
    tmp_path: Path, opened: Opener
) -> None:
    store = await opened(tmp_path / "chat.db")
    with pytest.raises(sqlite3.IntegrityError):
        await store.append_many([NewMessage("a", "bob", None, 1)])  # type: ignore[arg-type]
    assert await store.problem() is None
