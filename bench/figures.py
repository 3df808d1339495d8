"""The figures each case yields from its runs, and what makes them doubtful."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loadgen import LoadRun
from plan import Case

Value = float | str | None
LOADGEN_LIMIT = 90.0
"""Load generator CPU (% of its core) from which its figures are not trusted."""

# Figure labels used in more than one place.
CPU_PER_DELIVERY = "server CPU µs/delivery"
DELIVERIES_PER_S = "deliveries/s"
MESSAGES_PER_S = "messages/s"
LOST = "deliveries lost"
DROPPED = "slow client dropped"
KB_PER_CONNECTION = "RSS KB/connection"


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
    return {KB_PER_CONNECTION: mb * 1024 / n if mb is not None and n else None}


def _idlescale(run: LoadRun) -> dict[str, Value]:
    """The server's CPU from "start" (before the first connect) to "end" (all
    connected, 2 s settled) per connection; its RSS growth likewise."""
    cpu, n = _cpu(run), _r(run).get("connected")
    what = "handshake+join" if run.params.get("rooms") else "handshake"
    return {
        f"server CPU ms/{what}": cpu * 1000 / n if cpu is not None and n else None,
        **_idle(run),
        "connecting s": _r(run).get("seconds"),
    }


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
    "idlescale": _idlescale,
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
