from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given, strategies as st

from chat.rules import (
    FORMATS,
    MAX_NAME,
    MAX_TEXT,
    ChatError,
    JoinRequest,
    check_after,
    check_before,
    check_name,
    check_room,
    check_text,
    check_typing,
    name_key,
    parse_join,
    suggest_name,
)
from chat.text import is_visible
from tests.texts import (
    COMPOSED,
    DECOMPOSED,
    ENGLAND_FLAG,
    FAMILY,
    KISS,
    NAMES,
    TECHNOLOGIST,
    TEXTS,
    ZWJ,
    ZWNJ,
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
        "para\u2029graph",
        "tab\tinside",
        "del\x7f",
        "n\x85el",  # NEXT LINE inside (at an end it is trimmed as whitespace)
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


@pytest.mark.parametrize("name", NAMES)
def test_names_people_write_are_kept_as_typed(name: str) -> None:
    assert check_name(name) == name
    assert check_name(f"  {name} ") == name


def test_a_family_fits_and_the_limit_counts_code_points() -> None:
    family = f"{FAMILY}{ZWJ}\U0001f466"  # 👨‍👩‍👧‍👦: seven code points
    assert check_name(family * 4) == family * 4  # 28
    assert check_name(KISS * 3) == KISS * 3  # 30
    assert code(check_name, KISS * 3 + "ab" + "c") == "invalid_name"  # 33


def test_names_are_stored_in_nfc() -> None:
    assert COMPOSED != DECOMPOSED
    assert check_name(DECOMPOSED) == COMPOSED == check_name(COMPOSED)
    # NFC first, then the limit: 31 letters and a decomposed é fit.
    assert check_name("x" * 31 + "e\u0301") == "x" * 31 + "\u00e9"
    hangul = "\u1112\u1161\u11ab"  # 한 as three jamo
    assert check_name(hangul) == "\ud55c"


INVISIBLE_ONLY = [
    ZWJ,
    ZWNJ * 3,
    "\ufe0f",  # variation selector (also a mark)
    "\u00ad\u00ad",  # soft hyphens
    "\u3164",  # HANGUL FILLER
    "\u115f\u1160",  # Hangul choseong and jungseong fillers
    "\uffa0",  # HALFWIDTH HANGUL FILLER
    "\u2800",  # BRAILLE PATTERN BLANK
    "\U0001d159",  # MUSICAL SYMBOL NULL NOTEHEAD
    "\u3000\u3164\u00a0",  # ideographic space, filler, no-break space
    f"\u2800{ZWJ}\u3164",
    "\u180e",  # MONGOLIAN VOWEL SEPARATOR
    "\u034f",  # combining grapheme joiner: a mark, so also a bad start
]

SPOOFS = [
    "bob\u202e",  # RIGHT-TO-LEFT OVERRIDE
    *(f"a{chr(cp)}b" for cp in range(0x202A, 0x202F)),  # embeddings, overrides
    *(f"a{chr(cp)}b" for cp in range(0x2066, 0x206A)),  # isolates
    "bob\u200f",  # RIGHT-TO-LEFT MARK
    "\u200ebob",  # LEFT-TO-RIGHT MARK
    "bob\u061c",  # ARABIC LETTER MARK
    "bo\u200bb",  # zero width space
    "bob\u2060",  # word joiner
    "b\u2062ob",  # invisible times
    "bob\ufeff",  # zero width no-break space (byte order mark)
    "bob\u206a",  # deprecated: inhibit symmetric swapping
    "b\ufff9o\ufffab\ufffb",  # interlinear annotation hides "o"
    "bob\u2065",  # unassigned, reserved for a future invisible control
    "bob\U000e0001",  # LANGUAGE TAG (deprecated)
    "bob\U000e0062\U000e0065",  # tag characters outside a tag sequence
    "\U0001f3f4\U000e0067\U000e0062",  # a tag sequence without its end
    "\u0301bob",  # starts with a combining mark
]


@pytest.mark.parametrize("name", INVISIBLE_ONLY + SPOOFS)
def test_invisible_and_spoofing_names_are_refused(name: str) -> None:
    with pytest.raises(ChatError) as info:
        check_name(name)
    assert info.value.code == "invalid_name" and info.value.message


def test_refusals_say_why() -> None:
    def why(name: str) -> str:
        with pytest.raises(ChatError) as info:
            check_name(name)
        return info.value.message

    assert "visible" in why("\u3164")
    assert "direction" in why("bob\u202e")
    assert "tag" in why("bob\U000e0062")
    assert "combining" in why("\u0301bob")
    assert "surrogate" in why("bob\ud800")
    assert "noncharacter" in why("bob\uffff")


@pytest.mark.parametrize(
    "same",
    [
        "Bob",
        "BOB",
        "\uff42\uff4f\uff42",  # fullwidth
        "b o b",
        f"bo{ZWJ}b",
        f"b{ZWNJ}ob",
        "bob\u00ad",
        "b\u3164ob",
        "bo\u200ab",  # hair space
        "bob\u2800",
        "bo\ufe0fb",
    ],
)
def test_names_that_read_alike_have_one_key(same: str) -> None:
    assert name_key(check_name(same)) == name_key("bob")


def test_keys_keep_what_is_seen() -> None:
    assert name_key(COMPOSED) == name_key(DECOMPOSED) == "jos\u00e9"
    assert name_key(check_name(TECHNOLOGIST)) != name_key("\U0001f469")
    assert name_key("\U0001f44d\U0001f3fb") != name_key("\U0001f44d\U0001f3ff")
    assert name_key("bob") != name_key("bib")


def test_suggestions_keep_emoji_sequences_whole() -> None:
    long = "x" * 25 + ENGLAND_FLAG  # 32: "2" would cut the flag's tags
    assert suggest_name(long, {name_key(long)}) == "x" * 25 + "2"
    kisses = "ab" + KISS * 3  # 32: "2" would cut the last kiss
    assert suggest_name(kisses, {name_key(kisses)}) == "ab" + KISS * 2 + "2"
    tech = "x" * 29 + TECHNOLOGIST  # 32
    assert suggest_name(tech, {name_key(tech)}) == "x" * 29 + "2"
    joined = "x" * 30 + TECHNOLOGIST[:2]  # 👩 and a ZWJ that joins nothing
    assert suggest_name(joined, {name_key(joined)}) == "x" * 30 + "2"


nicknames = st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40
)


