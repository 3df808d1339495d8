"""The relay: messages once, in id order, gaps filled from a real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from chat.fanout import Fanout
from chat.models import ChatEvent, Joined, Member, Message, MessagePosted, NewMessage
from chat.relay import Relay
from chat.service import ChatService
from store.sqlite import SQLiteStore
from tests.helpers import eventually


class Doors:
    """Records, per attached connection, every message id it was given."""

    def __init__(self) -> None:
        self.published: list[int] = []
        self.rooms: dict[str, str] = {}
        self.seen: dict[str, list[int]] = {}

    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        for event in events:
            if isinstance(event, MessagePosted):
                self.published.append(event.message.id)
                for conn, room in self.rooms.items():
                    if room == event.message.room:
                        self.seen[conn].append(event.message.id)

    def attach(self, member: Member) -> bool:
        self.rooms[member.conn] = member.room
        return True

    def welcome(self, joined: Joined) -> None:
        ids = [m.id for m in joined.history + joined.live]
        self.seen.setdefault(joined.member.conn, []).extend(ids)

    async def detach(self, member: Member) -> None:
        self.rooms.pop(member.conn, None)

    async def kick(self, member: Member) -> None:
        pass


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
    doors = Doors()
    fanout = Fanout()
    fanout.add_door("t", doors)
    relay = Relay(fanout, store)
    stored = await store.append_many(
        [NewMessage("r", "ann", str(i), 0) for i in range(6)]
    )
    await relay.deliver(posted(stored[0]))
    await relay.deliver(posted(stored[0]))  # again: dropped
    # 2..4 are still on their way (another process); 5 arrives first.
    await relay.deliver(posted(stored[4]))
    await eventually(lambda: doors.published == [1, 2, 3, 4, 5])
    repaired = fanout.stats.registry.get_sample_value("chat_gaps_repaired_total")
    assert doors.published == [1, 2, 3, 4, 5] and repaired == 1
    await relay.deliver(posted(stored[2], stored[5]))  # 3 late, then 6
    assert doors.published == [1, 2, 3, 4, 5, 6]
    assert relay.delivered("r") == 6
    await relay.stop()


async def test_joiners_get_every_message_once_and_in_order_under_load(
    store: SQLiteStore,
) -> None:
    doors = Doors()
    fanout = Fanout()
    fanout.add_door("t", doors)
    service = ChatService(store, fanout, history=5)
    service.start()
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
        last = await store.last_id("lobby")
        for conn, ids in doors.seen.items():
            assert ids == list(range(ids[0], last + 1)), conn  # none twice, no gap
    finally:
        await service.stop()
