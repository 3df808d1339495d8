"""HTTP API sessions and the fan-out's ``http`` door.

A session is a token that holds a nickname in a room like a connection does,
until it has been idle for ``--session-ttl`` seconds. The door has no
sockets to write to: it wakes the long polls waiting on a room.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from chat.models import ChatEvent, Joined, Member, MessagePosted
from chat.rules import shutting_down
from web.bounds import PerAddress


@dataclass(eq=False, slots=True)
class Session:
    token: str
    conn: str
    owner: str
    """Keeps the session's nickname alive in a shared directory: ``s:<id>``."""
    expires: float = 0.0
    address: str = ""
    """Whose: sessions are bounded per address (--max-sessions-per-address)."""
    member: Member | None = None
    """Who joined through it, so that any process can act for it."""


def new_session(ttl: float, now: float, address: str = "") -> Session:
    return Session(
        token=secrets.token_urlsafe(24),
        conn="http:" + secrets.token_hex(8),
        owner="s:" + secrets.token_hex(8),
        expires=now + ttl,
        address=address,
    )


class SessionStore(Protocol):
    ttl: float

    async def create(self, address: str = "") -> Session: ...

    async def held(self, address: str) -> int:
        """Live sessions created from ``address``."""
        ...

    async def bind(self, session: Session, member: Member) -> None:
        """Remember who joined through ``session``."""
        ...

    async def get(self, token: str) -> Session | None:
        """The live session for ``token``, its idle timer restarted."""
        ...

    async def drop(self, token: str) -> None: ...

    async def drop_conn(self, conn: str) -> None:
        """End the session of a connection whose nickname was taken over."""
        ...

    async def expired(self) -> list[Session]:
        """Remove and return sessions idle past their TTL (shared sessions
        expire in Redis instead, and the directory's sweep says so)."""
        ...


class Sessions:
    """Sessions of one process, in memory."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._by_token: dict[str, Session] = {}
        self._per_address = PerAddress(0, "sessions")

    async def create(self, address: str = "") -> Session:
        session = new_session(self.ttl, self._clock(), address)
        self._by_token[session.token] = session
        self._per_address.take(address)
        return session

    async def held(self, address: str) -> int:
        return self._per_address.held(address)

    def _remove(self, session: Session) -> None:
        if self._by_token.pop(session.token, None) is not None:
            self._per_address.give(session.address)

    async def bind(self, session: Session, member: Member) -> None:
        session.member = member

    async def get(self, token: str) -> Session | None:
        session = self._by_token.get(token)
        if session is None or session.expires <= self._clock():
            return None
        session.expires = self._clock() + self.ttl
        return session

    async def drop(self, token: str) -> None:
        session = self._by_token.get(token)
        if session is not None:
            self._remove(session)

    async def drop_conn(self, conn: str) -> None:
        for session in list(self._by_token.values()):
            if session.conn == conn:
                self._remove(session)

    async def expired(self) -> list[Session]:
        now = self._clock()
        gone = [s for s in self._by_token.values() if s.expires <= now]
        for session in gone:
            self._remove(session)
        return gone


class HttpDoor:
    def __init__(self, sessions: SessionStore) -> None:
        self.sessions = sessions
        self._listening: dict[str, set[asyncio.Future[None]]] = {}
        self.closing = False

    @contextlib.contextmanager
    def listening(self, room: str) -> Iterator[asyncio.Future[None]]:
        """A future resolved by the next message in ``room``, or by shutdown.

        Take it before reading, so that a message stored in between cannot
        slip past both the read and the wait. Nothing is left behind when
        the block ends, however many rooms are read.
        """
        if self.closing:
            raise shutting_down()
        woken = asyncio.get_running_loop().create_future()
        listeners = self._listening.setdefault(room, set())
        listeners.add(woken)
        try:
            yield woken
        finally:
            listeners.discard(woken)
            if not listeners and self._listening.get(room) is listeners:
                del self._listening[room]

    def close(self) -> None:
        """Shutdown: wake every long poll now rather than when it times out."""
        self.closing = True
        for listeners in self._listening.values():
            _wake(listeners)

    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        for event in events:
            if isinstance(event, MessagePosted):
                _wake(self._listening.get(event.message.room, ()))

    def attach(self, member: Member) -> bool:
        return True  # long polls read the store; nothing to subscribe

    def welcome(self, joined: Joined) -> None:
        pass  # the history goes back in the POST /api/session response

    async def detach(self, member: Member) -> None:
        pass

    async def kick(self, member: Member) -> None:
        await self.sessions.drop_conn(member.conn)

    def resync(self) -> None:
        for listeners in self._listening.values():
            _wake(listeners)  # they read again, from the new history


def _wake(listeners: Iterable[asyncio.Future[None]]) -> None:
    for woken in listeners:
        if not woken.done():
            woken.set_result(None)
