"""One body of tests for both flood-limit backends: in memory, and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat.limits import Buckets, LocalBuckets
from cluster.connection import connect
from cluster.limits import RedisBuckets
from tests.redis_server import RedisServer


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
async def buckets(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator:
    if request.param == "local":
        yield LocalBuckets()
        return
    server = RedisServer(tmp_path)
    await server.start()
    client = connect(server.url)
    try:
        yield RedisBuckets(client)
    finally:
        await client.aclose()
        server.stop()


async def test_a_burst_then_a_wait(buckets: Buckets) -> None:
    draws = [("post:c:1", 0.01, 3)]
    assert [await buckets.take(draws) for _ in range(3)] == [0, 0, 0]
    assert await buckets.take(draws) > 50  # 1/0.01 s for the next token


async def test_a_refusal_by_one_bucket_spends_from_none(buckets: Buckets) -> None:
    person, address = ("post:c:1", 0.01, 2), ("post:a:x", 0.01, 1)
    assert await buckets.take([address]) == 0  # the address is spent
    assert await buckets.take([person, address]) > 0
    assert await buckets.take([person, address]) > 0
    # Neither refusal spent from the person's bucket: it still has its two.
    takes = [await buckets.take([person]) for _ in range(3)]
    assert takes[:2] == [0, 0] and takes[2] > 0
