"""kill -9 of the real server process while clients send with acks."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SioClient, eventually, send_until_cancelled
from tests.server_process import StartProcess

ROOM = "crash"
WRITERS = 5
ROUNDS = 3
PER_ROUND = 60
"""Acked messages a round waits for before the kill (the kill lands mid-burst)."""


def check_history(history: list[dict[str, Any]], acked: dict[str, int]) -> None:
    """Every acked message is there with its id, none twice, ids contiguous."""
    ids = [m["id"] for m in history]
    assert ids == list(range(1, len(ids) + 1))
    texts = [m["text"] for m in history]
    assert len(set(texts)) == len(texts), "a message was stored twice"
    stored = {m["text"]: m["id"] for m in history}
    lost = {text: id for text, id in acked.items() if stored.get(text) != id}
    assert not lost, f"{len(lost)} acked messages lost or renumbered: {lost}"
    # Each writer's messages are in the order it sent them.
    for writer in {t.rsplit("-", 1)[0] for t in texts}:
        sent = [int(t.rsplit("-", 1)[1]) for t in texts if t.startswith(writer + "-")]
        assert sent == sorted(sent), writer


@pytest.mark.slow
async def test_kill_9_keeps_every_acked_message_once(
    tmp_path: Path, start_process: StartProcess
) -> None:
    db = str(tmp_path / "chat.db")
    acked: dict[str, int] = {}
    # Recovery off: these python-socketio writers cannot recover, and their
    # names would be held for them through the window after each crash.
    flags = ["--recovery-window", "0"]
    for round_ in range(ROUNDS):
        server = await start_process(db, *flags)
        check_history(await server.history(ROOM), acked)
        clients = [await SioClient().connect(server.url) for _ in range(WRITERS)]
        for i, client in enumerate(clients):
            await client.join(f"w{i}", ROOM)
        before = len(acked)
        senders = [
            asyncio.create_task(send_until_cancelled(c, f"r{round_}w{i}", acked))
            for i, c in enumerate(clients)
        ]
        await eventually(
            lambda goal=before + PER_ROUND: len(acked) >= goal,
            timeout=15,
            every=0.01,
        )
        await server.kill()
        # Read what the dead server had already sent (acks in flight)
        # before giving up on the calls still waiting.
        await eventually(
            lambda clients=clients: not any(c.sio.connected for c in clients),
            every=0.02,
        )
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        for client in clients:
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        assert len(acked) >= before + PER_ROUND

    server = await start_process(db)
    check_history(await server.history(ROOM), acked)
    assert await server.stop() == 0
