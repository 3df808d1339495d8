"""The real server as a child process: ``python app.py``, ended by its PID.

For faults only a real process shows: kill -9, a start that must fail with
one line and exit status 1, stderr as an operator reads it.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import eventually, free_port

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 15.0
"""Seconds a start may take on a busy two-core machine."""


class ServerProcess:
    def __init__(
        self,
        db: str,
        *flags: str,
        log_dir: Path,
        user: int | None = None,
        open_files: int | None = None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [
            sys.executable,
            str(ROOT / "app.py"),
            "--port",
            str(self.port),
            "--db",
            db,
            "--rate-limit",
            "0",
            *flags,
        ]
        self._stderr = log_dir / f"server-{self.port}.stderr"
        self._user = user
        self._open_files = open_files
        """RLIMIT_NOFILE (soft and hard) of the process, when not None."""
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
        with self._stderr.open("ab") as err:  # a restart adds to the log
            self.proc = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                user=self._user,
                preexec_fn=self._limit if self._open_files else None,
            )

    def _limit(self) -> None:
        assert self._open_files is not None
        files = self._open_files
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def stderr(self) -> str:
        return self._stderr.read_text(errors="replace")

    async def start(self) -> ServerProcess:
        """Spawn and wait until /healthz answers (whatever it says)."""
        self.spawn()
        async with aiohttp.ClientSession() as http:

            async def answers() -> bool:
                if self.returncode() is not None:
                    raise AssertionError(f"server exited at start:\n{self.stderr}")
                try:
                    async with http.get(self.url + "/healthz") as response:
                        await response.read()
                        return True
                except aiohttp.ClientConnectionError:
                    return False

            await eventually(answers, timeout=START_TIMEOUT)
        return self

    def returncode(self) -> int | None:
        assert self.proc is not None
        return self.proc.poll()

    async def wait(self, timeout: float = START_TIMEOUT) -> int:
        """The exit status, waiting at most ``timeout`` seconds for it."""
        await eventually(lambda: self.returncode() is not None, timeout=timeout)
        code = self.returncode()
        assert code is not None
        return code

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.returncode() is None:
            os.kill(self.pid, signal.SIGKILL)
        await self.wait()

    async def stop(self) -> int:
        """SIGTERM, then SIGKILL if it will not go. Returns the exit status."""
        if self.proc is None:
            return 0
        if self.returncode() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                return await self.wait(10.0)
            except AssertionError:
                await self.kill()
        code = self.returncode()
        assert code is not None
        return code

    async def get(self, path: str) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.url + path) as response,
        ):
            return response.status, await response.json()

    async def history(self, room: str) -> list[dict[str, Any]]:
        """Every message of ``room`` through the HTTP API, oldest first."""
        messages: list[dict[str, Any]] = []
        for _ in range(1000):  # bounded: 500 a page
            after = messages[-1]["id"] if messages else 0
            status, page = await self.get(
                f"/api/messages?room={room}&after={after}&limit=500"
            )
            assert status == 200, page
            messages.extend(page["messages"])
            if not page["messages"]:
                return messages
        raise AssertionError("history did not end")


StartProcess = Callable[..., Awaitable[ServerProcess]]
"""The ``start_process`` fixture: ``await start_process(db, *flags)``."""


def run_once(
    argv: Sequence[str],
    prefix: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run app.py with ``argv`` to completion (a start that is meant to fail).

    ``prefix``: a command that runs it (setpriv, to drop capabilities).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_")}
    return subprocess.run(
        [*prefix, sys.executable, str(ROOT / "app.py"), *argv],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
