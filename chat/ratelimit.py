"""Token buckets: a burst allowance that refills at a steady rate."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self._clock = clock
        self._tokens = float(self.burst)
        self._stamp = clock()

    def take(self) -> float:
        """Spend one token; 0.0 if allowed, else seconds until one is free."""
        wait = self.wait()
        if wait == 0:
            self.spend()
        return wait

    def wait(self) -> float:
        """Seconds until a token is free (0.0: now), spending nothing."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def spend(self) -> None:
        """Spend the token :meth:`wait` just found free."""
        if self.rate > 0:
            self._tokens -= 1

    def idle(self) -> bool:
        """Full again, so forgetting this bucket loses nothing."""
        elapsed = self._clock() - self._stamp
        return self._tokens + elapsed * self.rate >= self.burst


class KeyedLimiter:
    """One bucket per key (an address, a token), forgetting idle ones."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> float:
        return self.bucket(key).take()

    def bucket(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.idle()}
            bucket = self._buckets[key] = TokenBucket(
                self.rate, self.burst, self._clock
            )
        return bucket
