"""The history store interface: what the core asks of a backend that keeps
every room's messages (SQLite in :mod:`store`, Redis Streams in
:mod:`cluster.history`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chat.models import Message, NewMessage


class StoreFailed(Exception):
    """The store cannot open, or cannot save messages now.

    ``str()`` says why in words for a person ("the disk is full"), without a
    traceback: these are faults of the machine, not of the code.
    """


class HistoryStore(Protocol):
    """Durable per-room message history.

    ``append_many`` assigns each message the next id of its room and returns
    only after the whole group is durable. Writes that fail for a reason of
    the machine (disk, file, server) raise :class:`StoreFailed` and change
    nothing; the store logs such a fault once, when it begins.
    """

    epoch: str
    """Random, made with the database: ids from another epoch mean nothing."""

    async def open(self) -> None:
        """Raises :class:`StoreFailed` when the store cannot be used at all."""
        ...

    async def append_many(self, batch: Sequence[NewMessage]) -> list[Message]: ...

    async def recent(
        self, room: str, limit: int, upto: int | None = None
    ) -> list[Message]:
        """The newest ``limit`` messages of ``room`` (with id <= ``upto``),
        oldest first."""
        ...

    async def after(
        self, room: str, after_id: int, limit: int, upto: int | None = None
    ) -> list[Message]:
        """Messages with id > ``after_id`` (and <= ``upto``), oldest first."""
        ...

    async def before(self, room: str, before_id: int, limit: int) -> list[Message]:
        """The newest ``limit`` messages with id < ``before_id``, oldest first:
        one page further back than the oldest a client has."""
        ...

    async def last_id(self, room: str) -> int:
        """The id given to the room's newest message, 0 if none ever was."""
        ...

    async def prune(self, now_ms: int) -> int:
        """Apply retention; returns how many messages were deleted."""
        ...

    async def problem(self) -> str | None:
        """None while messages can be saved; otherwise why not, for a person.

        After a failed write this may try a small one, so a fault that has
        passed shows as healthy without waiting for somebody to post.
        """
        ...

    async def save_sessions(self, sessions: Sequence[tuple[str, str, int]]) -> None:
        """Keep recoverable sessions (see :mod:`chat.recovery`), each a
        ``(pid, value, expires_ms)``, until they expire; in one write."""
        ...

    async def take_session(self, pid: str, now_ms: int) -> str | None:
        """Remove and return session ``pid`` if it expires after ``now_ms``;
        atomic, so that of two takers only one gets it."""
        ...

    async def sessions(self, now_ms: int) -> list[str]:
        """The sessions that expire after ``now_ms``."""
        ...

    async def close(self) -> None: ...


def retention_cutoff(now_ms: int, days: float) -> int | None:
    """Messages older than this (ms) are past ``--retention-days``; None: keep all."""
    return now_ms - int(days * 86_400_000) if days > 0 else None
