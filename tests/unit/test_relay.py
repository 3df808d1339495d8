"""The relay: messages once, in id order, gaps filled from a real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chat.fanout import Fanout
from chat.models import ChatEvent, Message, MessagePosted, NewMessage
from chat.relay import Relay
from store.sqlite import SQLiteStore
from tests.helpers import eventually
from tests.unit.services import RecordingDoor, make_service, shutdown


@pytest.fixture
async def store() -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(":memory:", retention_days=0, room_cap=0)
    await store.open()
    yield store
    await store.close()


def posted(*messages: Message) -> list[ChatEvent]:
    return [MessagePosted(m) for m in messages]


async def test_each_message_once_and_gaps_filled_from_the_store(
    store: SQLiteStore,
) -> None:
    door = RecordingDoor()
    fanout = Fanout()
    fanout.add_door("t", door)
    relay = Relay(fanout, store)
    stored = await store.append_many(
        [NewMessage("r", "ann", str(i), 0) for i in range(6)]
    )
    await relay.deliver(posted(stored[0]))
    await relay.deliver(posted(stored[0]))  # again: dropped
    # 2..4 are still on their way (another process); 5 arrives first.
    await relay.deliver(posted(stored[4]))
    await eventually(lambda: door.published == [1, 2, 3, 4, 5])
    repaired = fanout.stats.registry.get_sample_value("chat_gaps_repaired_total")
    assert door.published == [1, 2, 3, 4, 5] and repaired == 1
    await relay.deliver(posted(stored[2], stored[5]))  # 3 late, then 6
    assert door.published == [1, 2, 3, 4, 5, 6]
    assert relay.delivered("r") == 6
    await relay.stop()


async def test_joiners_get_every_message_once_and_in_order_under_load() -> None:
    door = RecordingDoor()
    service = await make_service(door, history=5)
    try:
        await service.join("t", "talker", "talker")
        for round_ in range(40):
            # Joins race with group commits: started a few steps into a
            # commit, a join's history read and the commit's delivery
            # interleave differently from round to round.
            posts = [
                asyncio.ensure_future(service.post("talker", f"{round_}.{i}"))
                for i in range(5)
            ]
            for _ in range(round_ % 8):
                await asyncio.sleep(0)
            await service.join("t", f"j{round_}", f"joiner{round_}")
            await asyncio.gather(*posts)
        last = await service.store.last_id("lobby")
        assert len(door.seen) == 41  # the talker and 40 joiners
        for conn, ids in door.seen.items():
            assert ids == list(range(ids[0], last + 1)), conn  # none twice, no gap
    finally:
        await shutdown(service)


class HeldStore(SQLiteStore):
    """Holds each history read until the test lets it go, so that another
    process's messages can be stored and delivered while it is read."""

    def __init__(self) -> None:
        super().__init__(":memory:", retention_days=0, room_cap=0)
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    async def recent(
        self, room: str, limit: int, upto: int | None = None
    ) -> list[Message]:
        self.reading.set()
        await self.release.wait()
        return await super().recent(room, limit, upto)


@pytest.mark.parametrize("stored", ["before the join", "while history is read"])
@pytest.mark.parametrize("arrives", ["while history is read", "after the join"])
async def test_the_first_joiner_on_a_process_gets_each_message_once(
    stored: str, arrives: str
) -> None:
    """Nothing was delivered to the room here yet, so the history is not cut
    at a known id: another process's message 4, stored around the read and
    arriving on the bus during or after it, must reach the joiner once."""
    door = RecordingDoor()
    store = HeldStore()
    service = await make_service(door, store)
    try:
        theirs = [NewMessage("lobby", "ann", str(i), 0) for i in range(1, 6)]
        await store.append_many(theirs[:3])
        if stored == "before the join":
            (fourth,) = await store.append_many(theirs[3:4])
        joining = asyncio.create_task(service.join("t", "c1", "alice"))
        await store.reading.wait()
        if stored == "while history is read":
            (fourth,) = await store.append_many(theirs[3:4])
        if arrives == "while history is read":
            await service.sync.receive(posted(fourth))
        store.release.set()
        await joining
        if arrives == "after the join":
            await service.sync.receive(posted(fourth))
        (fifth,) = await store.append_many(theirs[4:])
        await service.sync.receive(posted(fifth))
        assert door.seen["c1"] == [1, 2, 3, 4, 5]
    finally:
        await shutdown(service)


async def test_a_repair_cancelled_by_a_reset_ends_quietly(store: SQLiteStore) -> None:
    fanout = Fanout()
    fanout.add_door("t", RecordingDoor())
    relay = Relay(fanout, store)
    stored = await store.append_many(
        [NewMessage("r", "ann", str(i), 0) for i in range(3)]
    )
    await relay.deliver(posted(stored[0], stored[2]))  # a gap: a repair starts
    await asyncio.sleep(0)  # ... and reads the store
    relay.reset()  # a new epoch cancels it
    with pytest.raises(asyncio.CancelledError):
        await asyncio.gather(*relay._tasks)  # noqa: SLF001 - the cancelled repair
    await relay.stop()


class SlowReads(SQLiteStore):
    """A real store whose gap reads wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__(":memory:", retention_days=0, room_cap=0)
        self.reading = asyncio.Event()
        self.go = asyncio.Event()

    async def after(self, room: str, after: int, limit: int, **kw: object) -> list:
        self.reading.set()
        await self.go.wait()
        return await super().after(room, after, limit, **kw)


async def test_a_gap_that_opens_while_one_is_read_is_filled_too() -> None:
    store = SlowReads()
    await store.open()
    door = RecordingDoor()
    fanout = Fanout()
    fanout.add_door("t", door)
    relay = Relay(fanout, store)
    try:
        m = await store.append_many(
            [NewMessage("r", "ann", str(i), 0) for i in range(6)]
        )
        await relay.deliver(posted(m[0]))
        await relay.deliver(posted(m[3]))  # 2 and 3 missing: read up to 4
        await store.reading.wait()
        await relay.deliver(posted(m[5]))  # meanwhile 6 comes, 5 still on its way
        store.go.set()
        await eventually(lambda: door.published[-1:] == [6])
        assert door.published == [1, 2, 3, 4, 5, 6]
    finally:
        await relay.stop()
        await store.close()
