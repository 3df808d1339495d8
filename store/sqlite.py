"""SQLite history (WAL) through aiosqlite: nothing to install or start."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import aiosqlite

from chat.history import StoreFailed, retention_cutoff
from chat.models import Message, NewMessage
from chat.rules import MAX_ID
from store.health import Health
from store.last_ids import ROOMS_CACHED, LastIds
from store.sqlite_file import FileWatch, check_before_open, describe, lock, os_words

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS rooms (
        room TEXT PRIMARY KEY,
        last_id INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS messages (
        room TEXT NOT NULL,
        id INTEGER NOT NULL,
        name TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (room, id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS messages_ts ON messages (ts)",
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS sessions (
        pid TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        expires INTEGER NOT NULL
    ) WITHOUT ROWID""",
)
_COLUMNS = "room, id, name, text, ts"
_OURS = {"messages", "meta"}
PROBE_EVERY = 1.0
"""Seconds between test writes while writes fail (see problem())."""
T = TypeVar("T")


class SQLiteStore:
    def __init__(
        self,
        path: str,
        *,
        retention_days: float,
        room_cap: int,
        rooms_cached: int = ROOMS_CACHED,
    ) -> None:
        self._path = path
        self._conn: aiosqlite.Connection | None = None
        self._retention_days = retention_days
        self._room_cap = room_cap
        # Ids live in ``rooms`` rather than MAX(id) so pruning a room empty
        # never hands out an id a client has already seen.
        self._last = LastIds(rooms_cached)
        self.epoch = ""
        # One connection: serialise so a reader never sees a half-done write.
        self._lock = asyncio.Lock()
        self._health = Health(path)
        self._file = "" if path in ("", ":memory:") else path
        """The database file; empty when there is none to check."""
        self._watch: FileWatch | None = None
        self._probed = 0.0
        self._lock_fd = -1

    @property
    def _db(self) -> aiosqlite.Connection:
        assert self._conn is not None, "open() the store first"
        return self._conn

    async def open(self) -> None:
        if self._file:
            check_before_open(self._path)
            self._lock_fd = lock(self._path)
        try:
            db = await aiosqlite.connect(self._path)
        except sqlite3.Error as exc:
            self._unlock()
            raise self._unusable(exc) from None
        try:
            await self._refuse_foreign(db)
            # One transaction, before WAL mode: a schema that does not fit
            # leaves the file as it was.
            await db.execute("BEGIN")
            for statement in _SCHEMA:
                await db.execute(statement)
            # Made once per database: tells a resuming client whether its
            # last seen id still means anything here.
            await db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)",
                (secrets.token_hex(8),),
            )
            await db.commit()
            await db.execute("PRAGMA journal_mode=WAL")
            # FULL: a message acknowledged to its sender survives power loss.
            await db.execute("PRAGMA synchronous=FULL")
            async with db.execute("SELECT value FROM meta WHERE key = 'epoch'") as cur:
                row = await cur.fetchone()
            assert row is not None  # inserted just above if it was missing
            self.epoch = row[0]
            if self._file:
                self._watch = FileWatch(self._path)
        except sqlite3.Error as exc:
            await db.close()
            self._unlock()
            raise self._unusable(exc) from None
        except BaseException:
            await db.close()
            self._unlock()
            raise
        self._conn = db

    def _unlock(self) -> None:
        """After SQLite has closed the file (see sqlite_file.lock)."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _unusable(self, exc: sqlite3.Error) -> StoreFailed:
        why = describe(exc, self._file) or f"not a usable chat database ({exc})"
        return StoreFailed(f"{self._path}: {why}")

    async def _refuse_foreign(self, db: aiosqlite.Connection) -> None:
        """Another program's database is not ours to add tables to."""
        async with db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        ) as cursor:
            tables = sorted([name async for (name,) in cursor])
        if tables and not _OURS.intersection(tables):
            raise StoreFailed(
                f"{self._path}: not a chat database (it holds tables "
                f"{', '.join(tables[:5])}); left as it is"
            )

    async def append_many(self, batch: Sequence[NewMessage]) -> list[Message]:
        last: dict[str, int] = {}
        stored: list[Message] = []

        async def insert(db: aiosqlite.Connection) -> None:
            for room in dict.fromkeys(m.room for m in batch):
                last[room] = await self._read_last(db, room)
            for m in batch:
                last[m.room] += 1
                stored.append(Message(m.room, last[m.room], m.name, m.text, m.ts))
            await db.executemany(
                f"INSERT INTO messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                [(m.room, m.id, m.name, m.text, m.ts) for m in stored],
            )
            await db.executemany(
                "INSERT INTO rooms (room, last_id) VALUES (?, ?) "
                "ON CONFLICT (room) DO UPDATE SET last_id = excluded.last_id",
                list(last.items()),
            )

        await self._write(insert)
        self._last.update(last)
        return stored

    async def _read_last(self, db: aiosqlite.Connection, room: str) -> int:
        """The room's last id; read from ``rooms`` when not kept in memory.

        Called holding ``_lock``, so no write can come between the read and
        the caller's use of it.
        """
        last = self._last.get(room)
        if last is None:
            async with db.execute(
                "SELECT last_id FROM rooms WHERE room = ?", (room,)
            ) as cursor:
                row = await cursor.fetchone()
            last = 0 if row is None else int(row[0])
        return last

    async def _write(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """``work`` in one transaction, committed; or StoreFailed and no change."""
        async with self._lock:
            self._check_file()
            try:
                result = await work(self._db)
                self._check_file()  # nothing goes into a file that is gone
                await self._db.commit()
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):  # the first error says why
                    await self._db.rollback()
                problem = describe(exc, self._file)
                if problem is None:
                    raise  # a bug, not the machine: the caller logs it in full
                raise self._health.failed(problem) from exc
            # Gone during the COMMIT: the rows went into the lost file.
            self._check_file()
            self._health.ok()
            return result

    def _check_file(self) -> None:
        if self._health.final:
            raise StoreFailed(self._health.problem)
        try:
            gone = self._watch.gone() if self._watch is not None else None
        except OSError as exc:  # cannot stat the path: cannot vouch for it
            raise self._health.failed(
                f"the database file cannot be checked: {os_words(exc)}"
            ) from exc
        if gone is not None:
            raise self._health.failed(gone, final=True)

    async def _select(self, sql: str, *args: object) -> list[Message]:
        async with self._lock, self._db.execute(sql, args) as cursor:
            return [Message(*row) async for row in cursor]

    async def recent(
        self, room: str, limit: int, upto: int | None = None
    ) -> list[Message]:
        rows = await self._select(
            f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id <= ? "
            "ORDER BY id DESC LIMIT ?",
            room,
            MAX_ID if upto is None else upto,
            limit,
        )
        rows.reverse()
        return rows

    async def after(
        self, room: str, after_id: int, limit: int, upto: int | None = None
    ) -> list[Message]:
        return await self._select(
            f"SELECT {_COLUMNS} FROM messages WHERE room = ? AND id > ? AND id <= ? "
            "ORDER BY id LIMIT ?",
            room,
            after_id,
            MAX_ID if upto is None else upto,
            limit,
        )

    async def before(self, room: str, before_id: int, limit: int) -> list[Message]:
        if before_id <= 1:  # ids start at 1: nothing is before it
            return []
        return await self.recent(room, limit, upto=before_id - 1)

    async def last_id(self, room: str) -> int:
        last = self._last.get(room)
        if last is None:
            async with self._lock:
                last = await self._read_last(self._db, room)
                if last:
                    self._last.update({room: last})
        return last

    async def prune(self, now_ms: int) -> int:
        async def delete(db: aiosqlite.Connection) -> int:
            deleted = 0
            cutoff = retention_cutoff(now_ms, self._retention_days)
            if cutoff is not None:
                cursor = await db.execute(
                    "DELETE FROM messages WHERE ts < ?", (cutoff,)
                )
                deleted += cursor.rowcount
            if self._room_cap > 0:
                rooms = await db.execute_fetchall("SELECT room, last_id FROM rooms")
                for room, last in rooms:
                    cursor = await db.execute(
                        "DELETE FROM messages WHERE room = ? AND id <= ?",
                        (room, last - self._room_cap),
                    )
                    deleted += cursor.rowcount
            await db.execute("DELETE FROM sessions WHERE expires <= ?", (now_ms,))
            return deleted

        return await self._write(delete)

    async def problem(self) -> str | None:
        if self._health.problem is None:
            try:
                self._check_file()  # noticed even while nobody posts
            except StoreFailed as exc:
                return str(exc)
            return None
        now = time.monotonic()
        if not self._health.final and now - self._probed >= PROBE_EVERY:
            self._probed = now
            with contextlib.suppress(StoreFailed):
                await self._write(self._probe)
        return self._health.problem

    @staticmethod
    async def _probe(db: aiosqlite.Connection) -> None:
        # A changed value: SQLite writes nothing for an unchanged one.
        await db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('probed', ?)",
            (str(time.time_ns()),),
        )

    async def save_sessions(self, sessions: Sequence[tuple[str, str, int]]) -> None:
        async def write(db: aiosqlite.Connection) -> None:
            await db.executemany(
                "INSERT OR REPLACE INTO sessions (pid, value, expires)"
                " VALUES (?, ?, ?)",
                sessions,
            )

        await self._write(write)

    async def take_session(self, pid: str, now_ms: int) -> str | None:
        async def take(db: aiosqlite.Connection) -> str | None:
            async with db.execute(
                "DELETE FROM sessions WHERE pid = ? RETURNING value, expires", (pid,)
            ) as cursor:
                row = await cursor.fetchone()
            return None if row is None or row[1] <= now_ms else str(row[0])

        return await self._write(take)

    async def sessions(self, now_ms: int) -> list[str]:
        async with (
            self._lock,
            self._db.execute(
                "SELECT value FROM sessions WHERE expires > ?", (now_ms,)
            ) as cursor,
        ):
            return [str(row[0]) for row in await cursor.fetchall()]

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        self._unlock()
