from __future__ import annotations

import orjson
import pytest
from hypothesis import given, strategies as st

from chat.models import Message
from chat.rules import ChatError, parse_join
from web import json_messages
from web.json_messages import Command, parse_frame


def test_join_and_usermsg() -> None:
    frame = {"type": "join", "name": "bob", "room": "dev", "client": "t1"}
    assert parse_frame(orjson.dumps(frame).decode(), joined=False) == Command(
        "join", frame
    )
    assert parse_frame('{"type": "usermsg", "message": "hi"}', joined=True) == Command(
        "post", "hi"
    )


def test_usermsg_with_a_name_joins_first() -> None:
    cmd = parse_frame(
        '{"type": "usermsg", "name": "bob", "message": "hi"}', joined=False
    )
    assert cmd == Command("join", {"name": "bob"}, then_post="hi")


@pytest.mark.parametrize("text", ["hello", "42", "true", "[1, 2]", "{not json"])
def test_anything_but_an_object_is_message_text_once_joined(text: str) -> None:
    assert parse_frame(text, joined=True) == Command("post", text)
    with pytest.raises(ChatError) as info:
        parse_frame(text, joined=False)
    assert info.value.code == "not_joined"


@pytest.mark.parametrize("text", ['{"type": "dance"}', "{}", '{"type": 5}'])
def test_unknown_shapes(text: str) -> None:
    with pytest.raises(ChatError) as info:
        parse_frame(text, joined=True)
    assert info.value.code == "bad_frame"


@pytest.mark.parametrize(
    "text",
    [
        r'{"type": "usermsg", "message": "\ud83d"}',
        r'{"type": "join", "name": "\udc00"}',
    ],
)
def test_half_a_surrogate_pair_is_refused_not_posted(text: str) -> None:
    for joined in (True, False):
        with pytest.raises(ChatError) as info:
            parse_frame(text, joined=joined)
        assert info.value.code == "bad_frame" and "surrogate" in info.value.message
    # Bare text that merely mentions an escape is still a message.
    assert parse_frame(r"what is \ud83d?", joined=True) == Command(
        "post", r"what is \ud83d?"
    )


def test_oversize() -> None:
    with pytest.raises(ChatError) as info:
        parse_frame("x" * (json_messages.MAX_FRAME + 1), joined=True)
    assert info.value.code == "frame_too_large"


def test_outgoing_frames_are_html_escaped() -> None:
    m = Message("lobby", 3, "<i>bob</i>", "<script>x</script> & co", 99)
    frame = json_messages.usermsg(m, history=True)
    assert frame == {
        "type": "usermsg",
        "name": "&lt;i&gt;bob&lt;/i&gt;",
        "message": "&lt;script&gt;x&lt;/script&gt; &amp; co",
        "id": 3,
        "room": "lobby",
        "ts": 99,
        "history": True,
    }
    notice = json_messages.notice(json_messages.JOIN_NOTICE, "<b>", "join")
    assert notice["message"] == "&lt;b&gt; 加入了群聊"
    error = json_messages.error(ChatError("invalid_text", "a <b> c"))
    assert (
        error["message"] == "a &lt;b&gt; c" and error["error"]["code"] == "invalid_text"
    )
    assert orjson.loads(json_messages.encode(json_messages.users("r", ("<a>",)))) == {
        "type": "users",
        "room": "r",
        "users": ["&lt;a&gt;"],
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "name", "message", "room", "after", "typing"])
            | st.text(max_size=5),
            inner,
            max_size=5,
        )
    ),
    max_leaves=10,
)


@given(
    st.one_of(
        st.text(max_size=200), json_values.map(lambda v: orjson.dumps(v).decode())
    ),
    st.booleans(),
)
def test_any_frame_parses_or_is_a_clear_error(text: str, joined: bool) -> None:
    try:
        command = parse_frame(text, joined=joined)
    except ChatError as exc:
        assert exc.code and exc.message
    else:
        assert command.kind in ("join", "post", "typing", "leave")


@given(json_values)
def test_any_join_payload_parses_or_is_a_clear_error(data: object) -> None:
    try:
        request = parse_join(data)
    except ChatError as exc:
        assert exc.code in ("invalid_name", "invalid_room", "invalid_after")
    else:
        assert request.name and request.room
