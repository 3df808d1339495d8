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
from redis.exceptions import ConnectionError, RedisError

from chat.rules import ChatError

P = ParamSpec("P")
T = TypeVar("T")

PREFIX = "chat:"
"""Every key and channel this server uses starts with it."""
CHANNEL = PREFIX + "bus"
"""Where every process publishes events and every process listens."""


def connect(url: str, *, listener: bool = False) -> Redis:
    """A client for commands, or (``listener``) for a pub/sub subscription.

    Commands time out after 2 s, so a post during an outage is refused within
    seconds. Only a connection error is retried (once): the command did not
    run, as Redis answers before it closes a connection. A timeout is not
    retried here: the command may have run, or run later, once a stalled
    Redis wakes, and running a script such as the append twice stores twice.
    Whoever must know retries by itself, idempotently (see cluster/history.py).
    A listener has no read timeout: an idle subscription is not an error
    (redis-py's default 5 s would drop and resubscribe it, losing what was
    published meanwhile); a silent one is found by the bus's probes instead.
    """
    retry = Retry(
        ExponentialBackoff(cap=0.5, base=0.05), 1, supported_errors=(ConnectionError,)
    )
    return Redis.from_url(
        url,
        socket_timeout=None if listener else 2.0,
        socket_connect_timeout=2.0,
        socket_keepalive=True,
        retry=retry,
        decode_responses=False,
    )


def unavailable() -> ChatError:
    return ChatError(
        "unavailable", "The chat is unavailable for a moment; try again shortly."
    )


def unconfirmed() -> ChatError:
    return ChatError(
        "unconfirmed",
        "The chat could not confirm that your message was saved: Redis did not"
        " answer in time. Look for it in the chat before sending it again.",
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


async def close_quietly(pubsub: Any, client: Redis) -> None:
    """A subscription and its connection, closed after it failed: whatever
    closing raises says nothing new (the reason was logged)."""
    try:
        await pubsub.aclose()
        await client.aclose()
    except Exception:
        pass
