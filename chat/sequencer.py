"""Group commit: the single path from "accepted" to "stored and broadcast".

Messages that arrive while one commit is running wait and go into the next
transaction together, so a burst costs one disk sync instead of one each.
After a group commits it is handed to the relay as one batch, in id order,
and only then are the senders answered: nothing anyone saw can be missing
from history.
"""

from __future__ import annotations

import asyncio
import logging
import time

from chat.models import Message, MessagePosted, NewMessage
from chat.relay import Relay
from chat.rules import ChatError, shutting_down
from store.base import HistoryStore, StoreFailed

log = logging.getLogger(__name__)


class Sequencer:
    def __init__(self, store: HistoryStore, relay: Relay, max_group: int) -> None:
        self._store = store
        self._max_group = max_group
        self._relay = relay
        self._pending: list[tuple[NewMessage, asyncio.Future[Message]]] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
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
            raise shutting_down()
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
        started = time.perf_counter()
        try:
            stored = await self._store.append_many([m for m, _ in batch])
        except ChatError as exc:
            # The store said what to tell them (Redis away: "unavailable").
            log.warning("storing %d messages failed: %s", len(batch), exc.__cause__)
            self._refuse(batch, exc)
            return
        except StoreFailed as exc:
            # The store logged this fault when it began: not once a group.
            why = f"The message could not be saved: {exc}."
            self._refuse(batch, ChatError("store_failed", why))
            return
        except Exception:
            log.exception("storing %d messages failed", len(batch))
            why = "The message could not be saved."
            self._refuse(batch, ChatError("store_failed", why))
            return
        self._relay.stats.commit_seconds.observe(time.perf_counter() - started)
        self.commits += 1
        self.committed += len(stored)
        await self._relay.deliver([MessagePosted(m) for m in stored])
        for (_, future), message in zip(batch, stored, strict=True):
            if not future.done():
                future.set_result(message)

    @staticmethod
    def _refuse(
        batch: list[tuple[NewMessage, asyncio.Future[Message]]], error: ChatError
    ) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error)
