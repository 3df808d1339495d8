from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from chat.rules import (
    FORMATS,
    MAX_NAME,
    MAX_TEXT,
    ChatError,
    JoinRequest,
    check_after,
    check_name,
    check_room,
    check_text,
    check_typing,
    parse_join,
    suggest_name,
)


def code(fn, value) -> str:
    with pytest.raises(ChatError) as info:
        fn(value)
    return info.value.code


@pytest.mark.parametrize(
    "value",
    [
        None,
        3,
        ["a"],
        {"name": "a"},
        "",
        "   ",
        "\t\n",
        "x" * (MAX_NAME + 1),
        "a\x00b",
        "a\x1bb",
        "bad\u200bname",
        "line\u2028break",
    ],
)
def test_bad_names(value) -> None:
    assert code(check_name, value) == "invalid_name"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("小明", "小明"),
        ("  bob  ", "bob"),
        ("x" * MAX_NAME, "x" * MAX_NAME),
        ("a b", "a b"),
    ],
)
def test_good_names(value, expected) -> None:
    assert check_name(value) == expected


@given(st.text(max_size=60))
def test_name_is_clean_or_rejected(value: str) -> None:
    try:
        name = check_name(value)
    except ChatError as exc:
        assert exc.code == "invalid_name"
    else:
        assert name == name.strip() and 0 < len(name) <= MAX_NAME


@pytest.mark.parametrize(
    "value", [None, 1, "", "  ", "\n", "x" * (MAX_TEXT + 1), "a\x00", "bell\x07"]
)
def test_bad_texts(value) -> None:
    assert code(check_text, value) == "invalid_text"


def test_texts_keep_line_breaks_and_are_not_trimmed() -> None:
    assert check_text(" two\nlines\t") == " two\nlines\t"
    assert check_text("x" * MAX_TEXT) == "x" * MAX_TEXT


@pytest.mark.parametrize("value", ["", "a b", "a/b", "x" * 65, "房间", 5, "a\n"])
def test_bad_rooms(value) -> None:
    assert code(check_room, value) == "invalid_room"


def test_rooms() -> None:
    assert check_room(None) == "lobby"
    assert check_room("dev-ops_2") == "dev-ops_2"
    assert check_room("x" * 64) == "x" * 64


@pytest.mark.parametrize("value", [-1, "3", 1.5, True])
def test_bad_after(value) -> None:
    assert code(check_after, value) == "invalid_after"


def test_after_and_typing() -> None:
    assert check_after(None) is None
    assert check_after(0) == 0
    assert check_typing(True) is True
    assert code(check_typing, "yes") == "invalid_typing"


def test_parse_join_forms() -> None:
    assert parse_join("bob") == JoinRequest("bob", format="tutorial")
    assert parse_join({"name": "bob", "room": "dev", "after": 7}) == JoinRequest(
        "bob", "dev", 7, format="structured"
    )
    assert parse_join({"name": "bob", "client": "tab-1"}).client == "tab-1"
    for odd in (5, "", "x" * 65):
        assert parse_join({"name": "bob", "client": odd}).client is None
    assert code(parse_join, {"room": "dev"}) == "invalid_name"
    assert code(parse_join, {"name": "bob", "room": "no such"}) == "invalid_room"


def test_format_is_what_the_client_reads() -> None:
    # A bare nickname is the tutorial's client; the object form is structured
    # unless it asks for the tutorial's events or both.
    assert parse_join("bob").format == "tutorial"
    assert parse_join({"name": "bob"}).format == "structured"
    for form in FORMATS:
        assert parse_join({"name": "bob", "format": form}).format == form
    for bad in ("xml", 1, ["both"]):
        assert code(parse_join, {"name": "bob", "format": bad}) == "invalid_format"


def test_suggest_name() -> None:
    assert suggest_name("bob", {"bob"}) == "bob2"
    assert suggest_name("Bob", {"bob", "bob2"}) == "Bob3"
    long = "x" * MAX_NAME
    suggestion = suggest_name(long, {long})
    assert len(suggestion) == MAX_NAME and suggestion.endswith("2")


def test_error_as_dict_carries_extras() -> None:
    exc = ChatError("name_taken", "taken", suggestion="bob2")
    assert exc.as_dict() == {
        "code": "name_taken",
        "message": "taken",
        "suggestion": "bob2",
    }
