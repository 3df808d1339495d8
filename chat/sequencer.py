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

from chat.history import HistoryStore, StoreFailed
from chat.models import Message, MessagePosted, NewMessage
from chat.relay import Relay
from chat.rules import ChatError, shutting_down

log = logging.getLogger(__name__)
MAX_PENDING = 10_000
"""Most messages waiting for a commit. Past it senders are told to try again
rather than queue without bound behind a store that cannot keep up."""

Batch = list[tuple[NewMessage, asyncio.Future[Message]]]


def busy() -> ChatError:
    return ChatError("unavailable", "The server is too busy; try again in a moment.")


def broken() -> ChatError:
    return ChatError(
        "unavailable", "Messages cannot be saved: the server must be restarted."
    )


class Sequencer:
    def __init__(self, store: HistoryStore, relay: Relay, max_group: int) -> None:
        self._store = store
        self._max_group = max_group
        self._relay = relay
        self._max_pending = max(MAX_PENDING, max_group)
        self._pending: Batch = []
        self._committing: Batch = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.commits = 0
        self.committed = 0
        self.failure: str | None = None
        """Why the commit task ended unexpectedly; posts are refused from then on."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Supervision: a commit task that ends while it should run would
        leave every later post waiting forever. Refuse them instead, once
        said in the log and on /healthz and /readyz."""
        error = None if task.cancelled() else task.exception()
        if self._closing and error is None:
            return
        self.failure = f"the commit task ended ({error or 'cancelled'})"
        log.error("%s; posts are refused until a restart", self.failure, exc_info=error)
        self._refuse(self._committing + self._pending, broken())
        self._committing = []
        self._pending.clear()

    async def stop(self) -> None:
        """Commit and broadcast what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.wait([self._task])  # a failed task was reported already

    def submit(self, message: NewMessage) -> asyncio.Future[Message]:
        """Queue ``message``; the future resolves once it is stored and sent.

        Not a coroutine on purpose: a sender's messages are queued in the
        order its handler calls arrive, before anything can interleave.
        """
        if self.failure is not None:
            raise broken()
        if self._closing or self._task is None:
            raise shutting_down()
        if len(self._pending) >= self._max_pending:
            raise busy()
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
                self._committing = batch
                await self._commit(batch)
                self._committing = []
            if self._closing and not self._pending:
                return

    async def _commit(self, batch: Batch) -> None:
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
        try:
            await self._relay.deliver([MessagePosted(m) for m in stored])
        except Exception:
            # Stored is stored: the senders hear so, and the relay repairs
            # the gap from the store when the next message arrives.
            log.exception("delivering %d stored messages failed", len(stored))
        for (_, future), message in zip(batch, stored, strict=True):
            if not future.done():
                future.set_result(message)

    @staticmethod
    def _refuse(batch: Batch, error: ChatError) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error)
