from __future__ import annotations

import pytest

from chat.ratelimit import KeyedLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_steady_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0
    assert bucket.take() > 0


def test_zero_rate_means_unlimited() -> None:
    bucket = TokenBucket(rate=0, burst=1)
    assert all(bucket.take() == 0 for _ in range(1000))


def test_keyed_limiter_is_per_key_and_forgets_idle_keys() -> None:
    clock = Clock()
    limiter = KeyedLimiter(rate=1, burst=1, clock=clock, max_keys=2)
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0
    clock.now += 10
    assert limiter.take("c") == 0  # a and b are full again and get dropped
    assert len(limiter._buckets) == 1
