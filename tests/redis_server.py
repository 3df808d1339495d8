"""A real redis-server on a free loopback port, started and stopped by tests."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.helpers import Daemon, free_port, need


class RedisServer(Daemon):
    """One redis-server process; stop() and start() again keep its port."""

    def __init__(self, workdir: Path, *, durable: bool = False) -> None:
        super().__init__(free_port())
        self.durable = durable
        """Append-only file, fsync on every write: survives a restart."""
        self.binary = need("redis-server")
        self.workdir = workdir

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        """A plain client of the test's own, patient and never retrying: for
        faults (``DEBUG SLEEP``) and for looking at what is stored."""
        return Redis.from_url(self.url, socket_timeout=30, retry=Retry(NoBackoff(), 0))

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted (by the kernel) but nothing
        is answered, as with a Redis host that froze."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.resume()  # a stopped process cannot act on SIGTERM
        super().stop()

    async def start(self) -> None:
        await self.launch(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.durable else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
                # DEBUG SLEEP: a stalled Redis, from a second connection.
                "--enable-debug-command",
                "yes",
            ],
            "redis-server",
        )
