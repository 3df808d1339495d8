"""A real redis-server on a free loopback port, started and stopped by tests."""

from __future__ import annotations

from pathlib import Path

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
            ],
            "redis-server",
        )
