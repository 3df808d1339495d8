"""The factory that picks the backends from the configuration, and the only
module that knows their classes (see :mod:`chat.backends`).

With no ``--redis-url`` everything lives in this process (SQLite history,
names, sessions and limits in memory); with one, the history, the names, the
sessions and the limits live in Redis and a bus connects the processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from chat.backends import AdminEvents, Backends
from chat.bus import LocalBus
from chat.directory import LocalDirectory
from chat.limits import LocalBuckets
from chat.service import ChatService
from chat.sessions import Sessions
from chat.stats import Stats
from cluster.bus import RedisBus
from cluster.connection import connect, process_id
from cluster.directory import RedisDirectory
from cluster.history import RedisStore
from cluster.limits import RedisBuckets
from cluster.sessions import RedisSessions
from cluster.upkeep import upkeep
from cluster.watch import AdminRelay
from config import Config
from store import SQLiteStore, make_store

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Alone:
    """One process: nothing is shared, nothing runs beside the app."""

    store: SQLiteStore
    directory: LocalDirectory
    bus: LocalBus
    sessions: Sessions
    buckets: LocalBuckets
    process: str = ""
    shared = False

    async def problem(self) -> str | None:
        return await self.store.problem()

    @contextlib.asynccontextmanager
    async def running(self, service: ChatService) -> AsyncIterator[None]:
        # The last run's sessions hold their names until each one expires
        # (timers of the service's recovery, stopped with it).
        await service.resumption.unpark(self.directory)
        yield

    async def park(self, service: ChatService, seconds: float) -> None:
        await service.resumption.park(time.time() + seconds)

    def relay_admin(self, admin: AdminEvents) -> Coroutine[Any, Any, None] | None:
        return None


@dataclass(eq=False)
class Shared:
    """One of several processes over Redis: the bus listener, the heartbeat
    and the sweep run beside the app."""

    process: str
    store: RedisStore
    directory: RedisDirectory
    bus: RedisBus
    sessions: RedisSessions
    buckets: RedisBuckets
    redis: Any
    url: str
    shared = True

    async def problem(self) -> str | None:
        problem = await self.store.problem()
        if problem is None and not self.bus.connected:
            problem = "the bus is reconnecting"
        return problem

    @contextlib.asynccontextmanager
    async def running(self, service: ChatService) -> AsyncIterator[None]:
        await self.directory.heartbeat()
        bus = self.bus

        async def new_epoch() -> None:
            await service.sync.resync()
            await bus.announce_epoch()  # harmless if another process told us

        self.store.on_new_epoch = new_epoch
        tasks = [
            asyncio.create_task(
                bus.listen(service.sync.receive, service.kicked, service.sync.catch_up),
                name="bus",
            ),
            asyncio.create_task(upkeep(self.directory, service), name="upkeep"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.redis.aclose()

    async def park(self, service: ChatService, seconds: float) -> None:
        await self.directory.heartbeat(seconds)

    def relay_admin(self, admin: AdminEvents) -> Coroutine[Any, Any, None] | None:
        return AdminRelay(self.url, self.redis, self.process, admin).run()


def make_backends(config: Config, stats: Stats) -> Backends:
    days, cap = config.retention_days, config.room_cap
    if not config.redis_url:
        return Alone(
            store=make_store(config.db, retention_days=days, room_cap=cap),
            directory=LocalDirectory(),
            bus=LocalBus(),
            sessions=Sessions(config.session_ttl),
            buckets=LocalBuckets(),
        )
    redis = connect(config.redis_url)
    process = process_id()
    store = RedisStore(redis, process, retention_days=days, room_cap=cap)
    return Shared(
        process=process,
        store=store,
        directory=RedisDirectory(redis, process, config.process_timeout),
        bus=RedisBus(config.redis_url, redis, process, stats, store),
        sessions=RedisSessions(redis, config.session_ttl),
        buckets=RedisBuckets(redis),
        redis=redis,
        url=config.redis_url,
    )


__all__ = ["Alone", "Shared", "make_backends"]
