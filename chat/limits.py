"""Flood limits that belong to the sender, not to a membership.

Every post, join and typing change is checked against a bucket for the
connection and, when the client sent one, for its client id, so neither
re-joining nor reconnecting starts a fresh allowance; and against a looser
bucket for the address, so that many connections from one address cannot
multiply it without bound (but an office behind one NAT still fits).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from chat.ratelimit import KeyedLimiter
from chat.rules import ChatError

ADDRESS_FACTOR = 10
"""An address may do this many times what one person may."""


@dataclass(frozen=True, slots=True)
class Rule:
    rate: float
    """Per second, sustained."""
    burst: int
    message: str


JOINS = Rule(0.5, 5, "You are joining too often; wait a moment.")
"""A few quick renames or room switches, then one every two seconds."""
TYPING = Rule(2.0, 10, "Typing updates are coming too fast.")
"""Changes only; a page says "typing" once and refreshes it every few seconds."""


class Limits:
    def __init__(
        self,
        post_rate: float,
        post_burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enabled = post_rate > 0
        posts = Rule(
            post_rate, post_burst, "You are sending messages too fast; wait a moment."
        )
        self._rules = {"post": posts, "join": JOINS, "typing": TYPING}
        self._person = {
            kind: KeyedLimiter(rule.rate, rule.burst, clock)
            for kind, rule in self._rules.items()
        }
        self._address = {
            kind: KeyedLimiter(
                rule.rate * ADDRESS_FACTOR, rule.burst * ADDRESS_FACTOR, clock
            )
            for kind, rule in self._rules.items()
        }

    def take(self, kind: str, conn: str, client: str | None, address: str) -> None:
        """Spend one ``kind`` for the sender, or raise ``rate_limited``."""
        if not self.enabled:
            return
        person = self._person[kind]
        wait = person.take("c:" + conn)
        if client:
            wait = max(wait, person.take("k:" + client))
        if address:
            wait = max(wait, self._address[kind].take(address))
        if wait > 0:
            raise ChatError(
                "rate_limited", self._rules[kind].message, retry_after=round(wait, 3)
            )
