"""The core without a server: a real SQLite store and a door that records."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from chat import service as service_module, typists as typists_module
from chat.models import (
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
from tests.helpers import remove_database
from tests.texts import COMPOSED, DECOMPOSED, TECHNOLOGIST
from tests.unit.services import RecordingDoor, make_service, shutdown


class FailingStore(SQLiteStore):
    async def append_many(self, batch: Sequence[NewMessage]) -> list[Message]:
        raise OSError("disk on fire")


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


async def test_composed_and_decomposed_are_one_name(
    service: ChatService, door: RecordingDoor
) -> None:
    joined = await service.join("t", "c1", {"name": DECOMPOSED})
    assert joined.member.name == COMPOSED  # stored and shown in NFC
    assert door.of(MemberJoined) == [MemberJoined("lobby", COMPOSED)]
    with pytest.raises(ChatError) as info:
        await service.join("t", "c2", COMPOSED)
    assert info.value.code == "name_taken"
    assert info.value.extra["suggestion"] == COMPOSED + "2"
    message = await service.post("c1", "hola")
    assert message.name == COMPOSED
    assert await service.directory.names("lobby") == (COMPOSED,)


async def test_names_that_read_alike_are_taken(service: ChatService) -> None:
    await service.join("t", "c1", TECHNOLOGIST)
    await service.join("t", "c2", "bob")
    for lookalike in (TECHNOLOGIST + "\ufe0f", "BOB", "b\u200dob", "bob\u3164"):
        with pytest.raises(ChatError) as info:
            await service.join("t", "c3", lookalike)
        assert info.value.code == "name_taken"
    # Said in words, not as a Python repr full of \u escapes.
    assert "\\u" not in info.value.message and "“bob”" in info.value.message
    await service.join("t", "c3", "\U0001f469")  # 👩 alone is another name
    assert await service.directory.names("lobby") == (TECHNOLOGIST, "bob", "\U0001f469")


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
    assert await service.directory.names("lobby") == ("alice",)


async def test_a_connection_gone_mid_join_holds_no_name(
    service: ChatService, door: RecordingDoor
) -> None:
    def gone(member: Member) -> bool:
        return False

    door.attach = gone  # type: ignore[method-assign]
    with pytest.raises(ChatError):
        await service.join("t", "c1", "alice")
    assert await service.directory.names("lobby") == ()
    assert door.of(MemberJoined) == []


async def test_second_join_renames(service: ChatService, door: RecordingDoor) -> None:
    await service.join("t", "c1", "alice")
    await service.join("t", "c1", {"name": "alicia", "room": "dev"})
    assert door.of(MemberLeft) == [MemberLeft("lobby", "alice")]
    assert await service.directory.names("dev") == ("alicia",)


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
    monkeypatch.setattr(typists_module, "TYPING_TIMEOUT", 0.05)
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
        remove_database(path)
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
    try:
        await service.join("t", "c1", "alice")
        posts = [asyncio.ensure_future(service.post("c1", str(i))) for i in range(5)]
        await asyncio.sleep(0)
    finally:
        await shutdown(service)
    assert [p.result().id for p in posts] == [1, 2, 3, 4, 5]
    with pytest.raises(ChatError) as info:
        await service.post("c1", "late")
    assert info.value.code == "unavailable"


async def test_rejoining_or_reconnecting_does_not_reset_the_flood_limit(
    door: RecordingDoor,
) -> None:
    service = await make_service(door, rate_limit=0.001, rate_burst=3)
    try:
        await service.join("t", "c1", {"name": "ann", "client": "tab"})
        for i in range(3):
            await service.post("c1", str(i))
        await service.join("t", "c1", {"name": "ann2", "client": "tab"})  # rename
        with pytest.raises(ChatError) as info:
            await service.post("c1", "again")
        assert info.value.code == "rate_limited"
        await service.leave("c1")
        # A new connection of the same client starts where the old one was.
        await service.join("t", "c2", {"name": "ann", "client": "tab"})
        with pytest.raises(ChatError):
            await service.post("c2", "after reconnect")
        assert len(door.of(MessagePosted)) == 3
    finally:
        await shutdown(service)


async def test_joins_and_typing_changes_are_limited(door: RecordingDoor) -> None:
    service = await make_service(door, rate_limit=1, rate_burst=5)
    try:
        codes = []
        for i in range(8):
            try:
                await service.join("t", "c1", f"name{i}")
            except ChatError as exc:
                codes.append(exc.code)
        assert codes == ["rate_limited"] * 3  # a burst of 5, then one per 2 s
        for _ in range(30):  # refreshing "typing" changes nothing: free
            await service.typing("c1", True)
        flips = 0
        with pytest.raises(ChatError) as info:
            for flips in range(1, 30):
                await service.typing("c1", flips % 2 == 0)
        assert info.value.code == "rate_limited" and flips < 15
        assert len(door.of(TypingChanged)) < 15
    finally:
        await shutdown(service)


async def test_two_joins_on_one_connection_do_not_interleave(
    service: ChatService, door: RecordingDoor
) -> None:
    await asyncio.gather(
        service.join("t", "c1", {"name": "a", "room": "one"}),
        service.join("t", "c1", {"name": "b", "room": "two"}),
    )
    # One membership, the last one, and the room saw a clean hand-over.
    assert service.presence.get("c1") is not None
    assert await service.directory.names("one") == () and await service.directory.names(
        "two"
    ) == ("b",)
    assert door.attached == ["c1"]
    assert door.events == [
        MemberJoined("one", "a"),
        MemberLeft("one", "a"),
        MemberJoined("two", "b"),
    ]


async def test_take_over_clears_the_old_typing_indicator(
    service: ChatService, door: RecordingDoor
) -> None:
    await service.join("t", "old", {"name": "ann", "client": "tab"})
    await service.typing("old", True)
    await service.join("t", "new", {"name": "ann", "client": "tab"})
    assert [(e.name, e.typing) for e in door.of(TypingChanged)] == [
        ("ann", True),
        ("ann", False),
    ]


async def test_a_failed_take_over_announces_the_leave(
    service: ChatService, door: RecordingDoor
) -> None:
    await service.join("t", "old", {"name": "ann", "client": "tab"})

    def gone(member: Member) -> bool:
        return False  # the new connection closed mid-join

    door.attach = gone  # type: ignore[method-assign]
    with pytest.raises(ChatError):
        await service.join("t", "new", {"name": "ann", "client": "tab"})
    assert door.kicked == ["old"]
    assert door.of(MemberLeft) == [MemberLeft("lobby", "ann")]
    assert await service.directory.names("lobby") == ()
