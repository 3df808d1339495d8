"""make chaos: faults under two processes, every line accounted for.

Starts a redis-server (append-only file, DEBUG allowed) on a free port and
two app.py processes over it (``--process-timeout 3``), pinned to core 0;
the clients run here, on core 1, straight to both processes (no nginx: it
balances by client address, and every client here is 127.0.0.1, so it
would send them all to one process). In each room, readers and posters on
every door (Socket.IO over WebSocket and over polling, the plain WebSocket
/ws, the HTTP API with long polling), spread over both processes; churners
join, post a line and leave in a loop on every door. Meanwhile Redis stalls,
restarts and hangs for longer than the process timeout (chaos_faults.py).
Then: readers catch up, each room's history is read through the HTTP API,
and every line is accounted for (chaos_report.py). Exits 1 on any loss,
duplicate or stored-but-refused line.

    .venv/bin/python bench/chaos.py [--minutes 3 | --seconds 180] [--rooms 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from chaos_clients import Client, Ledger, wait_or_stop
from chaos_doors import DOORS, POST_TIMEOUT_S
from chaos_faults import inflict, plan
from chaos_report import analyse, report, verdict
from loadgen import run_saved
from servers import CLUSTER, ROOT, Cluster, Server

TAGS = {"sio-websocket": "sws", "sio-polling": "spl", "ws": "ws", "http": "http"}
OVERHEAD_S = 45.0
"""Of the run's time: starting, the drain after the traffic, the checks,
stopping the servers."""
MIN_TRAFFIC_S = 40.0
"""Every fault needs room: the outage alone is process_timeout + 2 s."""
JOIN_ALL_S = 30.0
SETTLE_S = 20.0
STOP_S = 20.0
"""After the traffic: how long readers may take to have the last line."""


def make_clients(
    ns: argparse.Namespace, urls: list[str], http: aiohttp.ClientSession, ledger: Ledger
) -> tuple[list[Client], list[Client], list[Client], list[str]]:
    """Readers and posters: one per door in each room, the two processes
    taken in turn so that each door has both; churners: one per door."""
    tag = f"{os.getpid() % 1000:03d}"
    rooms = [f"chaos{tag}r{i}" for i in range(ns.rooms)]
    readers: list[Client] = []
    posters: list[Client] = []
    churners: list[Client] = []
    for r, room in enumerate(rooms):
        for d, door in enumerate(DOORS):
            for role, group, shift in (("reader", readers, 0), ("poster", posters, 1)):
                name = f"{role[0]}{r}{TAGS[door]}"
                process = (r + d + shift) % 2
                group.append(
                    Client(name, role, door, room, process, urls, http, ledger)
                )
    for d, door in enumerate(DOORS):
        name = f"c{TAGS[door]}"
        churners.append(
            Client(name, "churner", door, rooms[0], d % 2, urls, http, ledger)
        )
    return readers, posters, churners, rooms


def blips(index: int, reader: Client, ns: argparse.Namespace) -> list[float]:
    """When a reader drops its own connection, to rejoin with ``after``:
    twice a run, spread so that some fall in a fault and some between.
    HTTP readers have no connection to drop: long polling resumes anyway."""
    if reader.door == "http":
        return []
    first = 0.12 + (index * 0.061) % 0.35
    return [first * ns.traffic_s, (first + 0.4) * ns.traffic_s]


async def last_ids(
    http: aiohttp.ClientSession, url: str, rooms: list[str]
) -> dict[str, int]:
    out = {}
    for room in rooms:
        async with (
            asyncio.timeout(10),
            http.get(f"{url}/api/messages?room={room}&limit=1") as resp,
        ):
            out[room] = int((await resp.json())["last_id"])
    return out


async def history(
    http: aiohttp.ClientSession, url: str, room: str
) -> list[dict[str, Any]]:
    """The room's whole history through the HTTP API, oldest first."""
    messages: list[dict[str, Any]] = []
    for _ in range(1000):  # 500 a page: far more than a run stores
        after = messages[-1]["id"] if messages else 0
        query = f"room={room}&after={after}&limit=500"
        async with asyncio.timeout(10), http.get(f"{url}/api/messages?{query}") as resp:
            page = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"history of {room}: {resp.status} {page}")
        if not page["messages"]:
            return messages
        messages.extend(page["messages"])
    raise RuntimeError(f"history of {room} did not end")


async def settle(
    readers: list[Client], http: aiohttp.ClientSession, url: str, rooms: list[str]
) -> float:
    """Until every reader has its room's last id (or SETTLE_S): a reader
    that was dropped near the end is given its time to rejoin."""
    started = time.monotonic()
    last = await last_ids(http, url, rooms)
    while time.monotonic() - started < SETTLE_S:
        if all(r.connected and r.max_seen >= last[r.room] for r in readers):
            break
        await asyncio.sleep(0.25)
    return time.monotonic() - started


