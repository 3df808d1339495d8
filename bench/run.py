"""Side-by-side benchmark: this server against the Node.js reference.

Starts each server in turn on a free loopback port, runs the same load
(bench/load.js, the official socket.io-client) against it, stops it by PID,
and prints a Markdown table with ratios against Node.js. One server runs at a
time; the machine has two cores.

    .venv/bin/python bench/run.py [--clients 50 --senders 10 --messages 200 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    for _ in range(100):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start in 10 s")


def targets(db_dir: str) -> dict[str, list[str]]:
    python = [str(ROOT / ".venv/bin/python"), str(ROOT / "app.py"), "--rate-limit", "0"]
    return {
        "node (socket.io, no history)": ["node", str(ROOT / "bench/reference.js")],
        "python, group commit": [*python, "--db", f"{db_dir}/group.db"],
        "python, --max-group 1": [
            *python,
            "--db",
            f"{db_dir}/single.db",
            "--max-group",
            "1",
        ],
    }


def run_one(command: list[str], load: list[str]) -> dict[str, float]:
    port = free_port()
    args = (
        [*command, str(port)]
        if command[0] == "node"
        else [*command, "--port", str(port)]
    )
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        out = subprocess.run(
            ["node", str(ROOT / "bench/load.js"), f"http://127.0.0.1:{port}", *load],
            capture_output=True,
            text=True,
            timeout=150,
            check=True,
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200, help="per sender")
    parser.add_argument("--rounds", type=int, default=3)
    ns = parser.parse_args(argv)
    load = [str(ns.clients), str(ns.senders), str(ns.messages)]
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as db_dir:
        plan = targets(db_dir)
        for round_ in range(ns.rounds):
            for name, command in plan.items():  # interleaved: drift hits all alike
                result = run_one(command, load)
                results.setdefault(name, []).append(result)
                print(f"round {round_ + 1} {name}: {result}", file=sys.stderr)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    base = next(iter(results))
    print(
        f"{ns.clients} clients in one room, {ns.senders} senders x {ns.messages} "
        f"messages, each awaiting its ack; median of {ns.rounds} rounds.\n"
    )
    print(
        "| server | messages/s | deliveries/s | p50 ms | p99 ms | messages/s vs node |"
    )
    print("|---|---|---|---|---|---|")
    for name in results:
        mps = median(name, "messages_per_s")
        print(
            f"| {name} | {mps:,.0f} | {median(name, 'deliveries_per_s'):,.0f} "
            f"| {median(name, 'p50_ms'):.1f} | {median(name, 'p99_ms'):.1f} "
            f"| {mps / median(base, 'messages_per_s'):.2f} |"
        )


if __name__ == "__main__":
    main()
