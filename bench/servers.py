"""The servers under test: how each is started, watched through /proc, stopped.

Every server runs pinned to core 0 (``taskset -c 0``), on a free loopback
port, with its output in a log file and without the caller's ``CHAT_*``
environment variables (app.py would take them as its settings). It is
stopped by its PID only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVER_CORE = "0"
CLEAN_EXITS = (0, -15)
"""A server's exit status after stop(): -15 (SIGTERM) is how node ends."""
TICK = os.sysconf("SC_CLK_TCK")
QUIESCE_WINDOW_S = 0.25
QUIESCE_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# The servers under test, by the names the table shows.
NODE = "node"
"""bench/reference.js (socket.io 4.8, no history)."""
PYTHON = "python"
"""app.py with its defaults (SQLite history, group commit) but no rate limit."""
ONE_COMMIT = "python --max-group 1"
"""PYTHON with one commit per message."""
IN_MEMORY = "python :memory:"
"""PYTHON with its history in memory."""
ADMIN = "python --admin-password"
"""PYTHON with the Admin UI's /admin namespace on (nobody watching)."""
CLUSTER = "python ×2 over Redis"
"""Two app.py processes sharing a redis-server (history in Redis Streams), all
three on the server's core; clients alternate between the two."""


def command(
    name: str, port: int, db: Path, redis_url: str = "", extra: Sequence[str] = ()
) -> list[str]:
    """How to start the server called ``name`` (one of the names above);
    ``extra``: more flags for app.py."""
    if name == NODE:
        return ["node", str(ROOT / "bench/reference.js"), str(port)]
    python = [str(ROOT / ".venv/bin/python"), str(ROOT / "app.py")]
    store = ":memory:" if name == IN_MEMORY else str(db)
    args = ["--port", str(port), "--rate-limit", "0", "--db", store]
    # Every load generator connection comes from 127.0.0.1, one address
    # holding thousands: what the per-address bounds exist to refuse.
    for bound in ("connections", "handshakes", "sessions"):
        args += [f"--max-{bound}-per-address", "0"]
    if name == ONE_COMMIT:
        args += ["--max-group", "1"]
    if name == ADMIN:
        args += ["--admin-password", "bench"]
    if redis_url:
        args += ["--redis-url", redis_url]
    return [*python, *args, *extra]


def redis_command(
    port: int, workdir: Path, *, durable: bool = False, debug: bool = False
) -> list[str]:
    """A redis-server on ``port`` keeping its files in ``workdir``.

    ``durable``: an append-only file fsynced on every write, so that a
    restart keeps the history; ``debug``: DEBUG SLEEP and friends allowed.
    """
    return [
        *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--dir", str(workdir)),
        *("--appendonly", "yes" if durable else "no", "--appendfsync", "always"),
        *(("--enable-debug-command", "yes") if debug else ()),
    ]


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of the server process, ``t`` on the time.monotonic() clock."""

    t: float
    cpu_s: float
    rss_kb: int
    busy_s: float
    """Both cores, anything but idle and iowait: set against the server's and
    the load generator's own CPU time, it shows what else ran meanwhile."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def busy() -> float:
    """Seconds all cores together have spent on anything but idle and iowait."""
    ticks = [
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICK


class Server:
    def __init__(
        self, name: str, workdir: Path, argv: list[str] | None = None, port: int = 0
    ) -> None:
        self.name = name
        self.port = port or free_port()
        slug = "".join(ch for ch in name if ch.isalnum())
        self.log_path = workdir / f"{slug}-{self.port}.log"
        if argv is None:
            argv = command(name, self.port, workdir / f"{slug}-{self.port}.db")
        self._argv = argv
        self._workdir = workdir
        self._spawn()

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        with self.log_path.open("ab") as log:  # a restart adds to it
            self.proc = subprocess.Popen(
                ["taskset", "-c", SERVER_CORE, *self._argv],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
            )
        self.pid = self.proc.pid  # taskset execs the server: same PID

    def restart(self) -> None:
        """SIGTERM, then the same command (port, database) until it listens:
        a deploy. Samples from now on are of the new process."""
        self.stop()
        self._spawn()
        self.wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until the port accepts connections (both servers listen last)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen within {timeout:.0f} s")

    def sample(self) -> Sample:
        """CPU time (utime + stime, all threads) and VmRSS, now."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15
        rss = 0
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        return Sample(time.monotonic(), cpu, rss, busy())

    def quiesce(self) -> float:
        """Wait until the server is idle: at most one clock tick over
        QUIESCE_WINDOW_S. Returns the seconds waited; gives up at
        QUIESCE_TIMEOUT_S."""
        started = time.monotonic()
        last = self.sample()
        while time.monotonic() - started < QUIESCE_TIMEOUT_S:
            time.sleep(QUIESCE_WINDOW_S)
            now = self.sample()
            if now.cpu_s - last.cpu_s <= 1.5 / TICK:
                break
            last = now
        return time.monotonic() - started

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])


class Cluster:
    """Two app processes and the redis-server they share, read as one server:
    CPU and RSS are the sums of the three. Its ``url`` lists both processes;
    the load generator spreads its clients over them."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        *,
        app_flags: Sequence[str] = (),
        durable: bool = False,
        debug: bool = False,
    ) -> None:
        self.name = name
        self.workdir = workdir
        redis_port = free_port()
        self.redis_argv = redis_command(
            redis_port, workdir, durable=durable, debug=debug
        )
        self.redis = Server("redis-server", workdir, self.redis_argv, redis_port)
        self.apps: list[Server] = []
        self.parts = [self.redis]
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        try:
            self.redis.wait_ready()
            for _ in range(2):
                port = free_port()
                db = workdir / f"unused-{port}.db"
                argv = command(name, port, db, self.redis_url, app_flags)
                self.apps.append(Server(f"app {port}", workdir, argv, port))
                self.parts.append(self.apps[-1])
        except BaseException:
            self.stop()  # whatever did start
            raise
        self.port = self.apps[0].port

    def restart_redis(self, timeout: float = 10.0) -> None:
        """SIGTERM redis-server, then start it again on the same port."""
        self.redis.stop(timeout)
        self.redis = Server(
            "redis-server", self.workdir, self.redis_argv, self.redis.port
        )
        self.parts[0] = self.redis
        self.redis.wait_ready()

    @property
    def url(self) -> str:
        return ",".join(app.url for app in self.apps)

    def wait_ready(self, timeout: float = 20.0) -> None:
        for app in self.apps:
            app.wait_ready(timeout)

    def sample(self) -> Sample:
        parts = [part.sample() for part in self.parts]
        return Sample(
            parts[0].t,
            sum(p.cpu_s for p in parts),
            sum(p.rss_kb for p in parts),
            parts[-1].busy_s,
        )

    def quiesce(self) -> float:
        return sum(part.quiesce() for part in self.parts)

    def alive(self) -> bool:
        return all(part.alive() for part in self.parts)

    def stop(self, timeout: float = 10.0) -> int:
        codes = [app.stop(timeout) for app in self.apps]
        self.redis.stop(timeout)
        return next((code for code in codes if code not in CLEAN_EXITS), 0)

    def log_tail(self, lines: int = 5) -> str:
        return " | ".join(app.log_tail(lines) for app in self.apps)


Runner = Server | Cluster


def start(name: str, workdir: Path) -> Runner:
    return Cluster(name, workdir) if name == CLUSTER else Server(name, workdir)
