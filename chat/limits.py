"""Flood limits that belong to the sender, not to a membership.

Every post, join and typing change is checked against a bucket for the
connection and, when the client sent one, for its client id, so neither
re-joining nor reconnecting starts a fresh allowance; and against a looser
bucket for the address, so that many connections from one address cannot
multiply it without bound (but an office behind one NAT still fits). HTTP
API requests have a bucket per address of their own.

The buckets live in this process (:class:`LocalBuckets`) or, scaled out, in
Redis (:class:`cluster.limits.RedisBuckets`), so that a client cannot get a
fresh allowance by reconnecting to another process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from chat.ratelimit import KeyedLimiter
from chat.rules import ChatError

ADDRESS_FACTOR = 10
"""An address may do this many times what one person may."""

Draw = tuple[str, float, int]
"""A bucket's key, its rate per second and its burst."""


@dataclass(frozen=True, slots=True)
class Rule:
    rate: float
    """Per second, sustained."""
    burst: int
    message: str
    per_person: bool = True
    address_factor: int = ADDRESS_FACTOR


JOINS = Rule(0.5, 5, "You are joining too often; wait a moment.")
"""A few quick renames or room switches, then one every two seconds."""
TYPING = Rule(2.0, 10, "Typing updates are coming too fast.")
"""Changes only; a page says "typing" once and refreshes it every few seconds."""
REQUESTS = Rule(20.0, 60, "Too many requests.", per_person=False, address_factor=1)
"""HTTP API requests from one address."""


class Buckets(Protocol):
    async def take(self, draws: Sequence[Draw]) -> float:
        """Spend a token from each bucket: 0.0, or seconds until allowed.

        All or nothing: a request refused by one bucket spends from none.
        """
        ...


class LocalBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limiters: dict[tuple[float, int], KeyedLimiter] = {}

    async def take(self, draws: Sequence[Draw]) -> float:
        buckets = [self._limiter(rate, burst).bucket(key) for key, rate, burst in draws]
        wait = max((bucket.wait() for bucket in buckets), default=0.0)
        if wait == 0:
            for bucket in buckets:
                bucket.spend()
        return wait

    def _limiter(self, rate: float, burst: int) -> KeyedLimiter:
        limiter = self._limiters.get((rate, burst))
        if limiter is None:
            limiter = self._limiters[rate, burst] = KeyedLimiter(
                rate, burst, self._clock
            )
        return limiter


class Limits:
    def __init__(
        self, post_rate: float, post_burst: int, buckets: Buckets | None = None
    ) -> None:
        self.enabled = post_rate > 0
        """``--rate-limit 0`` turns the chat's limits off (not the API's)."""
        self.buckets = buckets or LocalBuckets()
        posts = Rule(
            post_rate, post_burst, "You are sending messages too fast; wait a moment."
        )
        self._rules = {"post": posts, "join": JOINS, "typing": TYPING}

    async def take(
        self, kind: str, conn: str, client: str | None, address: str
    ) -> None:
        """Spend one ``kind`` for the sender, or raise ``rate_limited``."""
        if self.enabled:
            await self._take(kind, self._rules[kind], conn, client, address)

    async def request(self, address: str) -> None:
        await self._take("request", REQUESTS, "", None, address)

    async def _take(
        self, kind: str, rule: Rule, conn: str, client: str | None, address: str
    ) -> None:
        draws: list[Draw] = []
        if rule.per_person:
            draws.append((f"{kind}:c:{conn}", rule.rate, rule.burst))
            if client:
                draws.append((f"{kind}:k:{client}", rule.rate, rule.burst))
        if address:
            factor = rule.address_factor
            draws.append(
                (f"{kind}:a:{address}", rule.rate * factor, rule.burst * factor)
            )
        wait = await self.buckets.take(draws)
        if wait > 0:
            raise ChatError("rate_limited", rule.message, retry_after=round(wait, 3))
