"""The group-commit task under injected faults: nothing hangs, nothing stored
is reported as failed, and a dead task is said, not hidden."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import pytest

from chat import sequencer as sequencer_module
from chat.models import ChatEvent, Message, NewMessage
from chat.rules import ChatError
from chat.service import ChatService
from tests.unit.services import RecordingDoor, make_service, shutdown


@pytest.fixture
async def service() -> AsyncIterator[ChatService]:
    service = await make_service(RecordingDoor())
    await service.join("t", "c1", "alice")
    yield service
    await shutdown(service)


async def test_a_failed_delivery_still_answers_with_the_stored_line(
    service: ChatService, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliver = service.relay.deliver

    async def fails_once(events: Sequence[ChatEvent]) -> None:
        monkeypatch.setattr(service.relay, "deliver", deliver)
        raise RuntimeError("a door blew up")

    monkeypatch.setattr(service.relay, "deliver", fails_once)
    first = await asyncio.wait_for(service.post("c1", "one"), 5)
    second = await asyncio.wait_for(service.post("c1", "two"), 5)
    assert (first.id, second.id) == (1, 2)
    assert service.sequencer.failure is None
    assert [m.text for m in await service.store.recent("lobby", 10)] == ["one", "two"]


async def test_a_dead_commit_task_refuses_instead_of_hanging(
    service: ChatService,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def wrong_count(batch: Sequence[NewMessage]) -> list[Message]:
        return []  # a store bug: the strict zip ends the task

    monkeypatch.setattr(service.store, "append_many", wrong_count)
    with caplog.at_level(logging.ERROR), pytest.raises(ChatError) as first:
        await asyncio.wait_for(service.post("c1", "lost"), 5)
    assert first.value.code == "unavailable"
    assert service.sequencer.failure is not None
    assert "commit task ended" in service.sequencer.failure
    with pytest.raises(ChatError, match="restarted") as later:
        await asyncio.wait_for(service.post("c1", "later"), 5)
    assert later.value.code == "unavailable"
    said = [r for r in caplog.records if "commit task ended" in r.getMessage()]
    assert len(said) == 1


async def test_the_queue_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sequencer_module, "MAX_PENDING", 3)
    service = await make_service(RecordingDoor(), max_group=1)
    try:
        await service.join("t", "c1", "alice")
        release = asyncio.Event()
        append = service.store.append_many

        async def stalled(batch: Sequence[NewMessage]) -> list[Message]:
            await release.wait()
            return await append(batch)

        monkeypatch.setattr(service.store, "append_many", stalled)
        posts = [asyncio.create_task(service.post("c1", "m0"))]
        await asyncio.sleep(0.05)  # committing
        posts += [asyncio.create_task(service.post("c1", f"m{i}")) for i in (1, 2, 3)]
        await asyncio.sleep(0.05)  # three waiting: full
        with pytest.raises(ChatError, match="too busy") as refused:
            await asyncio.wait_for(service.post("c1", "one too many"), 5)
        assert refused.value.code == "unavailable"
        release.set()
        stored = await asyncio.wait_for(asyncio.gather(*posts), 5)
        assert [m.id for m in stored] == [1, 2, 3, 4]
    finally:
        await shutdown(service)
