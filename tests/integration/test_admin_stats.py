"""The Admin UI's dashboard charts (``server_stats``'s ``aggregatedEvents``),
watched through the official socket.io-client as the UI itself connects:
bytes in and out, connections and disconnections, each counted in the
second it happened, as @socket.io/admin-ui 0.5.1's own server counts them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from chat.rules import MAX_TEXT
from tests.helpers import ServerFactory, SioClient, url_of
from tests.node_client import NodeClient

PASSWORD = "s3cret"
TEXT = "x" * MAX_TEXT


@pytest.fixture
async def admin_server(make_server: ServerFactory) -> TestServer:
    return await make_server(admin_password=PASSWORD)


@pytest.fixture
async def watcher(admin_server: TestServer) -> AsyncIterator[NodeClient]:
    """The Admin UI's connection to /admin, printing what it gets."""
    client = await NodeClient.start(
        url_of(admin_server),
        "websocket",
        "--scenario=admin",
        f"--password={PASSWORD}",
        "--timeout=30000",
    )
    try:
        ready = await client.line()
        assert ready["event"] == "ready", ready
        assert "AGGREGATED_EVENTS" in ready["config"]["supportedFeatures"]
        yield client
    finally:
        await client.close()


async def stats_until(
    watcher: NodeClient,
    done: Callable[[Counter[str]], bool],
    timeout: float = 8.0,
) -> tuple[Counter[str], list[dict[str, Any]]]:
    """Every ``server_stats``'s aggregated events from now on, summed by
    type, until ``done`` says enough (``server_stats`` come every 2 s) or
    ``timeout`` seconds have passed: the caller's asserts say what lacks."""
    totals: Counter[str] = Counter()
    seen: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while not done(totals):
                line = await watcher.line()
                if line.get("event") != "server_stats":
                    assert "ok" not in line, line  # the script failed
                    continue
                for entry in line["args"][0]["aggregatedEvents"]:
                    totals[entry["type"]] += entry["count"]
                    seen.append(entry)
    return totals, seen


async def next_stats(watcher: NodeClient) -> None:
    while (await watcher.line()).get("event") != "server_stats":
        pass


async def test_bytes_in_and_out_after_chat(
    admin_server: TestServer, watcher: NodeClient
) -> None:
    url = url_of(admin_server)
    people = [await SioClient().connect(url) for _ in range(3)]
    try:
        for i, person in enumerate(people):
            await person.join(f"p{i}", room="kitchen")
        ack = await people[0].call("message", TEXT)
        assert ack["ok"], ack
        for person in people:
            await person.inbox.wait("chat", lambda m: m["text"] == TEXT)

        # Each of the three got the line twice (as "message" and "chat").
        least_out = 3 * 2 * len(TEXT)
        totals, _ = await stats_until(
            watcher,
            lambda t: t["bytesOut"] >= least_out and t["bytesIn"] >= len(TEXT),
        )
        assert totals["bytesOut"] >= least_out, totals
        assert totals["bytesIn"] >= len(TEXT), totals
        assert totals["bytesIn"] < 2 * len(TEXT)  # joins and acks are small
        assert totals["bytesOut"] < 2 * least_out
        assert totals["packetsIn"] >= 4  # three joins and a message
        assert totals["packetsOut"] >= 6
    finally:
        for person in people:
            await person.sio.disconnect()


async def test_connections_counted_in_their_second(
    admin_server: TestServer, watcher: NodeClient
) -> None:
    await next_stats(watcher)  # the next one is 2 s away
    before = time.time()
    visitor = await SioClient().connect(url_of(admin_server))
    await visitor.sio.disconnect()
    after = time.time()

    totals, seen = await stats_until(
        watcher, lambda t: t["rawConnection"] >= 1 and t["rawDisconnection"] >= 1
    )
    assert totals["rawConnection"] == totals["rawDisconnection"] == 1, totals
    for entry in seen:
        if entry["type"] in ("rawConnection", "rawDisconnection"):
            # The second it happened in, as the package's EventBuffer stamps
            # it, not when the stats went out.
            assert int(before) * 1000 <= entry["timestamp"] <= after * 1000, entry
