"""The one place every chat event leaves the server, for every front door.

Each door (Socket.IO, plain WebSocket, HTTP) registers itself here. The core
decides who is in which room; the fan-out tells the member's door to attach
or detach the connection, and :meth:`Fanout.publish` hands every event to
every door in order. A distributed backend (Redis) plugs in here later, so
the doors never learn where an event came from.
"""

from __future__ import annotations

import logging
from typing import Protocol

from chat.models import ChatEvent, Joined, Member

log = logging.getLogger(__name__)


class Door(Protocol):
    async def deliver(self, event: ChatEvent) -> None:
        """Send ``event`` to this door's connections in ``event.room``."""

    async def attach(self, member: Member) -> bool:
        """Start delivering the member's room to its connection.

        False if the connection is already gone (it closed mid-join).
        """

    async def welcome(self, joined: Joined) -> None:
        """Send a new member its history and the people present."""

    async def detach(self, member: Member) -> None:
        """Stop delivering to the connection (it left or switched rooms).

        A no-op for a connection that is not attached.
        """

    async def kick(self, member: Member) -> None:
        """Drop the connection: a reconnect of the same client took over."""


class Fanout:
    def __init__(self) -> None:
        self._doors: dict[str, Door] = {}
        self.published = 0

    def add_door(self, name: str, door: Door) -> None:
        self._doors[name] = door

    def door(self, member: Member) -> Door:
        return self._doors[member.door]

    async def publish(self, event: ChatEvent) -> None:
        self.published += 1
        for door in self._doors.values():
            try:
                await door.deliver(event)
            except Exception:
                # One door failing must not cost the others their copy.
                log.exception("door %r failed on %r", door, event)
