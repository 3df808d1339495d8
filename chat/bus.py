"""What carries events between processes (none, for one process).

Messages travel with their store write (one atomic step, so that broadcast
order is id order across processes); everything else, and the request to
drop a connection whose nickname was taken over elsewhere, goes through the
bus. Each process hands what it receives to its own relay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chat.directory import Holder
from chat.models import ChatEvent


class Bus(Protocol):
    async def publish(self, events: Sequence[ChatEvent]) -> None:
        """Send ``events`` (joins, leaves, typing) to the other processes."""
        ...

    async def kick(self, holder: Holder) -> None:
        """Ask ``holder.process`` to drop ``holder.conn`` quietly."""
        ...


class LocalBus:
    """One process: there is nobody to tell."""

    async def publish(self, events: Sequence[ChatEvent]) -> None:
        pass

    async def kick(self, holder: Holder) -> None:
        pass  # a connection of an earlier run of this process: long gone
