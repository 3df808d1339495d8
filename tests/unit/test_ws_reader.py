"""The WebSocket frame reader of the listener's own connections."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, strategies as st

from plumbing.ws_frames import BINARY, CLOSE, CONTINUATION, PING, TEXT
from plumbing.ws_reader import (
    INVALID_DATA,
    PROTOCOL_ERROR,
    TOO_BIG,
    FrameError,
    FrameReader,
    Message,
    unmask,
)
from tests.helpers import masked_frame


def test_unmask_is_its_own_inverse() -> None:
    key, data = b"\x01\x02\x03\x04", b"hello, world"
    assert unmask(key, unmask(key, data)) == data
    assert unmask(key, b"") == b""


@given(
    st.lists(st.text(max_size=300), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=64),
)
def test_messages_come_whole_however_the_bytes_are_cut(
    texts: list[str], chunk: int
) -> None:
    wire = b"".join(masked_frame(t.encode()) for t in texts)
    reader = FrameReader(1 << 20)
    got: list[Message] = []
    for at in range(0, len(wire), chunk):
        got += reader.feed(wire[at : at + chunk])
    assert [m.data for m in got] == texts


def test_fragments_are_joined_and_control_frames_may_come_between() -> None:
    reader = FrameReader(1 << 20)
    wire = (
        masked_frame(b"he", TEXT, fin=False)
        + masked_frame(b"?", PING)
        + masked_frame(b"ll", CONTINUATION, fin=False)
        + masked_frame("o 你好".encode(), CONTINUATION)
        + masked_frame(b"\x00\xff", BINARY)
    )
    assert reader.feed(wire) == [
        Message(PING, b"?"),
        Message(TEXT, "hello 你好"),
        Message(BINARY, b"\x00\xff"),
    ]


def test_a_16_and_a_64_bit_length() -> None:
    reader = FrameReader(1 << 20)
    big = "x" * 70_000
    assert [
        m.data
        for m in reader.feed(masked_frame(b"y" * 300) + masked_frame(big.encode()))
    ] == [
        "y" * 300,
        big,
    ]


def test_close_carries_its_code_and_ends_reading() -> None:
    reader = FrameReader(1024)
    got = reader.feed(
        masked_frame(struct.pack("!H", 1001) + b"bye", CLOSE) + masked_frame(b"late")
    )
    assert got == [Message(CLOSE, b"bye", 1001)]
    assert reader.feed(masked_frame(b"later")) == []
    assert FrameReader(1024).feed(masked_frame(b"", CLOSE)) == [
        Message(CLOSE, b"", 1005)
    ]


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (masked_frame(b"x", rsv=0x40), PROTOCOL_ERROR),  # no extension agreed
        (b"\x81\x01x", PROTOCOL_ERROR),  # not masked
        (masked_frame(b"x", 0x3), PROTOCOL_ERROR),  # reserved opcode
        (masked_frame(b"x", CONTINUATION), PROTOCOL_ERROR),  # nothing to continue
        (masked_frame(b"a", TEXT, fin=False) + masked_frame(b"b"), PROTOCOL_ERROR),
        (masked_frame(b"p" * 126, PING), PROTOCOL_ERROR),  # control frame too long
        (masked_frame(b"p", PING, fin=False), PROTOCOL_ERROR),
        (masked_frame(b"\x03", CLOSE), PROTOCOL_ERROR),  # half a close code
        (masked_frame(b"\xff\xfe"), INVALID_DATA),
        (masked_frame(b"z" * 2000), TOO_BIG),
    ],
)
def test_a_broken_frame_is_refused_with_its_close_code(wire: bytes, code: int) -> None:
    with pytest.raises(FrameError) as raised:
        FrameReader(1024).feed(wire)
    assert raised.value.code == code


def test_an_oversized_frame_is_refused_from_its_header_alone() -> None:
    """Before its payload arrives: nothing of it is buffered."""
    head = struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 40) + b"\x00" * 4
    with pytest.raises(FrameError) as raised:
        FrameReader(1 << 20).feed(head)
    assert raised.value.code == TOO_BIG


def test_fragments_count_toward_the_bound_together() -> None:
    reader = FrameReader(1000)
    reader.feed(masked_frame(b"a" * 600, TEXT, fin=False))
    with pytest.raises(FrameError) as raised:
        reader.feed(masked_frame(b"b" * 600, CONTINUATION))
    assert raised.value.code == TOO_BIG
