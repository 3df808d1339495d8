"""Sessions that outlive their connection: Socket.IO connection-state recovery.

A dropped connection leaves a :class:`Session` in the history store (so it
survives a restart, and is shared by the processes of one Redis): its
Socket.IO id, its nickname and room, and the last message id the process
had delivered. A reconnect that brings the session's private ``pid`` and
its last ``offset`` within ``--recovery-window`` takes it back, atomically
(two racing reconnects: one wins), and gets exactly what it missed.

Offsets are ``"<epoch>:<id>"``: an offset from another database (a replaced
file, a flushed Redis) is recognised and recovers nothing rather than
replaying the wrong messages.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import orjson

from chat.history import HistoryStore
from chat.models import Member
from chat.tokens import token

log = logging.getLogger(__name__)
MAX_PID = 64
"""Characters; a longer ``pid`` is not one of ours and is not looked up."""


@dataclass(frozen=True, slots=True)
class Session:
    pid: str
    sid: str
    room: str
    name: str | None
    """None: a page that never joined (a spectator of the default room)."""
    client: str | None
    format: str
    epoch: str
    delivered: int
    """The room's last id delivered when the connection dropped: where the
    replay starts for a client that never received an offset."""
    expires: float
    process: str = ""
    """The run of the process that held the connection."""
    live: bool = False
    """Stored while connected (so that a crash leaves it behind): it may be
    taken back only once its process is gone."""
    door: str = "sio"
    """Where the connection was. Only a Socket.IO session is recovered; one
    of another door, kept over a restart, is taken by a rejoin with its
    ``client`` id (see :meth:`chat.resumption.Resumption.park`)."""

    @property
    def conn(self) -> str:
        """The connection id its name is held for: ``sid`` on its door."""
        return f"{self.door}:{self.sid}"

    def member(self) -> Member:
        """Whose name it holds (a session with a name)."""
        assert self.name is not None
        return Member(door=self.door, conn=self.conn, name=self.name, room=self.room)

    def dumps(self) -> str:
        return orjson.dumps(self).decode()

    @classmethod
    def loads(cls, raw: str) -> Session:
        return cls(**orjson.loads(raw))


@dataclass(frozen=True, slots=True)
class Resume:
    """A session taken back, and the id after which the client has nothing."""

    session: Session
    after: int


def offset(epoch: str, message_id: int) -> str:
    return f"{epoch}:{message_id}"


def parse_offset(value: object, epoch: str) -> int | None:
    """The message id in an offset of ``epoch``; None for any other value."""
    if not isinstance(value, str):
        return None
    head, _, tail = value.rpartition(":")
    if head != epoch or not tail.isdigit() or len(tail) > 18:
        return None
    return int(tail)


LIVE_FOR = 7 * 86_400.0
"""Seconds a live session is kept at most (one a crash left behind)."""


class Recovery:
    def __init__(
        self,
        store: HistoryStore,
        window: float,
        clock: Callable[[], float] = time.time,
        *,
        process: str = "",
    ) -> None:
        self._store = store
        self.window = window
        self._clock = clock
        self.process = process or secrets.token_hex(6)
        """This run: a restarted process is another one."""
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._pending: list[tuple[Session, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        return self.window > 0

    @staticmethod
    def new_pid() -> str:
        """Private to its client: random, never derived from the public sid."""
        return token(16)

    def expiry(self) -> float:
        return self._clock() + self.window

    async def keep(self, session: Session) -> None:
        """Store ``session`` until it expires; raises if the store cannot.

        Sessions kept while a write is under way go together in the next one:
        a join storm or a mass disconnect (a network blip, a proxy restart)
        is a few writes, not one (and one fsync) per connection.
        """
        done = asyncio.get_running_loop().create_future()
        self._pending.append((session, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        await done

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                rows = [(s.pid, s.dumps(), int(s.expires * 1000)) for s, _ in batch]
                try:
                    await self._store.save_sessions(rows)
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._writer = None

    def live(self, session: Session) -> Session:
        """``session`` as kept while its connection is up."""
        expires = self._clock() + LIVE_FOR
        return replace(session, process=self.process, live=True, expires=expires)

    async def forget(self, pid: str) -> None:
        """A deliberate goodbye: nothing to recover."""
        await self._store.take_session(pid, 0)

    async def take(self, pid: object, offset_value: object) -> Resume | None:
        """The session ``pid`` names, removed from the store; None when it is
        unknown, expired, already taken, or from another epoch. A store that
        fails refuses the recovery (the client starts afresh) rather than
        hold the handshake."""
        if not isinstance(pid, str) or not 0 < len(pid) <= MAX_PID:
            return None
        now_ms = int(self._clock() * 1000)
        try:
            raw = await self._store.take_session(pid, now_ms)
        except Exception as exc:
            log.warning("could not look up a session to recover: %s", exc)
            return None
        if raw is None:
            return None
        session = Session.loads(raw)
        epoch = self._store.epoch
        after = parse_offset(offset_value, epoch)
        # Refused: not a Socket.IO one, from another history (nothing to
        # trust), or live here (its drop not seen yet; on another process,
        # crashed or not yet aware, the recovery goes ahead and drops that
        # copy). The session is put back: its expiry still gives its name back.
        if (
            session.door != "sio"
            or session.epoch != epoch
            or (offset_value is not None and after is None)
            or (session.live and session.process == self.process)
        ):
            await self.keep(session)
            return None
        return Resume(session, session.delivered if after is None else after)

    async def stored(self) -> list[Session]:
        """Every session still kept (a restart holds their names); one that
        a crash left live holds its name for a window from now."""
        now = self._clock()
        out = []
        for raw in await self._store.sessions(int(now * 1000)):
            session = Session.loads(raw)
            if session.live:
                session = replace(session, expires=now + self.window)
            out.append(session)
        return out

    def expire_later(
        self, session: Session, gone: Callable[[Session], Awaitable[None]]
    ) -> None:
        """When the window ends, ``gone`` runs unless the session was taken
        back meanwhile (both take it from the store: exactly one wins)."""
        delay = max(0.0, session.expires - self._clock())
        loop = asyncio.get_running_loop()
        self._timers[session.pid] = loop.call_later(delay, self._expire, session, gone)

    def _expire(
        self, session: Session, gone: Callable[[Session], Awaitable[None]]
    ) -> None:
        self._timers.pop(session.pid, None)

        async def run() -> None:
            try:
                if await self._store.take_session(session.pid, 0) is not None:
                    await gone(session)
            except Exception:
                log.exception("expiring session of %r failed", session.name)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def taken(self, pid: str) -> None:
        """The session came back: its timer has nothing left to do."""
        timer = self._timers.pop(pid, None)
        if timer is not None:
            timer.cancel()

    async def stop(self) -> None:
        if self._writer is not None:  # the sessions of a shutdown's drops
            await asyncio.gather(self._writer, return_exceptions=True)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
