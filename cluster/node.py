"""This process's share of the chat: alone, or one of several over Redis.

:func:`make_node` picks the backends from the configuration: with no
``--redis-url`` everything lives in this process (SQLite history, names,
sessions and limits in memory); with one, the history, the names, the
sessions and the limits live in Redis and a bus connects the processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from chat.bus import Bus, LocalBus
from chat.directory import Directory, LocalDirectory
from chat.history import HistoryStore
from chat.limits import Buckets, LocalBuckets
from chat.service import ChatService
from chat.stats import Stats
from cluster.bus import RedisBus
from cluster.connection import connect, process_id
from cluster.directory import RedisDirectory
from cluster.history import RedisStore
from cluster.limits import RedisBuckets
from cluster.sessions import RedisSessions
from cluster.upkeep import upkeep
from config import Config
from store import make_store
from web.sessions import Sessions, SessionStore

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Node:
    process: str
    """Unique among processes sharing a Redis; empty when alone."""
    store: HistoryStore
    directory: Directory
    bus: Bus
    sessions: SessionStore
    buckets: Buckets
    redis: Any = None

    @property
    def shared(self) -> bool:
        return self.redis is not None

    async def problem(self) -> str | None:
        """Why this process cannot serve the chat right now, if it cannot."""
        problem = await self.store.problem()
        if (
            problem is None
            and isinstance(self.bus, RedisBus)
            and not self.bus.connected
        ):
            problem = "the bus is reconnecting"
        return problem


def make_node(config: Config, stats: Stats) -> Node:
    days, cap = config.retention_days, config.room_cap
    if not config.redis_url:
        return Node(
            process="",
            store=make_store(config.db, retention_days=days, room_cap=cap),
            directory=LocalDirectory(),
            bus=LocalBus(),
            sessions=Sessions(config.session_ttl),
            buckets=LocalBuckets(),
        )
    redis = connect(config.redis_url)
    process = process_id()
    store = RedisStore(redis, process, retention_days=days, room_cap=cap)
    return Node(
        process=process,
        store=store,
        directory=RedisDirectory(redis, process, config.process_timeout),
        bus=RedisBus(config.redis_url, redis, process, stats, store),
        sessions=RedisSessions(redis, config.session_ttl),
        buckets=RedisBuckets(redis),
        redis=redis,
    )


@contextlib.asynccontextmanager
async def running(node: Node, service: ChatService) -> AsyncIterator[None]:
    """What runs beside the app. Alone: the deadline of the names parked over
    a restart. Shared: the bus listener, the heartbeat and the sweep."""
    if not isinstance(node.bus, RedisBus) or not isinstance(
        node.directory, RedisDirectory
    ):
        until = await service.resumption.unpark(time.time())
        sweeper = asyncio.create_task(_unpark_later(service, until), name="unpark")
        try:
            yield
        finally:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        return
    directory = node.directory
    await directory.heartbeat()
    if isinstance(node.store, RedisStore):
        bus = node.bus

        async def new_epoch() -> None:
            await service.resync()
            await bus.announce_epoch()  # harmless if another process told us

        node.store.on_new_epoch = new_epoch
    tasks = [
        asyncio.create_task(
            node.bus.listen(service.receive, service.kicked, service.catch_up),
            name="bus",
        ),
        asyncio.create_task(upkeep(directory, service), name="upkeep"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await node.redis.aclose()


async def _unpark_later(service: ChatService, until: float) -> None:
    """One process: names parked over the restart go when the grace ends."""
    if until and isinstance(service.directory, LocalDirectory):
        await asyncio.sleep(max(0.0, until - time.time()))
        gone = service.directory.sweep()
        if gone:
            log.info("%d members did not come back after the restart", len(gone))
            await service.gone(gone)


__all__ = ["Node", "make_node", "running"]
