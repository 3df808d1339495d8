"""Reading a WebSocket upgrade's head (the listener's fast way in)."""

from __future__ import annotations

import base64
import hashlib

from plumbing.upgrade import accept, parse

HEAD = (
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
    "Host: 127.0.0.1:8000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2"
)


def test_an_upgrade_head_is_read() -> None:
    head = parse(HEAD.encode(), "127.0.0.1")
    assert head is not None
    assert head.path == "/socket.io/"
    assert head.query == {"EIO": "4", "transport": "websocket"}
    assert head.key == "dGhlIHNhbXBsZSBub25jZQ=="
    assert head.headers.getall("x-forwarded-for") == ["10.0.0.1", "10.0.0.2"]
    assert head.peer == "127.0.0.1"


def test_the_accept_key_is_the_rfcs() -> None:
    # RFC 6455 1.3's own example.
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in accept(
        "dGhlIHNhbXBsZSBub25jZQ=="
    )
    digest = hashlib.sha1(b"k258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    assert base64.b64encode(digest) in accept("k")


def test_anything_else_is_left_to_aiohttp() -> None:
    def variant(old: str, new: str) -> bytes:
        assert old in HEAD
        return HEAD.replace(old, new).encode()

    for raw in (
        variant("GET ", "POST "),
        variant("HTTP/1.1", "HTTP/1.0"),
        variant("Upgrade: websocket", "Upgrade: h2c"),
        variant("Connection: Upgrade", "Connection: keep-alive"),
        variant("Version: 13", "Version: 8"),
        variant("Host: 127.0.0.1:8000\r\n", ""),
        variant("Host: 127.0.0.1:8000", "Host: a\r\nHost: b"),
        variant("Sec-WebSocket-Key: ", "Sec-WebSocket-Key : "),
        variant("/socket.io/", "http://evil.example/socket.io/"),
        variant("Host", "Hóst"),
        b"not http at all",
    ):
        assert parse(raw, "127.0.0.1") is None, raw
