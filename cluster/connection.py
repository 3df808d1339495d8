"""Redis connections with timeouts that fail fast instead of hanging, and
the one rule for what a client is told while Redis is away."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from chat.rules import ChatError

P = ParamSpec("P")
T = TypeVar("T")

PREFIX = "chat:"
"""Every key and channel this server uses starts with it."""
CHANNEL = PREFIX + "bus"
"""Where every process publishes events and every process listens."""


def connect(url: str, *, listener: bool = False) -> Redis:
    """A client for commands, or (``listener``) for a pub/sub subscription.

    Commands time out after 2 s and are retried once, so a post during an
    outage is refused within seconds. A listener has no read timeout: an
    idle subscription is not an error (redis-py's default 5 s would drop and
    resubscribe it, losing what was published meanwhile); a silent one is
    found by the bus's probes instead.
    """
    return Redis.from_url(
        url,
        socket_timeout=None if listener else 2.0,
        socket_connect_timeout=2.0,
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
        decode_responses=False,
    )


def unavailable() -> ChatError:
    return ChatError(
        "unavailable", "The chat is unavailable for a moment; try again shortly."
    )


def guarded(
    method: Callable[P, Awaitable[T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """For each Redis backend method a client waits on: an outage (any Redis
    error) reaches the client as ``unavailable``, whichever backend met it."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except RedisError as exc:
            raise unavailable() from exc

    return call


def process_id() -> str:
    """Unique among every process that ever shares the Redis."""
    return uuid.uuid4().hex[:12]
