"""The official Node.js ``socket.io-client`` against the real server.

The server runs in the test's event loop (aiohttp TestServer), so Node runs
as an asyncio subprocess: waiting on it must leave the loop free to serve.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SioClient, need

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parent.parent.parent
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


@pytest.fixture
async def node(url: str) -> AsyncIterator[Any]:
    runs: list[NodeClient] = []

    async def run(transport: str, *args: str) -> NodeClient:
        client = await NodeClient.start(url, transport, *args)
        runs.append(client)
        return client

    yield run
    for client in runs:
        await client.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_node_client_chats(node: Any, transport: str) -> None:
    result = await (await node(transport)).result()

    alice, bob = result["names"]
    assert result["transport"] == transport
    epoch = result["join"].pop("epoch")
    assert isinstance(epoch, str) and epoch
    assert result["join"] == {
        "ok": True,
        "name": alice,
        "room": "lobby",
        "users": [alice],
        "last_id": 0,
    }
    assert result["join_bob"]["users"] == [alice, bob]
    assert result["users"] == [alice, bob]  # in bob's welcome

    ack = result["ack"]
    assert ack["ok"] is True
    assert isinstance(ack["id"], int) and ack["id"] == 1
    assert ack["room"] == "lobby" and isinstance(ack["ts"], int)

    text = f"hello from node over {transport}"
    expected_chat = {
        "id": ack["id"],
        "room": "lobby",
        "name": alice,
        "text": text,
        "ts": ack["ts"],
    }
    # Alice joined the tutorial's way and gets the line; Bob, structured,
    # gets the object (the script checked that neither got the other form).
    assert result["received"]["alice"] == {"message": f"{alice}: {text}"}
    assert result["received"]["bob"] == {"chat": expected_chat}

    assert result["bad"]["ok"] is False
    assert result["bad"]["error"]["code"] == "invalid_text"
    assert result["chat_error"]["event"] == "message"
    assert result["chat_error"]["code"] == "invalid_text"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_python_and_node_talk(node: Any, sio_client: Any, transport: str) -> None:
    python: SioClient = await sio_client()
    await python.join("py")
    nodejs = await node(
        transport,
        "--scenario=peer",
        "--name=nodejs",
        "--peer=py",
        "--expect=你好 from python",
        "--reply=hello from node",
    )
    ready = await nodejs.line()
    assert ready == {"event": "ready", "name": "nodejs", "transport": transport}
    await python.inbox.wait("join", lambda n: n == "nodejs")

    sent = await python.call("message", "你好 from python")
    assert sent["ok"], sent
    received = await nodejs.line()
    assert received["event"] == "received"
    assert received["message"] == "py: 你好 from python"
    assert received["chat"]["id"] == sent["id"]
    assert received["chat"]["name"] == "py"

    result = await nodejs.result()
    reply = result["ack"]
    assert reply["ok"] is True and reply["id"] == sent["id"] + 1
    assert await python.inbox.wait("message", lambda m: m == "nodejs: hello from node")
    chat = await python.inbox.wait("chat", lambda m: m["id"] == reply["id"])
    assert chat["name"] == "nodejs" and chat["text"] == "hello from node"
    # The Node client disconnected when it finished; Python sees it leave.
    assert await python.inbox.wait("leave", lambda n: n == "nodejs")


async def test_node_client_reports_failure() -> None:
    """The script exits non-zero with a JSON error when it cannot connect."""
    # Port 1 is never our server; the script must fail fast, not hang.
    failing = await NodeClient.start("http://127.0.0.1:1", "websocket")
    try:
        async with asyncio.timeout(LIMIT):
            out, _ = await failing.proc.communicate()
    finally:
        await failing.close()
    assert failing.proc.returncode == 1
    final = json.loads(out.decode().splitlines()[-1])
    assert final["ok"] is False and "connect_error" in final["error"]
