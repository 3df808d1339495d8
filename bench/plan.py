"""The cases to run (scenario, size, servers) and the figures each yields."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadgen import LoadRun
from servers import ADMIN, CLUSTER, IN_MEMORY, NODE, ONE_COMMIT, PYTHON

Value = float | str | None
GROUPS = (
    "fanout",
    "rate",
    "joinstorm",
    "idle",
    "slow",
    "acked",
    "scaleout",
    "restart",
)
LOADGEN_LIMIT = 90.0
"""Load generator CPU (% of its core) from which its figures are not trusted."""

# Figure labels used in more than one place.
CPU_PER_DELIVERY = "server CPU µs/delivery"
DELIVERIES_PER_S = "deliveries/s"
MESSAGES_PER_S = "messages/s"
LOST = "deliveries lost"
DROPPED = "slow client dropped"


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


def _r(run: LoadRun) -> dict[str, Any]:
    return run.result or {}


def _cpu(run: LoadRun) -> float | None:
    d = run.between()
    return None if d is None else d.cpu_s


def _rss_mb(run: LoadRun) -> float | None:
    d = run.between()
    return None if d is None else d.rss_kb / 1024


def _from_result(run: LoadRun, *pairs: tuple[str, str]) -> dict[str, Value]:
    """Each (figure, result key) pair's value, then the deliveries lost."""
    r = _r(run)
    return {**{figure: r.get(key) for figure, key in pairs}, LOST: r.get("lost")}


def _fanout(run: LoadRun) -> dict[str, Value]:
    cpu, received = _cpu(run), _r(run).get("received")
    per = cpu / received * 1e6 if cpu is not None and received else None
    seconds = _r(run).get("seconds")
    rate = received / seconds if received and seconds else None
    return {CPU_PER_DELIVERY: per, DELIVERIES_PER_S: rate, **_from_result(run)}


def _rate(run: LoadRun) -> dict[str, Value]:
    return _from_result(run, ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"))


def _joinstorm(run: LoadRun) -> dict[str, Value]:
    return {
        "server CPU s": _cpu(run),
        "RSS growth MB": _rss_mb(run),
        "time s": _r(run).get("seconds"),
    }


def _restart(run: LoadRun) -> dict[str, Value]:
    """From the restart (server stopped) to every client back; CPU of the new
    process from its start to the end (the storm and the lines after it)."""
    marks = run.marks
    cpu = marks["end"].cpu_s if "restart" in marks and "end" in marks else None
    r = _r(run)
    return {
        "time to all back s": r.get("seconds"),
        "server CPU s": cpu,
        "recovered": r.get("recovered"),
        "lines missed": r.get("missed"),
        "lines repeated": r.get("repeated"),
    }


def _idle(run: LoadRun) -> dict[str, Value]:
    mb, n = _rss_mb(run), _r(run).get("connected")
    return {"RSS KB/connection": mb * 1024 / n if mb is not None and n else None}


def _rss_range(run: LoadRun) -> dict[str, Value]:
    rss = [s["rss_kb"] / 1024 for s in run.samples]
    start = run.marks["start"].rss_kb / 1024 if "start" in run.marks else None
    end = run.marks["end"].rss_kb / 1024 if "end" in run.marks else None
    return {
        "RSS start MB": start,
        "RSS max MB": max(rss, default=None),
        "RSS end MB": end,
    }


def _dropped(run: LoadRun) -> str:
    """When the server gave up on the client that stopped reading."""
    if run.slow is None:
        return "no slow client"
    paused = run.slow.get("stopped_reading_s", 0.0)
    parts = []
    if "dropped_s" in run.slow:
        state = run.slow["dropped_state"] or "gone"
        parts.append(
            f"socket closed {run.slow['dropped_s'] - paused:.0f} s in ({state})"
        )
    left = _r(run).get("slow_leave_s")
    if left is not None:
        parts.append(f"left the room {left - paused:.0f} s in")
    watched = run.samples[-1]["t"] - paused if run.samples else 0.0
    return "; ".join(parts) or f"no, in {watched:.0f} s"


def _baseline(run: LoadRun) -> dict[str, Value]:
    return {**_rss_range(run), **_from_result(run, ("others' p99 ms", "p99_ms"))}


def _slow(run: LoadRun) -> dict[str, Value]:
    return {**_baseline(run), DROPPED: _dropped(run)}


def _acked(run: LoadRun) -> dict[str, Value]:
    return _from_result(run, (MESSAGES_PER_S, "messages_per_s"), ("p99 ms", "p99_ms"))


FIGURES: dict[str, Callable[[LoadRun], dict[str, Value]]] = {
    "fanout": _fanout,
    "scaleout": _fanout,
    "rate": _rate,
    "joinstorm": _joinstorm,
    "idle": _idle,
    "slow": _slow,
    "slow baseline": _baseline,
    "acked": _acked,
    "restart": _restart,
}
HIGHER_IS_BETTER = {MESSAGES_PER_S, DELIVERIES_PER_S}
NOT_A_RATIO = {LOST, DROPPED}


def figures(case: Case, run: LoadRun) -> dict[str, Value]:
    key = (
        "slow baseline"
        if case.load == "rate" and case.group == "slow" and not case.params.get("slow")
        else case.group
    )
    return FIGURES[key](run)


def _incomplete(r: dict[str, Any]) -> str:
    """What a load that ran out of time got done."""
    if "expected" in r:
        return f"timed out: {r['received']:,} of {r['expected']:,} deliveries"
    if "open" in r:
        return f"{r['open']:,} of {r['clients']:,} connected and still open"
    if "joined" in r:
        return f"timed out: {r['joined']:,} of {r['clients']:,} joined"
    return "timed out"


def notes(run: LoadRun) -> list[str]:
    """What makes this run's figures doubtful, in a few words each."""
    r = _r(run)
    out = [e[:160] for e in run.errors]
    cpu = r.get("loadgen_cpu_pct")
    if cpu is not None and cpu >= LOADGEN_LIMIT:
        out.append(f"load generator at {cpu:.0f}% CPU: not trustworthy")
    if run.result is not None and not r.get("complete", True):
        out.append(_incomplete(r))
    if r.get("failed"):
        out.append(f"{r['failed']} clients failed to connect/join")
    if r.get("duplicates"):
        out.append(f"{r['duplicates']} duplicate deliveries")
    if r.get("refused"):
        out.append(f"{r['refused']} messages refused")
    others = run.others_pct()
    if others is not None and others > 10:
        out.append(f"other processes used {others:.0f}% of a core meanwhile")
    stall = r.get("loadgen_loop_delay_max_ms") or 0
    if stall > 50:
        out.append(f"load generator's event loop stalled up to {stall:.0f} ms")
    return out


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