async def traffic(
    ns: argparse.Namespace, cluster: Cluster, out: dict[str, Any]
) -> None:
    urls = [app.url for app in cluster.apps]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        ledger = Ledger()
        readers, posters, churners, rooms = make_clients(ns, urls, http, ledger)
        clients = [*readers, *posters, *churners]
        out["params"] |= {"rooms_named": rooms, "urls": urls}
        stop_reading, stop_sending = asyncio.Event(), asyncio.Event()
        reading = [
            asyncio.create_task(r.guarded(r.read(stop_reading, blips(i, r, ns))))
            for i, r in enumerate(readers)
        ]
        try:
            async with asyncio.timeout(JOIN_ALL_S):
                await asyncio.gather(*(r.ready.wait() for r in readers))
        except TimeoutError:
            out["errors"].append("not every reader could join before the traffic")
        ledger.started = time.monotonic()
        faults = plan(ns.process_timeout + 2)
        sending = [
            *(p.guarded(p.send(stop_sending, 1 / ns.rate)) for p in posters),
            *(c.guarded(c.churn(stop_sending, rooms)) for c in churners),
        ]
        sending_tasks = [asyncio.create_task(s) for s in sending]
        faulting = asyncio.create_task(
            inflict(cluster, http, faults, ns.traffic_s, ledger)
        )
        try:
            await wait_or_stop(stop_sending, ns.traffic_s)
            stop_sending.set()
            async with asyncio.timeout(POST_TIMEOUT_S + 15):
                await asyncio.gather(*sending_tasks, faulting)
            out["settle_s"] = await settle(readers, http, urls[0], rooms)
            histories = {room: await history(http, urls[0], room) for room in rooms}
        finally:
            stop_sending.set()
            stop_reading.set()
            for task in [*sending_tasks, faulting]:
                task.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    await asyncio.gather(*reading, return_exceptions=True)
        out |= analyse(ledger, clients, histories, faults, ns.process_timeout)


def stop_timed(app: Server) -> dict[str, Any]:
    """How long the process took to go after SIGTERM (SIGKILL after 20 s)."""
    started = time.monotonic()
    code = app.stop(STOP_S)
    return {
        "app": app.name,
        "exit": code,
        "took_s": round(time.monotonic() - started, 2),
    }


def keep_logs(workdir: Path, into: Path) -> None:
    """The servers' logs, for reading what went wrong after the run."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for log in workdir.glob("*.log"):
        shutil.copy(log, into / log.name)


def run(ns: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    params = {k: v for k, v in vars(ns).items() if k != "json"}
    out: dict[str, Any] = {"params": params, "errors": []}
    flags = ["--process-timeout", str(ns.process_timeout)]
    cluster = Cluster(CLUSTER, workdir, app_flags=flags, durable=True, debug=True)
    try:
        cluster.wait_ready()
        budget = ns.traffic_s + OVERHEAD_S + 60  # the run's own bounds, plus slack
        asyncio.run(asyncio.wait_for(traffic(ns, cluster, out), budget))
    except Exception as exc:  # reported as a failed run, with the servers' logs
        out["errors"].append(f"{exc!r}; servers: {cluster.log_tail(3)}")
    finally:
        if cluster.redis.alive():  # never leave it stopped by an outage
            os.kill(cluster.redis.pid, signal.SIGCONT)
        for app in cluster.apps:  # both at once: each may take its time
            if app.alive():
                app.proc.terminate()
        out["stops"] = [stop_timed(app) for app in cluster.apps]
        out["exit"] = cluster.stop()
        keep_logs(workdir, ns.json.parent / "chaos-logs")
    for stop in out["stops"]:
        if stop["exit"] == -9:
            out["errors"].append(f"{stop['app']}: no exit {STOP_S:g} s after SIGTERM")
        elif stop["exit"] not in (0, -15):
            out["errors"].append(f"{stop['app']}: exit {stop['exit']} on SIGTERM")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="the whole run")
    parser.add_argument("--minutes", type=float, help="the whole run, in minutes")
    parser.add_argument("--rooms", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1.0, help="lines/s per poster")
    parser.add_argument("--process-timeout", type=float, default=3.0)
    parser.add_argument("--json", type=Path, default=ROOT / "test-output/chaos.json")
    ns = parser.parse_args(argv)
    if ns.minutes is not None:
        ns.seconds = ns.minutes * 60
    ns.traffic_s = max(MIN_TRAFFIC_S, ns.seconds - OVERHEAD_S)
    out = run_saved("chat-chaos-", lambda workdir: run(ns, workdir), ns.json)
    if "clients" in out:
        print(f"\n{out['started']}\n\n{report(out)}\n")
    for error in out["errors"]:
        print(f"error: {error}")
    ok = bool(out.get("ok")) and not out["errors"]
    line = verdict(out) if "clients" in out else "chaos: FAIL: the run did not complete"
    print(line if ok or "FAIL" in line else line.replace("PASS", "FAIL"))
    print(f"(details: {ns.json})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
