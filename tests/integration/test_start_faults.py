"""A store the server cannot use at start: one line, exit status 1, untouched.

Each case runs the real ``python app.py``. As root, the permission cases run
it without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv), so file modes
stop it as they stop any other user.
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import free_port, need
from tests.server_process import StartProcess, run_once

DROP_DAC = "-dac_override,-dac_read_search"


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every name under ``directory`` and the bytes of each file."""
    seen: dict[str, bytes | None] = {}
    for path in sorted(directory.rglob("*")):
        seen[str(path.relative_to(directory))] = (
            path.read_bytes() if path.is_file() else None
        )
    return seen


def garbage(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(8192))


def sqlite_db(path: Path, table: str = "rooms") -> None:
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE {table} (x)")
    db.close()


def directory(path: Path) -> None:
    path.mkdir()


def foreign(path: Path) -> None:
    sqlite_db(path, table="invoices")


def misshapen(path: Path) -> None:
    sqlite_db(path, table="messages")  # ours by name, not by columns


CASES: dict[str, tuple[Callable[[Path], None], int | None, str, str]] = {
    # name: (make the bad path, its mode, words the one line must hold, db path)
    "garbage": (garbage, None, "not a SQLite database", "chat.db"),
    "unreadable": (sqlite_db, 0o000, "permission denied", "chat.db"),
    "read-only": (sqlite_db, 0o444, "permission denied", "chat.db"),
    "directory": (directory, None, "is a directory", "chat.db"),
    "no such directory": (lambda p: None, None, "does not exist", "gone/chat.db"),
    "another program's database": (foreign, None, "not a chat database", "chat.db"),
    "a misshapen database": (misshapen, None, "not a usable chat database", "chat.db"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_database_stops_the_start_in_one_line(tmp_path: Path, case: str) -> None:
    make, mode, words, name = CASES[case]
    home = tmp_path / "data"
    home.mkdir()
    path = home / name
    make(path)
    before = snapshot(home)
    prefix: list[str] = []
    if mode is not None:
        path.chmod(mode)
        if os.geteuid() == 0:
            drop = [f"--inh-caps={DROP_DAC}", f"--bounding-set={DROP_DAC}"]
            prefix = [need("setpriv"), *drop, "--"]

    result = run_once(["--port", "0", "--db", str(path)], prefix=prefix)

    if mode is not None:
        path.chmod(0o644)
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and words in lines[0], lines[0]
    assert snapshot(home) == before  # nothing written, created or truncated


def test_an_unreachable_redis_stops_the_start_in_one_line(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_once(["--port", "0", "--redis-url", url])
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and "Redis is unreachable" in lines[0], result.stderr


async def test_a_second_server_on_one_database_stops_in_one_line(
    tmp_path: Path, start_process: StartProcess
) -> None:
    """Two processes on one file would give out the same ids."""
    db = tmp_path / "chat.db"
    first = await start_process(db)
    result = run_once(["--port", "0", "--db", str(db)])
    lines = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert str(db) in lines[0] and "in use by another server process" in lines[0]
    assert (await first.get("/healthz"))[0] == 200  # the first is untouched
    await first.stop()
    second = await start_process(db)  # free once the first has gone
    assert (await second.get("/healthz"))[0] == 200
