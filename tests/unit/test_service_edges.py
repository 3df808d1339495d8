"""The core's edges: when a sender is answered, honest catch-ups, one
sender's order through slow limits, and what is kept for empty rooms."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chat.limits import Limits
from chat.models import ChatEvent
from chat.service import ChatService
from store.sqlite import SQLiteStore
from tests.unit.services import RecordingDoor, make_service, shutdown


class YieldingDoor(RecordingDoor):
    """A door whose delivery takes turns of the event loop, as the Door
    protocol allows (deliver is a coroutine). The real doors write without
    yielding, which hides the order of answer and delivery."""

    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        await asyncio.sleep(0)
        await super().deliver(events)


async def test_a_sender_is_answered_after_its_line_is_delivered() -> None:
    door = YieldingDoor()
    service = await make_service(door)
    try:
        await service.join("t", "c1", "alice")
        for i in range(5):
            message = await service.post("c1", f"m{i}")
            assert door.published == list(range(1, message.id + 1))
    finally:
        await shutdown(service)


async def test_a_catchup_the_cap_cut_short_is_not_called_one(
    door: RecordingDoor,
) -> None:
    store = SQLiteStore(":memory:", retention_days=0, room_cap=3)
    service = await make_service(door, store, history=3)
    try:
        await service.join("t", "c1", "alice")
        for i in range(8):
            await service.post("c1", f"m{i}")
        await store.prune(0)  # the cap keeps 6..8: 2..5 are gone
        joined = await service.join("t", "c2", {"name": "bob", "after": 1})
        assert not joined.catchup and [m.id for m in joined.history] == [6, 7, 8]
        await service.leave("c2")
        joined = await service.join("t", "c2", {"name": "bob", "after": 5})
        assert joined.catchup and [m.id for m in joined.history] == [6, 7, 8]
    finally:
        await shutdown(service)


class SlowFirstBuckets:
    """Redis-like buckets: an answer takes a round trip, the first the longest."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def take(self, draws: Sequence[object]) -> float:
        await asyncio.sleep(self.delays.pop(0) if self.delays else 0.0)
        return 0.0


async def test_one_senders_posts_keep_their_order_through_slow_limits(
    door: RecordingDoor,
) -> None:
    buckets = SlowFirstBuckets()
    service = await make_service(door, limits=Limits(5.0, 20, buckets))
    try:
        await service.join("t", "c1", "alice")
        buckets.delays = [0.05, 0.0]
        first, second = await asyncio.gather(
            service.post("c1", "first"), service.post("c1", "second")
        )
        assert (first.text, first.id, second.text, second.id) == (
            "first",
            1,
            "second",
            2,
        )
    finally:
        await shutdown(service)


async def test_rooms_everyone_left_keep_nothing(
    service: ChatService, door: RecordingDoor
) -> None:
    for i in range(5):
        await service.join("t", f"c{i}", {"name": f"n{i}", "room": f"room{i}"})
        await service.post(f"c{i}", "hello")
        await service.leave(f"c{i}")
    kept = service.relay._delivered  # noqa: SLF001 - what the fix bounds
    assert all(room not in kept for room in (f"room{i}" for i in range(5)))
    # ... and a room read again starts where the store is.
    await service.join("t", "c9", {"name": "back", "room": "room3"})
    await service.post("c9", "again")
    assert door.published[-1] == 2 and service.relay.delivered("room3") == 2
