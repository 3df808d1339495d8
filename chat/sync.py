"""Keeping this process in step with the others (``--redis-url``): what
another process published, what the rooms here missed while the bus was
away, names given back late, a history reset, and owners that vanished."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from chat.bus import Bus
from chat.directory import Directory, Holder
from chat.fanout import Fanout
from chat.history import HistoryStore
from chat.locks import KeyedLock
from chat.models import ChatEvent, Member, MemberLeft, MessagePosted
from chat.presence import Presence
from chat.relay import Relay
from chat.rules import CATCHUP_LIMIT

log = logging.getLogger(__name__)


class Sync:
    """The service's side of the cluster: the bus and the directory's upkeep
    call these. On one process they are never called."""

    def __init__(
        self,
        presence: Presence,
        relay: Relay,
        store: HistoryStore,
        directory: Directory,
        fanout: Fanout,
        bus: Bus,
        *,
        serial: KeyedLock,
        announce: Callable[[Sequence[ChatEvent]], Awaitable[None]],
        kick: Callable[[str], Awaitable[None]],
    ) -> None:
        self.presence = presence
        self.relay = relay
        self.store = store
        self.directory = directory
        self.fanout = fanout
        self.bus = bus
        self._serial = serial
        self._announce = announce
        self._kick = kick

    async def receive(self, events: Sequence[ChatEvent]) -> None:
        """What another process published (messages included)."""
        await self.relay.deliver(events)

    async def catch_up(self) -> None:
        """After the bus was away: what the rooms here missed, from the store;
        and names this process could not give back while Redis was away."""
        await self._reconcile()
        for room in self.presence.room_names():
            delivered = self.relay.delivered(room)
            if delivered is not None:
                missed = await self.store.after(room, delivered, CATCHUP_LIMIT)
                await self.relay.deliver([MessagePosted(m) for m in missed])

    async def _reconcile(self) -> None:
        stale = [
            h
            for h in await self.directory.held_here()
            if self.presence.get(h.conn) is None and not self._serial.busy(h.conn)
        ]
        for holder in stale:
            member = Member(
                door="", conn=holder.conn, name=holder.name, room=holder.room
            )
            if await self.directory.release(member):
                await self._announce([MemberLeft(holder.room, holder.name)])

    async def resync(self) -> None:
        """The store's history was reset under us (Redis flushed: a new
        epoch). Forget the ids delivered so far and drop every connection:
        clients reconnect and, seeing the new epoch, start from its history."""
        log.warning("the history was reset (new epoch %s); resyncing", self.store.epoch)
        self.relay.reset()
        self.fanout.resync()

    async def gone(self, holders: Sequence[Holder]) -> None:
        """Names whose process or session vanished were freed: say they left."""
        await self._announce([MemberLeft(h.room, h.name) for h in holders])
        for holder in holders:
            await self._kick(holder.conn)  # any copy of a session held here
            if holder.conn.startswith("http:"):
                await self.bus.kick(holder)  # and on every other process
