"""make chaos: the faults done to the Redis under the two app processes.

Over the traffic phase, at fixed fractions of it: Redis stalls of 1 to 5 s
(``DEBUG SLEEP`` from a connection of its own), a restart (SIGTERM, then a
start on the same port: the append-only file keeps the history, as a
production Redis would) and an outage longer than the servers'
``--process-timeout`` (SIGSTOP, then SIGCONT: a hung Redis, whose
connections stay open but answer nothing). After each, the time until both
processes' ``/readyz`` say 200 again.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from chaos_clients import Ledger
from redis.asyncio import Redis
from servers import Cluster

READY_TIMEOUT_S = 30.0


@dataclass(slots=True)
class Fault:
    kind: str
    seconds: float
    """How long Redis is made to stall or stay away (0: a restart)."""
    at: float
    """When, as a fraction of the traffic phase."""
    started_s: float = 0.0
    ended_s: float = 0.0
    ready_s: float | None = None
    """When both processes were ready again (None: not within 30 s)."""
    error: str = ""

    @property
    def label(self) -> str:
        return "restart" if self.kind == "restart" else f"{self.kind} {self.seconds:g}s"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "label": self.label}


def plan(outage_s: float) -> list[Fault]:
    return [
        Fault("stall", 1, 0.10),
        Fault("stall", 3, 0.20),
        Fault("stall", 5, 0.32),
        Fault("restart", 0, 0.45),
        Fault("outage", outage_s, 0.62),
        Fault("stall", 2, 0.80),
    ]


async def stall(port: int, seconds: float) -> None:
    # redis-py's annotations do not type execute_command: the reply is known.
    redis: Any = Redis(host="127.0.0.1", port=port, socket_timeout=seconds + 10)
    try:
        await redis.execute_command("DEBUG", "SLEEP", seconds)
    finally:
        await redis.aclose()


async def outage(cluster: Cluster, seconds: float) -> None:
    pid = cluster.redis.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


async def ready(http: aiohttp.ClientSession, urls: list[str]) -> bool:
    """Whether every process says it can serve the chat."""
    for url in urls:
        try:
            async with asyncio.timeout(2), http.get(url + "/readyz") as resp:
                if resp.status != 200:
                    return False
        except (aiohttp.ClientError, TimeoutError):
            return False
    return True


async def inflict(
    cluster: Cluster,
    http: aiohttp.ClientSession,
    faults: list[Fault],
    traffic_s: float,
    ledger: Ledger,
) -> None:
    """Each fault at its time, one after another; what happened is written
    into each Fault."""
    urls = [app.url for app in cluster.apps]
    for fault in faults:
        await asyncio.sleep(max(0.0, fault.at * traffic_s - ledger.now()))
        fault.started_s = ledger.now()
        try:
            if fault.kind == "stall":
                await stall(cluster.redis.port, fault.seconds)
            elif fault.kind == "restart":
                await asyncio.to_thread(cluster.restart_redis)
            else:
                await outage(cluster, fault.seconds)
        except Exception as exc:
            fault.error = repr(exc)
        fault.ended_s = ledger.now()
        for _ in range(int(READY_TIMEOUT_S / 0.25)):
            if await ready(http, urls):
                fault.ready_s = ledger.now()
                break
            await asyncio.sleep(0.25)


def near(faults: list[Fault], t: float, process_timeout: float) -> str:
    """The latest fault whose aftermath ``t`` falls in, for telling failures
    apart: from 1 s before it to process_timeout + 5 s after it ended or,
    when later, until the processes were ready again."""
    for fault in reversed(faults):
        if not fault.started_s:
            continue
        end = max(fault.ended_s + process_timeout + 5, fault.ready_s or 0.0)
        if fault.started_s - 1 <= t <= end:
            return fault.label
    return "no fault"
