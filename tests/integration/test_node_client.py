"""The official Node.js ``socket.io-client`` against the real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers import SioClient
from tests.node_client import LIMIT, TRANSPORTS, NodeClient

pytestmark = pytest.mark.node


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


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_node_client_burst_is_all_acked_and_delivered_once_in_order(
    node: Any, transport: str
) -> None:
    """Over polling the client batches what piles up during a POST into one:
    more than python-engineio's 16 packets a payload must all be taken."""
    count = 60
    result = await (
        await node(transport, "--scenario=burst", f"--count={count}")
    ).result()

    assert result["transport"] == transport
    assert [ack["id"] for ack in result["acks"]] == list(range(1, count + 1))
    assert [m["text"] for m in result["chats"]] == [f"line {i}" for i in range(count)]


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
