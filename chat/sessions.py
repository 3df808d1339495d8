"""HTTP API sessions: the interface, and the in-memory store of one process
(the shared one is :mod:`cluster.sessions`).

A session is a token that holds a nickname in a room like a connection does,
until it has been idle for ``--session-ttl`` seconds.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chat.bounds import PerAddress
from chat.models import Member


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
    expires_by_itself: bool
    """Sessions end without :meth:`expired` being called (Redis's TTLs):
    nobody need sweep them."""

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

    expires_by_itself = False

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
