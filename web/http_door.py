"""The fan-out's ``http`` door for the HTTP API's long polls.

The door has no sockets to write to: it wakes the long polls waiting on a
room. Its sessions are a :class:`chat.sessions.SessionStore`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator, Sequence

from chat.models import ChatEvent, Joined, Member, MessagePosted
from chat.rules import shutting_down
from chat.sessions import SessionStore


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
