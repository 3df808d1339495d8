"""Side-by-side benchmark: this server against the Node.js socket.io reference.

For every case, each server in turn is started fresh (free loopback port,
temporary database) pinned to core 0, and the same load is run against it
by bench/load.js pinned to core 1; then the server is stopped by its PID.
With --rounds > 1 the servers alternate round by round and the median is
reported. Prints a Markdown table with python/node ratios and writes every
raw result to JSON. Absolute figures drift by ~20% between runs on this
machine; the ratios within one run are what to compare.

Cases (each group can be picked with --only, sizes with their flag):
  fanout     1 sender, a window of 64 (and of 1) unacked -> N clients x M messages
  rate       1,000 clients, one sender at 50 msg/s for 10 s (open loop)
  joinstorm  1,000 and 2,000 clients connect and join, 50 at a time
  idle       5,000 idle connections: RSS per connection
  idlescale  19,000 idle connections, not joined, then each joined to one of
             100 rooms, opened by processes of <= 5,000 connections each:
             server CPU per handshake (and join), RSS per connection.
             19,000, not 20,000: the hard open-file limit is 20,000 here
  slow       50 clients, 1 KB at 200/s for 30 s; without, then with a
             client that stops reading
  acked      50 clients, 10 senders x 200 messages awaiting acks
  scaleout   the fanout load on one process and on two over Redis
  restart    1,000 clients in 10 rooms, one poster per room; the server
             restarts (SIGTERM, same port and database) and every client
             recovers (or, on Node.js, joins again): time until all are
             back, CPU of the new process, lines missed or repeated

The full default run takes about 12 minutes (716 s on 2026-12-02), about
4 of them the idlescale cases and 3 the slow cases (the client that stops
reading is watched for up to 90 s, and the Node.js server takes 76 s to
drop it).
--quick runs small sizes in under a minute.

    .venv/bin/python bench/run.py [--only fanout,rate] [--rounds 1] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from figures import LOADGEN_LIMIT
from loadgen import LoadRun, pin_beside_loadgen, run_load, save_json
from plan import GROUPS, Case, build
from report import CaseResult, scaleout, table
from servers import CLEAN_EXITS, ROOT, start

QUICK = {
    "fanout": "50x100",
    "rate": "100x50x3",
    "joinstorm": "200",
    "idle": "500",
    "idlescale": "500x0,500x10",
    "per_loadgen": 250,
    "slow": "10x100x5x1024",
    "slow_watch": 0.0,
    "acked": "20x5x50",
    "scaleout": "50x100",
    "restart": "100x10",
    "drain": 5.0,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    add = parser.add_argument
    add("--only", default=",".join(GROUPS), help="comma-separated: " + ",".join(GROUPS))
    add("--rounds", type=int, default=1, help="rounds per case (median reported)")
    add("--quick", action="store_true", help="small sizes: " + json.dumps(QUICK))
    add("--fanout", default="200x500,1000x200", help="CLIENTSxMESSAGES,...")
    add("--scaleout", default="1000x200", help="scaleout: CLIENTSxMESSAGES,...")
    add(
        "--window",
        default="64,1",
        help="fanout: unacked messages in flight, one case each (64: the server "
        "can batch; 1: every message alone, one write per recipient each)",
    )
    add("--rate", default="1000x50x10", help="CLIENTSxHZxSECONDS,...")
    add("--drain", type=float, default=20.0, help="seconds to wait for late deliveries")
    add("--joinstorm", default="1000,2000", help="CLIENTS,...")
    add("--idle", default="5000", help="CONNECTIONS,...")
    add(
        "--idlescale",
        default="19000x0,19000x100",
        help="CONNECTIONSxROOMS,... (0 rooms: connected, not joined). 19,000: "
        "the hard open-file limit here is 20,000\n(RLIMIT_NOFILE, not raisable "
        "without CAP_SYS_RESOURCE) and the server holds a descriptor per "
        "connection;\n19,000 client ports to one server port fit in the "
        "ephemeral range (32768-60999)",
    )
    add(
        "--per-loadgen",
        type=int,
        default=5000,
        help="idlescale: connections per load generator process at most",
    )
    add("--slow", default="50x200x30x1024", help="CLIENTSxHZxSECONDSxBYTES,...")
    watch = "seconds to watch for the server dropping the client that stops reading"
    add("--slow-watch", type=float, default=90.0, help=watch)
    add("--acked", default="50x10x200", help="CLIENTSxSENDERSxMESSAGES,...")
    add("--restart", default="1000x10", help="restart storm: CLIENTSxROOMS,...")
    add("--concurrency", type=int, default=50, help="connections opened at a time")
    add(
        "--timeout-scale", type=float, default=1.0, help="multiply every case's timeout"
    )
    add(
        "--json",
        type=Path,
        default=ROOT / "bench/results/latest.json",
        help="raw results",
    )
    ns = parser.parse_args(argv)
    if ns.quick:
        parser.set_defaults(**QUICK)
        ns = parser.parse_args(argv)
    ns.only = [g.strip() for g in ns.only.split(",") if g.strip()]
    unknown = set(ns.only) - set(GROUPS)
    if unknown:
        parser.error(f"unknown --only {sorted(unknown)}; pick from {','.join(GROUPS)}")
    return ns


def run_case(case: Case, server_name: str, workdir: Path) -> LoadRun:
    server = start(server_name, workdir)
    try:
        server.wait_ready()
        run = run_load(
            server,
            case.load,
            case.params,
            case.timeout_s,
            case.sample_every,
            case.watch_s,
        )
    except Exception as exc:
        run = LoadRun(server_name, case.load, case.params, errors=[f"{exc!r}"])
    finally:
        code = server.stop()
    if code not in CLEAN_EXITS:
        run.errors.append(f"server exit {code}: {server.log_tail(2)}")
    return run


def describe(run: LoadRun) -> str:
    r = run.result or {}
    keys = (
        "received",
        "lost",
        "p99_ms",
        "messages_per_s",
        "seconds",
        "loadgen_cpu_pct",
    )
    shown = {
        k: round(r[k], 2) if isinstance(r[k], float) else r[k] for k in keys if k in r
    }
    return f"{run.wall_s:.0f} s {json.dumps(shown)} {'; '.join(run.errors)}"


def versions() -> dict[str, Any]:
    def pkg(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    socket_io = json.loads((ROOT / "node_modules/socket.io/package.json").read_text())
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    return {
        "python": sys.version.split()[0],
        "node": node.strip(),
        "socket.io": socket_io["version"],
        **{
            p: pkg(p)
            for p in ("python-socketio", "python-engineio", "aiohttp", "uvloop")
        },
        "cores": os.cpu_count(),
    }


def write_json(path: Path, meta: dict[str, Any], results: list[CaseResult]) -> None:
    cases = [
        {
            "label": r.case.label,
            "group": r.case.group,
            "params": r.case.params,
            "timeout_s": r.case.timeout_s,
            "figures": {s: r.figures(s) for s in r.case.servers},
            "runs": {s: [run.as_dict() for run in runs] for s, runs in r.runs.items()},
        }
        for r in results
    ]
    save_json(path, {**meta, "cases": cases})


def main(argv: list[str] | None = None) -> None:
    ns = parse(argv)
    pin_beside_loadgen()
    cases = build(ns)
    meta: dict[str, Any] = {
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "argv": sys.argv[1:] if argv is None else argv,
        "versions": versions(),
    }
    started = time.monotonic()
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp:
        for case in cases:
            result = CaseResult(case)
            results.append(result)
            for round_ in range(ns.rounds):
                for name in case.servers:  # interleaved: drift hits every server alike
                    run = run_case(case, name, Path(tmp))
                    result.runs.setdefault(name, []).append(run)
                    elapsed = time.monotonic() - started
                    where = f"{case.label} | {name} | round {round_ + 1}"
                    print(
                        f"[{elapsed:4.0f} s] {where}: {describe(run)}", file=sys.stderr
                    )
                    write_json(ns.json, {**meta, "total_s": elapsed}, results)
    total = time.monotonic() - started
    write_json(ns.json, {**meta, "total_s": total}, results)
    v = meta["versions"]
    print(
        f"\n{meta['started']}: python {v['python']} "
        f"(python-socketio {v['python-socketio']}, aiohttp {v['aiohttp']}) "
        f"vs node {v['node']} (socket.io {v['socket.io']}); server on core 0, "
        f"load generator on core 1; {ns.rounds} round(s), median.\n"
        "python/node: the ratio of the figures "
        "(↑: higher is better, else lower is better). "
        f"⚠: the load generator used >= {LOADGEN_LIMIT:.0f}% of its core: "
        "not trustworthy.\n"
    )
    print(table(results))
    summary = scaleout(results)
    if summary:
        print("\n" + summary)
    print(f"\nTotal wall time {total:.0f} s. Raw results: {ns.json}")


if __name__ == "__main__":
    main()
