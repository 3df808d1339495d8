"""The cases to run: scenario, size, servers (their figures: figures.py)."""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from typing import Any

from servers import ADMIN, CLUSTER, IN_MEMORY, NODE, ONE_COMMIT, PYTHON

GROUPS = (
    "fanout",
    "rate",
    "joinstorm",
    "idle",
    "idlescale",
    "slow",
    "acked",
    "scaleout",
    "restart",
)


@dataclass(frozen=True)
class Case:
    group: str
    label: str
    load: str  # the scenario in bench/scenarios.js
    params: dict[str, Any]
    timeout_s: float
    servers: tuple[str, ...] = (NODE, PYTHON)
    sample_every: float = 0.0
    watch_s: float = 0.0


def _sizes(spec: str, n: int) -> list[tuple[int, ...]]:
    """'200x500,1000x200' -> [(200, 500), (1000, 200)]."""
    out = []
    for item in filter(None, spec.split(",")):
        numbers = tuple(int(x) for x in item.lower().split("x"))
        if len(numbers) != n:
            raise SystemExit(f"{item!r}: expected {n} numbers joined by 'x'")
        out.append(numbers)
    return out


def _fanouts(
    group: str,
    spec: str,
    ns: argparse.Namespace,
    servers: tuple[str, ...],
    label_prefix: str = "",
) -> list[Case]:
    """The fanout load, one case per size in ``spec`` and per --window."""
    cases = []
    windows = [int(w) for w in ns.window.split(",") if w]
    for (clients, messages), window in itertools.product(_sizes(spec, 2), windows):
        t = 30 + clients**2 / 50_000 + clients * messages / 10_000
        params = {
            "clients": clients,
            "messages": messages,
            "window": window,
            "concurrency": ns.concurrency,
        }
        label = (
            f"{label_prefix}fanout {clients} clients × {messages} msgs, "
            f"{window} in flight"
        )
        cases.append(
            Case(group, label, "fanout", params, t * ns.timeout_scale, servers=servers)
        )
    return cases


def build(ns: argparse.Namespace) -> list[Case]:
    """Every case the command line asks for, in GROUPS order."""
    c, scale = ns.concurrency, ns.timeout_scale
    # The Admin UI on: what it costs a broadcast when nobody watches.
    cases = _fanouts("fanout", ns.fanout, ns, (NODE, PYTHON, ADMIN))
    for clients, hz, seconds in _sizes(ns.rate, 3):
        t = 30 + clients**2 / 50_000 + seconds + ns.drain
        params = {
            "clients": clients,
            "hz": hz,
            "seconds": seconds,
            "drain": ns.drain,
            "concurrency": c,
        }
        cases.append(
            Case(
                "rate",
                f"rate {clients} clients, {hz} msg/s × {seconds} s",
                "rate",
                params,
                t * scale,
                servers=(NODE, PYTHON, IN_MEMORY),
            )
        )
    for (clients,) in _sizes(ns.joinstorm, 1):
        t = 30 + clients**2 / 25_000
        params = {"clients": clients, "concurrency": c}
        cases.append(
            Case(
                "joinstorm",
                f"joinstorm {clients} clients",
                "joinstorm",
                params,
                t * scale,
            )
        )
    for (clients,) in _sizes(ns.idle, 1):
        params = {"clients": clients, "concurrency": c, "settle": 2}
        cases.append(
            Case(
                "idle",
                f"idle {clients} connections",
                "idle",
                params,
                (30 + clients / 100) * scale,
            )
        )
    for clients, rooms in _sizes(ns.idlescale, 2):
        params = {
            "clients": clients,
            "rooms": rooms,
            "per_process": ns.per_loadgen,
            "concurrency": c,
            "settle": 2,
        }
        joined = f" joined to {rooms} rooms" if rooms else ""
        label = f"idle at scale: {clients} connections{joined}"
        t = (60 + clients / (50 if rooms else 100)) * scale
        cases.append(Case("idlescale", label, "idlescale", params, t))
    for clients, hz, seconds, size in _sizes(ns.slow, 4):
        base = {
            "clients": clients,
            "hz": hz,
            "seconds": seconds,
            "bytes": size,
            "drain": ns.drain,
            "concurrency": c,
        }
        t = (30 + seconds + ns.drain) * scale
        what = f"slow {clients} clients, {size} B at {hz}/s × {seconds} s"
        cases.append(
            Case("slow", f"{what}, all reading", "rate", base, t, sample_every=1.0)
        )
        cases.append(
            Case(
                "slow",
                f"{what}, + 1 not reading",
                "rate",
                {**base, "slow": True},
                t,
                sample_every=1.0,
                watch_s=ns.slow_watch,
            )
        )
    for clients, senders, messages in _sizes(ns.acked, 3):
        params = {
            "clients": clients,
            "senders": senders,
            "messages": messages,
            "concurrency": c,
        }
        servers = (NODE, PYTHON, ONE_COMMIT)
        label = f"acked {clients} clients, {senders} senders × {messages}"
        cases.append(Case("acked", label, "acked", params, 60 * scale, servers=servers))
    servers = (NODE, PYTHON, CLUSTER)
    cases += _fanouts("scaleout", ns.scaleout, ns, servers, "scale-out: ")
    for clients, rooms in _sizes(ns.restart, 2):
        params = {"clients": clients, "rooms": rooms, "concurrency": c}
        label = f"restart storm {clients} clients in {rooms} rooms"
        t = (60 + clients / 20) * scale
        cases.append(Case("restart", label, "restart", params, t))
    return [case for case in cases if case.group in ns.only]
