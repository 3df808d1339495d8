from __future__ import annotations

from chat.models import Member
from chat.presence import Presence


def member(conn: str, name: str, room: str = "lobby") -> Member:
    return Member(door="sio", conn=conn, name=name, room=room)


def test_names_are_unique_per_room_ignoring_case() -> None:
    presence = Presence()
    presence.add(member("1", "Bob"))
    assert presence.holder("lobby", "bob") is not None
    assert presence.holder("dev", "bob") is None
    presence.add(member("2", "bob", room="dev"))
    assert presence.names("lobby") == ("Bob",)
    assert presence.rooms() == {"lobby": 1, "dev": 1}
    assert presence.taken("lobby") == {"bob"}


def test_names_that_read_alike_are_one_name() -> None:
    presence = Presence()
    presence.add(member("1", "Bob"))
    for alike in ("b\u200dob", "BOB\u00ad", "b o b", "\uff42\uff4f\uff42"):
        assert presence.holder("lobby", alike) is not None
    assert presence.holder("lobby", "bib") is None


def test_remove_frees_the_name_and_keeps_join_order() -> None:
    presence = Presence()
    for i, name in enumerate(["c", "a", "b"]):
        presence.add(member(str(i), name))
    assert presence.names("lobby") == ("c", "a", "b")
    removed = presence.remove("1")
    assert removed is not None and removed.name == "a"
    assert presence.remove("1") is None
    assert presence.names("lobby") == ("c", "b")
    assert len(presence) == 2
    presence.remove("0")
    presence.remove("2")
    assert presence.rooms() == {}
