"""HTTP API sessions and the fan-out's ``http`` door.

A session is a token that holds a nickname in a room like a connection does,
until it has been idle for ``--session-ttl`` seconds. The door has no
sockets to write to: it wakes the long polls waiting on a room.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chat.models import ChatEvent, Joined, Member, MessagePosted


@dataclass(eq=False, slots=True)
class Session:
    token: str
    conn: str
    expires: float


class Sessions:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._by_token: dict[str, Session] = {}

    def create(self) -> Session:
        token = secrets.token_urlsafe(24)
        session = Session(
            token=token,
            conn="http:" + secrets.token_hex(8),
            expires=self._clock() + self.ttl,
        )
        self._by_token[token] = session
        return session

    def get(self, token: str) -> Session | None:
        """The live session for ``token``, its idle timer restarted."""
        session = self._by_token.get(token)
        if session is None or session.expires <= self._clock():
            return None
        session.expires = self._clock() + self.ttl
        return session

    def drop(self, token: str) -> Session | None:
        return self._by_token.pop(token, None)

    def drop_conn(self, conn: str) -> None:
        for token, session in list(self._by_token.items()):
            if session.conn == conn:
                del self._by_token[token]

    def expired(self) -> list[Session]:
        """Remove and return sessions idle past their TTL."""
        now = self._clock()
        gone = [s for s in self._by_token.values() if s.expires <= now]
        for session in gone:
            del self._by_token[session.token]
        return gone


class HttpDoor:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self._waiters: dict[str, asyncio.Event] = {}

    def waiter(self, room: str) -> asyncio.Event:
        """An event set by the next message in ``room``; take it before reading."""
        event = self._waiters.get(room)
        if event is None:
            event = self._waiters[room] = asyncio.Event()
        return event

    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        for event in events:
            if isinstance(event, MessagePosted):
                waiting = self._waiters.pop(event.message.room, None)
                if waiting is not None:
                    waiting.set()

    async def attach(self, member: Member) -> bool:
        return True  # long polls read the store; nothing to subscribe

    async def welcome(self, joined: Joined) -> None:
        pass  # the history goes back in the POST /api/session response

    async def detach(self, member: Member) -> None:
        pass

    async def kick(self, member: Member) -> None:
        self.sessions.drop_conn(member.conn)
