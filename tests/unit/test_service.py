"""The core without a server: a real SQLite store and a door that records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from chat import service as service_module
from chat.fanout import Fanout
from chat.models import (
    ChatEvent,
    Joined,
    Member,
    MemberJoined,
    MemberLeft,
    Message,
    MessagePosted,
    NewMessage,
    TypingChanged,
)
from chat.rules import ChatError
from chat.service import ChatService
from store.sqlite import SQLiteStore


class RecordingDoor:
    def __init__(self) -> None:
        self.events: list[ChatEvent] = []
        self.batches: list[list[ChatEvent]] = []
        self.attached: list[str] = []
        self.welcomed: list[Joined] = []
        self.kicked: list[str] = []

    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        self.batches.append(list(events))
        self.events.extend(events)

    async def attach(self, member: Member) -> bool:
        self.attached.append(member.conn)
        return True

    async def welcome(self, joined: Joined) -> None:
        self.welcomed.append(joined)

    async def detach(self, member: Member) -> None:
        if member.conn in self.attached:  # like the real doors: idempotent
            self.attached.remove(member.conn)

    async def kick(self, member: Member) -> None:
        self.kicked.append(member.conn)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class FailingStore(SQLiteStore):
    async def append_many(self, batch: Sequence[NewMessage]) -> list[Message]:
        raise OSError("disk on fire")


@pytest.fixture
def door() -> RecordingDoor:
    return RecordingDoor()


async def make_service(
    door: RecordingDoor, store: SQLiteStore | None = None, **kw: object
) -> ChatService:
    store = store or SQLiteStore(":memory:", retention_days=0, room_cap=0)
    await store.open()
    fanout = Fanout()
    fanout.add_door("t", door)
    service = ChatService(store, fanout, **kw)  # type: ignore[arg-type]
    service.start()
    return service


async def shutdown(service: ChatService) -> None:
    await service.stop()
    await service.store.close()


@pytest.fixture
async def service(door: RecordingDoor) -> AsyncIterator[ChatService]:
    service = await make_service(door, history=3)
    yield service
    await shutdown(service)


async def test_join_announces_and_welcomes(
    service: ChatService, door: RecordingDoor
) -> None:
    joined = await service.join("t", "c1", "alice")
    assert joined.users == ("alice",) and joined.history == [] and not joined.catchup
    await service.join("t", "c2", {"name": "bob"})
    # Others learn who came; only the joiner gets the whole list.
    assert door.of(MemberJoined)[-1] == MemberJoined("lobby", "bob")
    assert door.welcomed[-1].users == ("alice", "bob")
    assert door.attached == ["c1", "c2"]
    assert [w.member.name for w in door.welcomed] == ["alice", "bob"]


async def test_taken_name_gets_a_suggestion(service: ChatService) -> None:
    await service.join("t", "c1", "Alice")
    with pytest.raises(ChatError) as info:
        await service.join("t", "c2", "alice")
    assert info.value.code == "name_taken"
    assert info.value.extra["suggestion"] == "alice2"
    await service.join("t", "c3", {"name": "alice", "room": "dev"})  # other room


async def test_same_client_takes_over_its_name(
    service: ChatService, door: RecordingDoor
) -> None:
    await service.join("t", "old", {"name": "alice", "client": "tab-1"})
    with pytest.raises(ChatError):
        await service.join("t", "other", {"name": "alice", "client": "tab-2"})
    await service.join("t", "new", {"name": "alice", "client": "tab-1"})
    assert door.kicked == ["old"]
    assert door.of(MemberJoined) == [MemberJoined("lobby", "alice")]  # once
    await service.leave("old")  # the kicked connection closing: no notice
    assert door.of(MemberLeft) == []
    assert service.presence.names("lobby") == ("alice",)


async def test_a_connection_gone_mid_join_holds_no_name(
    service: ChatService, door: RecordingDoor
) -> None:
    async def gone(member: Member) -> bool:
        return False

    door.attach = gone  # type: ignore[method-assign]
    with pytest.raises(ChatError):
        await service.join("t", "c1", "alice")
    assert service.presence.names("lobby") == ()
    assert door.of(MemberJoined) == []


async def test_second_join_renames(service: ChatService, door: RecordingDoor) -> None:
    await service.join("t", "c1", "alice")
    await service.join("t", "c1", {"name": "alicia", "room": "dev"})
    assert door.of(MemberLeft) == [MemberLeft("lobby", "alice")]
    assert service.presence.names("dev") == ("alicia",)


async def test_post_rules(service: ChatService, door: RecordingDoor) -> None:
    with pytest.raises(ChatError) as info:
        await service.post("c1", "hi")
    assert info.value.code == "not_joined"
    await service.join("t", "c1", "alice")
    for bad in ("", 5, "x" * 2001):
        with pytest.raises(ChatError):
            await service.post("c1", bad)
    assert door.of(MessagePosted) == []
    message = await service.post("c1", "hello")
    assert (message.id, message.name, message.text) == (1, "alice", "hello")
    assert door.of(MessagePosted) == [MessagePosted(message)]


async def test_concurrent_posts_commit_in_groups_in_order(
    service: ChatService, door: RecordingDoor
) -> None:
    await service.join("t", "c1", "alice")
    results = await asyncio.gather(*(service.post("c1", str(i)) for i in range(50)))
    assert [m.id for m in results] == list(range(1, 51))
    assert [m.text for m in results] == [str(i) for i in range(50)]
    assert [e.message.id for e in door.of(MessagePosted)] == list(range(1, 51))
    assert service.sequencer.commits < 50
    # Each committed group reaches the doors as one batch, in id order.
    posted = [b for b in door.batches if isinstance(b[0], MessagePosted)]
    assert len(posted) == service.sequencer.commits
    assert max(len(b) for b in posted) > 1


async def test_max_group_one_commits_each_message(door: RecordingDoor) -> None:
    service = await make_service(door, max_group=1)
    try:
        await service.join("t", "c1", "alice")
        results = await asyncio.gather(*(service.post("c1", str(i)) for i in range(10)))
        assert [m.id for m in results] == list(range(1, 11))
        assert service.sequencer.commits == 10
    finally:
        await shutdown(service)


async def test_history_and_catchup(service: ChatService, door: RecordingDoor) -> None:
    await service.join("t", "c1", "alice")
    for i in range(5):
        await service.post("c1", f"m{i}")
    joined = await service.join("t", "c2", "bob")
    assert [m.text for m in joined.history] == ["m2", "m3", "m4"]  # --history 3
    await service.leave("c2")
    joined = await service.join("t", "c2", {"name": "bob", "after": 1})
    assert joined.catchup and [m.id for m in joined.history] == [2, 3, 4, 5]
    await service.leave("c2")
    joined = await service.join("t", "c2", {"name": "bob", "after": 99})
    assert not joined.catchup and len(joined.history) == 3 and joined.last_id == 5
    await service.leave("c2")
    epoch = service.store.epoch
    assert len(epoch) == 16
    resume = {"name": "bob", "after": 4, "epoch": epoch}
    joined = await service.join("t", "c2", resume)
    assert joined.catchup and [m.id for m in joined.history] == [5]
    await service.leave("c2")
    joined = await service.join("t", "c2", {**resume, "epoch": "another-db"})
    assert not joined.catchup and len(joined.history) == 3


async def test_missing_too_much_gets_recent_history(
    service: ChatService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "CATCHUP_LIMIT", 4)
    await service.join("t", "c1", "alice")
    for i in range(6):
        await service.post("c1", f"m{i}")
    joined = await service.join("t", "c2", {"name": "bob", "after": 2})
    assert joined.catchup and [m.id for m in joined.history] == [3, 4, 5, 6]
    await service.leave("c2")
    joined = await service.join("t", "c2", {"name": "bob", "after": 1})
    assert not joined.catchup and [m.id for m in joined.history] == [4, 5, 6]


async def test_leave_frees_the_name(service: ChatService, door: RecordingDoor) -> None:
    await service.join("t", "c1", "alice")
    await service.join("t", "c2", "bob")
    await service.leave("c1")
    assert door.of(MemberLeft) == [MemberLeft("lobby", "alice")]
    assert door.attached == ["c2"]
    await service.join("t", "c3", "alice")


async def test_rate_limit(door: RecordingDoor) -> None:
    service = await make_service(door, rate_limit=0.001, rate_burst=2)
    try:
        await service.join("t", "c1", "alice")
        await service.post("c1", "1")
        await service.post("c1", "2")
        with pytest.raises(ChatError) as info:
            await service.post("c1", "3")
        assert info.value.code == "rate_limited" and info.value.extra["retry_after"] > 0
        assert len(door.of(MessagePosted)) == 2
    finally:
        await shutdown(service)


async def test_typing_changes_clear_on_post_and_expire(
    service: ChatService, door: RecordingDoor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "TYPING_TIMEOUT", 0.05)
    await service.join("t", "c1", "alice")
    await service.typing("c1", True)
    await service.typing("c1", True)  # no change, no event
    await service.post("c1", "done")
    assert [e.typing for e in door.of(TypingChanged)] == [True, False]
    await service.typing("c1", True)
    await asyncio.sleep(0.2)
    assert [e.typing for e in door.of(TypingChanged)] == [True, False, True, False]
    with pytest.raises(ChatError):
        await service.typing("c1", "yes")


async def test_store_failure_is_an_error_and_broadcasts_nothing(
    door: RecordingDoor,
) -> None:
    store = FailingStore(":memory:", retention_days=0, room_cap=0)
    service = await make_service(door, store)
    try:
        await service.join("t", "c1", "alice")
        with pytest.raises(ChatError) as info:
            await service.post("c1", "hi")
        assert info.value.code == "store_failed"
        assert door.of(MessagePosted) == []
    finally:
        await shutdown(service)


async def test_a_store_fault_fails_the_whole_group_in_words(
    door: RecordingDoor, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "chat.db"
    store = SQLiteStore(str(path), retention_days=0, room_cap=0)
    service = await make_service(door, store)
    try:
        await service.join("t", "c1", "alice")
        await service.post("c1", "kept")
        for name in (path, tmp_path / "chat.db-wal", tmp_path / "chat.db-shm"):
            name.unlink()
        results = await asyncio.gather(
            *(service.post("c1", str(i)) for i in range(20)), return_exceptions=True
        )
        assert all(isinstance(r, ChatError) for r in results), results
        assert {r.code for r in results} == {"store_failed"}  # type: ignore[union-attr]
        assert {r.message for r in results} == {  # type: ignore[union-attr]
            "The message could not be saved: the database file was removed "
            "or moved away while the server ran."
        }
        assert [e.message.text for e in door.of(MessagePosted)] == ["kept"]
        assert service.sequencer.commits == 1
        # One line for the fault, from the store; no traceback per group.
        assert [r.name for r in caplog.records if r.levelno >= 30] == ["store"]
    finally:
        await shutdown(service)


async def test_stop_flushes_queued_messages(door: RecordingDoor) -> None:
    service = await make_service(door)
    await service.join("t", "c1", "alice")
    posts = [asyncio.ensure_future(service.post("c1", str(i))) for i in range(5)]
    await asyncio.sleep(0)
    await shutdown(service)
    assert [p.result().id for p in posts] == [1, 2, 3, 4, 5]
    with pytest.raises(ChatError) as info:
        await service.post("c1", "late")
    assert info.value.code == "unavailable"
