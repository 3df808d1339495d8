"""Runs one load (bench/load.js, pinned to core 1) against one server.

The load generator prints ``{"mark": ...}`` lines at the moments that
matter and waits for a line back; here, at each mark, the server's CPU time
and RSS are read from /proc (after waiting for the server to go idle when
the mark asks for it). Between "start" and "end" the server can also be
sampled every second, along with the slow client's TCP state.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from servers import ROOT, Runner, Sample, Server
from slowclient import SlowClient

LOADGEN_CORE = "1"
GRACE_S = 30.0
"""On top of the load's own timeout, before the load generator is killed."""


def pin_beside_loadgen() -> None:
    """Move this process onto the load generator's core, off the server's, and
    let it open as many files as it may (a load has thousands of sockets)."""
    os.sched_setaffinity(0, {int(LOADGEN_CORE)})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def save_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))


def run_saved(
    prefix: str, run: Callable[[Path], dict[str, Any]], path: Path
) -> dict[str, Any]:
    """A soak-like run: pinned beside the load generator, in a temporary
    directory of its own, its start time added and the result saved as JSON
    at ``path``."""
    pin_beside_loadgen()
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        out = run(Path(tmp))
    out["started"] = started
    save_json(path, out)
    return out


@dataclass
class LoadRun:
    server: str
    load: str
    params: dict[str, Any]
    marks: dict[str, Sample] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    quiesce_s: float = 0.0
    slow: dict[str, Any] | None = None
    wall_s: float = 0.0

    def between(self) -> Sample | None:
        """From the "start" mark to the "end" mark: each field's change (``t``:
        the seconds between). None unless both marks were reached."""
        a, b = self.marks.get("start"), self.marks.get("end")
        if a is None or b is None:
            return None
        return Sample(
            b.t - a.t, b.cpu_s - a.cpu_s, b.rss_kb - a.rss_kb, b.busy_s - a.busy_s
        )

    def others_pct(self) -> float | None:
        """CPU used by other processes from start to end, in % of one core."""
        r = self.result or {}
        d = self.between()
        if d is None or "loadgen_cpu_pct" not in r:
            return None
        loadgen = float(r["loadgen_cpu_pct"]) / 100 * float(r["seconds"])
        other = d.busy_s - d.cpu_s - loadgen
        if d.t < 1.0:  # too few 10 ms ticks to tell
            return None
        return max(0.0, other) / d.t * 100

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "load": self.load,
            "params": self.params,
            "marks": {k: v.as_dict() for k, v in self.marks.items()},
            "samples": self.samples,
            "result": self.result,
            "errors": self.errors,
            "quiesce_s": self.quiesce_s,
            "slow": self.slow,
            "wall_s": self.wall_s,
            "others_pct": self.others_pct(),
        }


def _reader(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


class _Session:
    """The conversation with one load generator process."""

    def __init__(self, server: Runner, run: LoadRun, watch_s: float) -> None:
        self.server = server
        self.run = run
        self.watch_s = watch_s
        self.slow: SlowClient | None = None
        self.start_t = 0.0
        self.paused_t = 0.0
        self.sampling = False

    def sample(self) -> None:
        s = self.server.sample()
        entry: dict[str, Any] = {**s.as_dict(), "t": round(s.t - self.start_t, 3)}
        if self.slow is not None:
            assert self.run.slow is not None  # set along with self.slow
            entry |= self.slow.tcp()
            state = entry["server_state"]
            if state != "ESTABLISHED" and "dropped_s" not in self.run.slow:
                self.run.slow |= {"dropped_s": entry["t"], "dropped_state": state}
        self.run.samples.append(entry)

    def mark(self, name: str, msg: dict[str, Any]) -> None:
        if msg.get("quiesce"):
            self.run.quiesce_s = self.server.quiesce()
        if msg.get("restart") and isinstance(self.server, Server):
            self.server.restart()
        if name == "slow":
            try:
                self.slow = SlowClient(self.server.port)
                self.paused_t = time.monotonic()
                self.run.slow = {"port": self.slow.port, "rcvbuf": self.slow.rcvbuf}
            except Exception as exc:  # reported, the load goes on without it
                self.run.errors.append(f"slow client: {exc!r}")
        self.run.marks[name] = self.server.sample()
        if name == "start":
            self.start_t = self.run.marks[name].t
            self.sampling = True
            if self.run.slow is not None:  # times are from "start": this is < 0
                self.run.slow |= {"stopped_reading_s": self.paused_t - self.start_t}
        if name == "end" and self.sampling:
            self.sample()
            self.watch()
            self.sampling = False

    def watch(self) -> None:
        """Keep watching the slow client until it is dropped or watch_s."""
        if self.run.slow is None:
            return
        while time.monotonic() - self.start_t < self.watch_s:
            if "dropped_s" in self.run.slow or not self.server.alive():
                break
            time.sleep(1.0)
            self.sample()


def run_load(
    server: Runner,
    load: str,
    params: dict[str, Any],
    timeout_s: float,
    sample_every: float = 0.0,
    watch_s: float = 0.0,
    on_message: Callable[[dict[str, Any]], None] | None = None,
) -> LoadRun:
    """Runs ``load`` (a scenario of bench/scenarios.js) against ``server``.

    ``on_message`` is given every JSON line the load generator prints, once
    it has been dealt with here (a soak's ``window`` lines, say); at a mark,
    the load generator waits until it returns.
    """
    run = LoadRun(server.name, load, params)
    session = _Session(server, run, watch_s)
    argv = [
        *("taskset", "-c", LOADGEN_CORE, "node", str(ROOT / "bench/load.js")),
        *(load, server.url, json.dumps({**params, "timeout_s": timeout_s})),
    ]
    started = time.monotonic()
    hard_deadline = started + timeout_s + GRACE_S + watch_s
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        next_sample = 0.0
        try:
            while True:
                now = time.monotonic()
                if now > hard_deadline:
                    run.errors.append(
                        f"load generator killed after {now - started:.0f} s"
                    )
                    break
                wait = hard_deadline - now
                sampling = session.sampling and sample_every > 0
                if sampling:
                    next_sample = next_sample or now + sample_every
                    wait = min(wait, max(0.0, next_sample - now))
                try:
                    line = lines.get(timeout=wait)
                except queue.Empty:
                    line = ""
                if sampling and time.monotonic() >= next_sample:
                    session.sample()
                    next_sample += sample_every
                if line is None:
                    break
                if not line.strip():
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    run.errors.append(f"load generator said: {line.strip()[:200]}")
                    continue
                if "mark" in msg:
                    session.mark(str(msg["mark"]), msg)
                elif "result" in msg:
                    run.result = msg["result"]
                elif "error" in msg:
                    run.errors.append(f"load generator failed: {msg['error'][:500]}")
                if on_message is not None:
                    on_message(msg)
                if "mark" in msg:
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
        except (OSError, ValueError) as exc:  # /proc gone, pipe closed
            alive = "running" if server.alive() else f"exited ({server.log_tail()})"
            run.errors.append(f"{exc!r}; server {alive}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if session.slow is not None:
                session.slow.close()
            if proc.returncode not in (0, None) and run.result is None:
                stderr.seek(0)
                tail = " | ".join(stderr.read().strip().splitlines()[-3:])
                run.errors.append(f"load generator exit {proc.returncode}: {tail}")
    run.wall_s = time.monotonic() - started
    return run
