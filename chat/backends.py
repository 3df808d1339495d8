"""What the chat keeps its state in, as the core sees it.

One process alone keeps everything in itself (SQLite history, names,
sessions and limits in memory); several processes share Redis and a bus.
Callers never ask which: what differs is a method of :class:`Backends`,
and the factory that picks them (``factory.py``) is the only place that
knows their classes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from chat.bus import Bus
from chat.directory import Directory
from chat.history import HistoryStore
from chat.limits import Buckets
from chat.service import ChatService
from chat.sessions import SessionStore

Publish = Callable[[dict[str, Any]], Awaitable[None]]


class AdminEvents(Protocol):
    """What a relay between processes needs of the Admin UI's door
    (:class:`events.admin.Admin`): it sends each envelope out through
    ``publish`` and hands the other processes' in."""

    publish: Publish | None

    async def deliver(self, event: str, args: list[Any]) -> None: ...

    async def act(
        self, action: str, nsp: Any, room: Any, filt: Any, *, here: bool = False
    ) -> None: ...

    def report(self) -> None: ...


class Backends(Protocol):
    @property
    def process(self) -> str:
        """Unique among processes sharing a Redis; empty when alone."""
        ...

    @property
    def store(self) -> HistoryStore: ...

    @property
    def directory(self) -> Directory: ...

    @property
    def bus(self) -> Bus: ...

    @property
    def sessions(self) -> SessionStore: ...

    @property
    def buckets(self) -> Buckets: ...

    @property
    def shared(self) -> bool:
        """Whether other processes share this state (a store fault is then
        /readyz's to report, not /healthz's)."""
        ...

    async def problem(self) -> str | None:
        """Why this process cannot serve the chat right now, if it cannot."""
        ...

    def running(self, service: ChatService) -> AbstractAsyncContextManager[None]:
        """What runs beside the app while it serves."""
        ...

    async def park(self, service: ChatService, seconds: float) -> None:
        """Shutting down: the members here keep their names for ``seconds``,
        so that they come back without a 'left' and a 'joined'."""
        ...

    def relay_admin(self, admin: AdminEvents) -> Coroutine[Any, Any, None] | None:
        """What hands the Admin UI every process's sockets (None: one process)."""
        ...
