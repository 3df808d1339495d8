"""Hands events to this process's doors: each message once, in id order.

Everything a process delivers passes through :meth:`Relay.deliver`: its own
committed groups and, when scaled out, what other processes publish on the
bus. For each room it keeps the last message id it delivered. An id at or
below that was delivered already and is dropped. An id beyond the next one
means something is missing (another process's message still on its way, or
lost while the bus was down): the gap is read from the store and delivered
first. A joiner's history is cut at that same id, and what is delivered
while the history is read is handed to it afterwards, so each message
reaches it exactly once and after its history, without a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence

from chat.fanout import Fanout
from chat.history import HistoryStore
from chat.models import ChatEvent, Message, MessagePosted
from chat.stats import Stats

log = logging.getLogger(__name__)
REPAIR_LIMIT = 5000
"""Most messages read from the store to fill one gap."""
READ_TRIES = 40
READ_PAUSE = 0.25
"""A gap's read is tried READ_TRIES times, READ_PAUSE seconds apart (10 s)."""


class Relay:
    def __init__(
        self,
        fanout: Fanout,
        store: HistoryStore,
        wanted: Callable[[str], bool] = lambda room: True,
    ) -> None:
        self._fanout = fanout
        self._store = store
        self._wanted = wanted
        """Whether anyone here reads ``room``. Ids are kept only for rooms
        someone reads: a room everyone left costs nothing (see :meth:`forget`)."""
        self._delivered: dict[str, int] = {}
        self._watchers: dict[str, list[list[Message]]] = {}
        self._repairs: dict[str, list[Message]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def stats(self) -> Stats:
        return self._fanout.stats

    def delivered(self, room: str) -> int | None:
        """The last message id handed to the doors for ``room``, if any."""
        return self._delivered.get(room)

    def advance(self, room: str, last_id: int) -> None:
        """Everything up to ``last_id`` has been seen (a joiner's history)."""
        if last_id > self._delivered.get(room, -1):
            self._delivered[room] = last_id

    def cut_at(
        self, room: str, cut: int | None, read: int, live: list[Message]
    ) -> tuple[int, list[Message]]:
        """Where a reader's history ends, and what it gets after it.

        ``cut`` is :meth:`delivered` when the read began: the history stops
        there, and ``live`` (from :meth:`watch`) is what came since. None
        (nothing delivered here yet): it ends at ``read``, the newest id it
        read, which everything delivered from now on must follow.
        """
        if cut is not None:
            return cut, live
        self.advance(room, read)
        return read, [m for m in live if m.id > read]

    @contextlib.contextmanager
    def watch(self, room: str) -> Iterator[list[Message]]:
        """Collects the messages delivered to ``room`` while the block runs."""
        seen: list[Message] = []
        watchers = self._watchers.setdefault(room, [])
        watchers.append(seen)
        try:
            yield seen
        finally:
            watchers.remove(seen)
            if not watchers:
                del self._watchers[room]

    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        """To the doors, in order; messages at most once and without gaps."""
        out: list[ChatEvent] = []
        for event in events:
            if isinstance(event, MessagePosted) and not self._admit(event.message):
                continue
            out.append(event)
        if out:
            await self._fanout.publish(out)

    def forget(self, room: str) -> None:
        """Nobody here reads ``room`` any more: drop what is kept for it. The
        next joiner's history is cut where the store is, as after a start."""
        if room not in self._watchers and room not in self._repairs:
            self._delivered.pop(room, None)

    def _admit(self, message: Message) -> bool:
        room = message.room
        pending = self._repairs.get(room)
        if pending is not None:
            pending.append(message)
            return False
        last = self._delivered.get(room)
        if last is None and not self._wanted(room):
            return True  # to no one here: nothing to keep
        if last is not None:
            if message.id <= last:
                return False
            if message.id > last + 1:
                self._repairs[room] = [message]
                task = asyncio.create_task(self._repair(room), name=f"repair {room}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return False
        self._mark(message)
        return True

    def _mark(self, message: Message) -> None:
        self._delivered[message.room] = message.id
        for seen in self._watchers.get(message.room, ()):
            seen.append(message)

    async def _repair(self, room: str) -> None:
        pending = self._repairs[room]
        try:
            while pending:
                last = self._delivered.get(room, 0)
                ids = {m.id for m in pending if m.id > last}
                top = max(ids, default=last)
                found: list[Message] = []
                if len(ids) < top - last:  # something is missing
                    self._fanout.stats.gaps_repaired.inc()
                    found = await self._read(room, last, top)
                by_id = {m.id: m for m in [*found, *pending] if m.id > last}
                pending.clear()  # what arrives while we publish waits its turn
                # Up to ``top`` the store was read: a hole left there is gone
                # (trimmed, or the store could not be read). What came in
                # while it was read goes out only as far as it runs on
                # unbroken; past a new hole it waits for another read.
                batch = [by_id.pop(i) for i in sorted(by_id) if i <= top]
                following = (batch[-1].id if batch else last) + 1
                for i in sorted(by_id):
                    if i == following:
                        batch.append(by_id[i])
                        following += 1
                    else:
                        pending.append(by_id[i])
                for message in batch:
                    self._mark(message)
                if batch:
                    await self._fanout.publish([MessagePosted(m) for m in batch])
        finally:
            if self._repairs.get(room) is pending:  # not a newer repair's (reset)
                del self._repairs[room]

    async def _read(self, room: str, last: int, top: int) -> list[Message]:
        """The messages after ``last`` up to ``top``. A store that fails (Redis
        waking up) is asked again for a while: the room waits rather than
        lose lines; past that, what there is goes out (logged)."""
        for attempt in range(READ_TRIES):
            try:
                return await self._store.after(
                    room, last, min(top - last, REPAIR_LIMIT)
                )
            except Exception:
                if attempt == READ_TRIES - 1:
                    log.exception("reading the gap after %s#%d failed", room, last)
                else:
                    await asyncio.sleep(READ_PAUSE)
        return []

    def reset(self) -> None:
        """A new history (epoch): the ids delivered so far mean nothing."""
        for task in self._tasks:
            task.cancel()
        self._delivered.clear()
        self._repairs.clear()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
