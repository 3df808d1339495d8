"""Group commit: the single path from "accepted" to "stored and broadcast".

Messages that arrive while one commit is running wait and go into the next
transaction together, so a burst costs one disk sync instead of one each.
After a group commits it is broadcast in id order, and only then are the
senders answered: nothing anyone saw can be missing from history.
"""

from __future__ import annotations

import asyncio
import logging

from chat.fanout import Fanout
from chat.models import Message, MessagePosted, NewMessage
from chat.rules import ChatError
from store.base import HistoryStore, StoreFailed

log = logging.getLogger(__name__)


class Sequencer:
    def __init__(self, store: HistoryStore, fanout: Fanout, max_group: int) -> None:
        self._store = store
        self._max_group = max_group
        self._fanout = fanout
        self._pending: list[tuple[NewMessage, asyncio.Future[Message]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()
        """Held while a group is stored and broadcast. A joiner takes it to
        read history and subscribe in one step, so each message reaches it
        exactly once: either in that history or as a broadcast."""
        self.commits = 0
        self.committed = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        """Commit and broadcast what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def submit(self, message: NewMessage) -> asyncio.Future[Message]:
        """Queue ``message``; the future resolves once it is stored and sent.

        Not a coroutine on purpose: a sender's messages are queued in the
        order its handler calls arrive, before anything can interleave.
        """
        if self._closing or self._task is None:
            raise ChatError("unavailable", "The server is shutting down.")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending.append((message, future))
        self._wake.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = self._pending[: self._max_group]
            del self._pending[: self._max_group]
            if self._pending:
                self._wake.set()  # the rest goes into the next group
            if batch:
                await self._commit(batch)
            if self._closing and not self._pending:
                return

    async def _commit(
        self, batch: list[tuple[NewMessage, asyncio.Future[Message]]]
    ) -> None:
        async with self.lock:
            try:
                stored = await self._store.append_many([m for m, _ in batch])
            except StoreFailed as exc:
                # The store logged this fault when it began: not once a group.
                self._refuse(batch, f"The message could not be saved: {exc}.")
                return
            except Exception:
                log.exception("storing %d messages failed", len(batch))
                self._refuse(batch, "The message could not be saved.")
                return
            self.commits += 1
            self.committed += len(stored)
            await self._fanout.publish([MessagePosted(m) for m in stored])
        for (_, future), message in zip(batch, stored, strict=True):
            if not future.done():
                future.set_result(message)

    @staticmethod
    def _refuse(
        batch: list[tuple[NewMessage, asyncio.Future[Message]]], why: str
    ) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(ChatError("store_failed", why))