@given(nicknames)
def test_an_accepted_nickname_is_nfc_and_visible(value: str) -> None:
    try:
        name = check_name(value)
    except ChatError as exc:
        assert exc.code == "invalid_name" and exc.message
    else:
        assert unicodedata.is_normalized("NFC", name)
        assert any(map(is_visible, name)) and name_key(name)
        assert name == name.strip() and len(name) <= MAX_NAME
        assert check_name(name) == name


@given(nicknames, st.data())
def test_joiners_and_selectors_never_make_a_new_name(value: str, data) -> None:
    try:
        name = check_name(value)
    except ChatError:
        return
    where = data.draw(st.integers(1, len(name)))
    invisible = data.draw(st.sampled_from([ZWJ, ZWNJ, "\u00ad", "\ufe0f"]))
    assert name_key(name[:where] + invisible + name[where:]) == name_key(name)


@given(nicknames)
def test_suggestions_are_good_free_names(value: str) -> None:
    try:
        name = check_name(value)
    except ChatError:
        return
    suggestion = suggest_name(name, {name_key(name)})
    assert check_name(suggestion) == suggestion
    assert name_key(suggestion) != name_key(name)


@pytest.mark.parametrize(
    "value",
    [
        None,
        1,
        "",
        "  ",
        "\n",
        "x" * (MAX_TEXT + 1),
        "a\x00",
        "bell\x07",
        "esc\x1b[31m",
        "del\x7f",
        "nel\x85",
        "csi\x9b",
        "lone\ud83d",  # half a surrogate pair: cannot be stored or sent on
        "low\udc00 first",
        "non\ufffe",  # noncharacters
        "non\U0010ffff",
        "non\ufdd0",
        *INVISIBLE_ONLY,
        "\u200f\u200e\u202e",  # only direction controls
    ],
)
def test_bad_texts(value) -> None:
    assert code(check_text, value) == "invalid_text"


@pytest.mark.parametrize("text", TEXTS)
def test_texts_people_write_are_kept_as_typed(text: str) -> None:
    assert check_text(text) == text


def test_texts_are_not_normalized() -> None:
    assert check_text(DECOMPOSED) == DECOMPOSED


_CONTROLS = {chr(cp) for cp in [*range(0x20), *range(0x7F, 0xA0)]} - set("\n\r\t")


@given(
    st.text(
        st.characters(blacklist_categories=("Cs",)).filter(
            lambda ch: (
                ch not in _CONTROLS
                and not (0xFDD0 <= ord(ch) <= 0xFDEF or ord(ch) & 0xFFFE == 0xFFFE)
            )
        ),
        max_size=MAX_TEXT,
    )
)
def test_any_text_without_controls_is_a_message(text: str) -> None:
    assume(any(map(is_visible, text)))
    assert check_text(text) == text


@given(st.text(max_size=50), st.sampled_from(sorted(_CONTROLS)), st.text(max_size=50))
def test_a_control_anywhere_refuses_a_message(before, control, after) -> None:
    assert code(check_text, before + control + after) == "invalid_text"


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


@pytest.mark.parametrize("value", [-1, "3", 1.5, True, 2**63])
def test_bad_after_and_before(value) -> None:
    assert code(check_after, value) == "invalid_after"
    assert code(check_before, value) == "invalid_before"


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
