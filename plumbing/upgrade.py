"""The head of a WebSocket upgrade request, read before aiohttp would see it.

The listener (:mod:`web.listener`) reads each connection's first request
head itself; one that is a WebSocket upgrade the app knows how to take
(:data:`Upgrades`) is answered here, and the connection never becomes an
aiohttp request. Anything else, or anything unusual, goes to aiohttp
unchanged, which answers it as before: this is a fast way in for the
common case, never a second set of rules.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

MAX_HEAD = 8192
"""Bytes; a longer head goes to aiohttp (which applies its own limits)."""
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True, slots=True)
class Head:
    """A request head: what a WebSocket upgrade needs of it."""

    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    peer: str
    """The address of the connection's other end."""

    @property
    def key(self) -> str:
        return self.headers.get("Sec-WebSocket-Key", "")


def parse(raw: bytes, peer: str) -> Head | None:
    """A GET upgrade to WebSocket (version 13, with a key), or None: anything
    else, or anything malformed, is for aiohttp to answer."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    line, *fields = text.split("\r\n")
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1":
        return None
    headers: CIMultiDict[str] = CIMultiDict()
    for field in fields:
        name, colon, value = field.partition(":")
        if not colon or not name or name != name.strip():
            return None
        headers.add(name, value.strip())
    if (
        headers.get("Upgrade", "").lower() != "websocket"
        or "upgrade" not in headers.get("Connection", "").lower()
        or headers.get("Sec-WebSocket-Version") != "13"
        or len(headers.getall("Sec-WebSocket-Key", ())) != 1
        or len(headers.getall("Host", ())) != 1
    ):
        return None
    target = urlsplit(parts[1])
    if target.scheme or target.netloc:
        return None
    query = dict(parse_qsl(target.query))
    return Head(target.path, query, CIMultiDictProxy(headers), peer)


def accept(key: str) -> bytes:
    """The 101 answer to a request with ``Sec-WebSocket-Key: key``."""
    digest = hashlib.sha1(key.encode() + _GUID).digest()
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
        + base64.b64encode(digest)
        + b"\r\n\r\n"
    )


def refusal(
    status: str,
    body: bytes,
    content_type: str = "text/plain; charset=utf-8",
    extra: str = "",
) -> bytes:
    """A whole response that ends the connection, for one aiohttp never
    sees: ``status`` ("429 Too Many Requests"), ``extra`` header lines."""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    ).encode() + body
