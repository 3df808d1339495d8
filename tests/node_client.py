"""Runs tests/node/client.mjs: the official Node.js ``socket.io-client``.

The server under test runs in the test's event loop, so Node runs as an
asyncio subprocess: waiting on it must leave the loop free to serve.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import need

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "node" / "client.mjs"
TRANSPORTS = ["websocket", "polling"]
LIMIT = 15.0
"""Seconds; the script gives up by itself after 10."""


class NodeClient:
    """One run of client.mjs whose stdout is a stream of JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, url: str, transport: str, *args: str) -> NodeClient:
        node = need("node")
        if not (ROOT / "node_modules" / "socket.io-client").is_dir():
            pytest.skip("socket.io-client is not installed (run `npm ci`)")
        proc = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            url,
            transport,
            *args,
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def line(self, timeout: float = LIMIT) -> dict[str, Any]:
        """The next JSON line on stdout."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            raw = await self.proc.stdout.readline()
        assert raw, f"node ended early: {await self.stderr()}"
        data: dict[str, Any] = json.loads(raw)
        self.lines.append(data)
        return data

    async def stderr(self) -> str:
        assert self.proc.stderr is not None
        async with asyncio.timeout(LIMIT):
            return (await self.proc.stderr.read()).decode(errors="replace")

    async def result(self) -> dict[str, Any]:
        """The last line (``{"ok": ...}``) once the script has exited."""
        async with asyncio.timeout(LIMIT):
            out, err = await self.proc.communicate()
        for raw in out.decode().splitlines():
            self.lines.append(json.loads(raw))
        assert self.lines, f"no output; stderr: {err.decode(errors='replace')}"
        final = self.lines[-1]
        assert final.get("ok") is True, f"node failed: {final}\n{err.decode()}"
        assert self.proc.returncode == 0, (self.proc.returncode, final)
        return final

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
