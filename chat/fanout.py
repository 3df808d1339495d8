"""The one place every chat event leaves the server, for every front door.

Each door (Socket.IO, plain WebSocket, HTTP) registers itself here. The core
decides who is in which room; the fan-out tells the member's door to attach
or detach the connection, and :meth:`Fanout.publish` hands every event to
every door in order. Events from other processes (the bus) come through here
too, so the doors never learn where an event came from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Protocol

from chat.models import ChatEvent, Joined, Member, MessagePosted, TypingChanged
from chat.stats import Stats

log = logging.getLogger(__name__)


class Door(Protocol):
    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        """Send ``events``, in order, to this door's connections in their rooms.

        A committed group arrives as one call, so a door can write everything
        one connection gets from it at once.
        """

    def attach(self, member: Member) -> bool:
        """Start delivering the member's room to its connection.

        False if the connection is already gone (it closed mid-join). Not a
        coroutine, like :meth:`welcome`: nothing may be delivered between
        the two.
        """

    def welcome(self, joined: Joined) -> None:
        """Send a new member its history, what came meanwhile (``live``) and
        the people present."""

    async def detach(self, member: Member) -> None:
        """Stop delivering to the connection (it left or switched rooms).

        A no-op for a connection that is not attached.
        """

    async def kick(self, member: Member) -> None:
        """Drop the connection: a reconnect of the same client took over."""

    def resync(self) -> None:
        """The history was reset (a new epoch): make every client start again."""


class Fanout:
    def __init__(self, stats: Stats | None = None) -> None:
        self._doors: dict[str, Door] = {}
        self.published = 0
        self.stats = stats or Stats()

    def add_door(self, name: str, door: Door) -> None:
        self._doors[name] = door

    def door(self, member: Member) -> Door:
        return self._doors[member.door]

    def resync(self) -> None:
        for door in self._doors.values():
            door.resync()

    async def publish(self, events: Sequence[ChatEvent]) -> None:
        self.published += len(events)
        started = time.perf_counter()
        for door in self._doors.values():
            try:
                await door.deliver(events)
            except Exception:
                # One door failing must not cost the others their copy.
                log.exception("door %r failed on %d events", door, len(events))
        self.stats.broadcast_seconds.observe(time.perf_counter() - started)


def runs(events: Sequence[ChatEvent]) -> Iterator[tuple[str, str, Sequence[ChatEvent]]]:
    """Split ``events`` into runs with one audience: ``(room, skip, run)``.

    ``skip`` is the connection that does not get the run (a typist), or "".
    A door writes each run to each recipient at once, in order.
    """
    start = 0
    while start < len(events):
        audience = _audience(events[start])
        end = start + 1
        while end < len(events) and _audience(events[end]) == audience:
            end += 1
        yield audience[0], audience[1], events[start:end]
        start = end


def _audience(event: ChatEvent) -> tuple[str, str]:
    if isinstance(event, MessagePosted):
        return event.message.room, ""
    if isinstance(event, TypingChanged):
        return event.room, event.conn
    return event.room, ""
