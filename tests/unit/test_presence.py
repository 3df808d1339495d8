"""Names in one process (LocalDirectory) and this process's own members."""

from __future__ import annotations

import pytest

from chat.directory import LocalDirectory
from chat.models import Member
from chat.presence import Presence
from chat.rules import ChatError


def member(
    conn: str, name: str, room: str = "lobby", client: str | None = None
) -> Member:
    return Member(door="sio", conn=conn, name=name, room=room, client=client)


async def test_names_are_unique_per_room_ignoring_case() -> None:
    names = LocalDirectory()
    assert await names.claim(member("1", "Bob")) is None
    with pytest.raises(ChatError) as info:
        await names.claim(member("2", "bob"))
    assert info.value.code == "name_taken" and info.value.extra["suggestion"] == "bob2"
    assert await names.claim(member("2", "bob", room="dev")) is None
    assert await names.names("lobby") == ("Bob",)
    assert await names.claim(member("1", "Bob")) is None  # its own: fine


async def test_the_same_client_takes_over_and_release_is_by_connection() -> None:
    names = LocalDirectory()
    await names.claim(member("old", "ann", client="tab"))
    held = await names.claim(member("new", "Ann", client="tab"))
    assert held is not None and held.conn == "old"
    assert not await names.release(member("old", "ann"))  # not its name any more
    assert await names.names("lobby") == ("Ann",)
    assert await names.release(member("new", "Ann"))
    assert await names.names("lobby") == ()


async def test_names_that_read_alike_are_one_name() -> None:
    names = LocalDirectory()
    await names.claim(member("1", "Bob"))
    for i, alike in enumerate(
        ("b\u200dob", "BOB\u00ad", "b o b", "\uff42\uff4f\uff42")
    ):
        with pytest.raises(ChatError) as info:
            await names.claim(member(f"x{i}", alike))
        assert "reads the same as “Bob”" in info.value.message
    assert await names.claim(member("y", "bib")) is None


async def test_lists_keep_join_order() -> None:
    names = LocalDirectory()
    for i, name in enumerate(["c", "a", "b"]):
        await names.claim(member(str(i), name))
    await names.release(member("1", "a"))
    assert await names.names("lobby") == ("c", "b")


def test_presence_counts_this_processs_members() -> None:
    presence = Presence()
    presence.add(member("1", "a"))
    presence.add(member("2", "b", room="dev"))
    assert presence.rooms() == 2 and len(presence) == 2
    removed = presence.remove("1")
    assert removed is not None and removed.name == "a"
    assert presence.remove("1") is None
    assert presence.rooms() == 1
