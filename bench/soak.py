"""make soak: many clients, a steady rate, minutes, against one process.

Starts app.py (history on: SQLite, group commit) pinned to core 0, runs the
``soak`` load of bench/scenarios.js pinned to core 1, and every window
reports the deliveries, the latency and the server's memory and open file
descriptors. At the end: deliveries expected against seen (they must be
equal), and memory and descriptors at the start and the end. Exits 1 when
a delivery was lost or doubled, or when the run did not complete or gave
no result.

    .venv/bin/python bench/soak.py [--clients 2000 --rooms 20 --rate 100 --minutes 5]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from loadgen import run_load, run_saved
from servers import PYTHON, ROOT, Server


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def reading(server: Server) -> dict[str, Any]:
    sample = server.sample()
    return {
        "rss_mb": sample.rss_kb / 1024,
        "fds": open_fds(server.pid),
        "cpu_s": sample.cpu_s,
    }


def run(ns: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    params = {
        "clients": ns.clients,
        "rooms": ns.rooms,
        "hz": ns.rate,
        "seconds": ns.minutes * 60,
        "window_s": ns.window,
    }
    timeout_s = ns.minutes * 60 + 300
    out: dict[str, Any] = {"params": {**params, "timeout_s": timeout_s}, "windows": []}
    server = Server(PYTHON, workdir)

    def on_message(msg: dict[str, Any]) -> None:
        if "mark" in msg:
            out[msg["mark"]] = reading(server)
        elif "window" in msg:
            window = {**msg["window"], **reading(server)}
            out["windows"].append(window)
            print(row(window), file=sys.stderr, flush=True)

    try:
        server.wait_ready()
        load = run_load(server, "soak", params, timeout_s, on_message=on_message)
        if load.result is not None:
            out["result"] = load.result
        if load.errors:
            out["errors"] = load.errors
    finally:
        out["exit"] = server.stop()
    return out


def row(w: dict[str, Any]) -> str:
    p50 = "–" if w["p50_ms"] is None else f"{w['p50_ms']:.1f}"
    p99 = "–" if w["p99_ms"] is None else f"{w['p99_ms']:.1f}"
    rate = w["deliveries"] / w["seconds"] if w["seconds"] else 0
    return (
        f"| {w['t']:.0f} | {rate:,.0f} | {p50} | {p99} "
        f"| {w['rss_mb']:.1f} | {w['fds']} |"
    )


def report(out: dict[str, Any]) -> str:
    r = out.get("result", {})
    start, end = out.get("start", {}), out.get("end", {})
    p = out["params"]
    lines = [
        f"{p['clients']:,} clients in {p['rooms']} rooms, {p['hz']} messages/s in "
        f"all, for {p['seconds'] / 60:g} minutes; history on (SQLite).",
        "",
        "| s | deliveries/s | p50 ms | p99 ms | server RSS MB | open fds |",
        "|---|---|---|---|---|---|",
        *[row(w) for w in out["windows"]],
        "",
        f"- deliveries expected {r.get('expected', 0):,}, seen {r.get('received', 0):,}"
        f" (lost {r.get('lost')}, duplicated {r.get('duplicates')})",
        f"- server RSS {start.get('rss_mb', 0):.1f} MB at the start, "
        f"{end.get('rss_mb', 0):.1f} MB at the end; open fds {start.get('fds')} and "
        f"{end.get('fds')}",
        f"- server CPU {end.get('cpu_s', 0) - start.get('cpu_s', 0):.1f} s; load "
        f"generator {r.get('loadgen_cpu_pct', 0):.0f}% of its core",
    ]
    if r.get("failed"):
        lines.append(f"- {r['failed']} clients failed to join: {r.get('failures')}")
    lines += [f"- {error}" for error in out.get("errors", [])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100, help="messages/s in all")
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--window", type=float, default=30, help="seconds a row")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/soak.json")
    ns = parser.parse_args(argv)
    out = run_saved("chat-soak-", lambda workdir: run(ns, workdir), ns.json)
    print(f"\n{out['started']}\n\n{report(out)}")
    r = out.get("result", {})
    good = r.get("complete") and r.get("lost") == 0 and r.get("duplicates") == 0
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
