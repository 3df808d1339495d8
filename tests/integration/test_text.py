"""Text people really type, through every door, with real clients.

Each door is driven by a small ``Talker`` that joins and posts the way that
door's clients do and reports what came back to it, so one test covers
Socket.IO, the plain WebSocket and the HTTP API alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import aiohttp
import pytest

from tests.helpers import TIMEOUT, SioClient
from tests.texts import (
    COMPOSED,
    DECOMPOSED,
    NAMES,
    PERSIAN,
    TECHNOLOGIST,
    TEXTS,
    ZWJ,
)

Reply = dict[str, Any]
"""``{"ok": True, "name", "text"?}`` or ``{"ok": False, "code", "message"}``."""


class Talker(Protocol):
    async def join(self, name: str) -> Reply: ...

    async def post(self, text: str) -> Reply: ...


class SioTalker:
    def __init__(self, client: SioClient) -> None:
        self.client = client

    async def join(self, name: str) -> Reply:
        reply = await self.client.call("join", {"name": name, "format": "structured"})
        return {"ok": True, "name": reply["name"]} if reply["ok"] else _failed(reply)

    async def post(self, text: str) -> Reply:
        reply = await self.client.call("message", text)
        if not reply["ok"]:
            return _failed(reply)
        chat = await self.client.inbox.wait("chat", lambda m: m["id"] == reply["id"])
        return {"ok": True, "name": chat["name"], "text": chat["text"]}


class WsTalker:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def join(self, name: str) -> Reply:
        await self.ws.send_json({"type": "join", "name": name})
        frame = await self.until(lambda f: f["type"] == "joined")
        return {"ok": True, "name": frame["name"]} if "error" not in frame else frame

    async def post(self, text: str) -> Reply:
        await self.ws.send_json({"type": "usermsg", "message": text})
        frame = await self.until(lambda f: f["type"] == "usermsg")
        if "error" in frame:
            return frame
        return {"ok": True, "name": frame["name"], "text": frame["message"]}

    async def until(self, wanted: Callable[[dict[str, Any]], bool]) -> Reply:
        """The next frame ``wanted``, or the next error (as a failed reply)."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                frame = await self.ws.receive_json()
                if "error" in frame:
                    return {"ok": False, "error": True, **frame["error"]}
                if wanted(frame) and not frame.get("history"):
                    return frame  # type: ignore[no-any-return]


class HttpTalker:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.auth: dict[str, str] = {}

    async def join(self, name: str) -> Reply:
        async with self.http.post("api/session", json={"name": name}) as resp:
            body = await resp.json()
        if resp.status != 201:
            return _failed(body)
        self.auth = {"Authorization": f"Bearer {body['token']}"}
        return {"ok": True, "name": body["name"]}

    async def post(self, text: str) -> Reply:
        async with self.http.post(
            "api/messages", json={"text": text}, headers=self.auth
        ) as resp:
            body = await resp.json()
        if resp.status != 201:
            return _failed(body)
        # Read it back as a poller would: what was stored, not what was echoed.
        after = body["message"]["id"] - 1
        async with self.http.get(f"api/messages?after={after}") as resp:
            stored = (await resp.json())["messages"][0]
        return {"ok": True, "name": stored["name"], "text": stored["text"]}


def _failed(reply: dict[str, Any]) -> Reply:
    return {"ok": False, **reply["error"]}


NewTalker = Callable[[], Awaitable[Talker]]


@pytest.fixture(params=["socketio", "websocket", "http"])
async def talker(
    request: pytest.FixtureRequest, url: str, sio_client: Any
) -> AsyncIterator[NewTalker]:
    """Makes clients of one door; the test runs once for each door."""
    async with aiohttp.ClientSession(base_url=url + "/") as http:
        sockets: list[aiohttp.ClientWebSocketResponse] = []

        async def new() -> Talker:
            if request.param == "socketio":
                return SioTalker(await sio_client())
            if request.param == "websocket":
                sockets.append(await http.ws_connect("ws"))
                return WsTalker(sockets[-1])
            return HttpTalker(http)

        yield new
        for ws in sockets:
            await ws.close()


@pytest.fixture
async def watcher(sio_client: Any) -> SioClient:
    """A Socket.IO client in the room that sees what every door posts."""
    client: SioClient = await sio_client()
    await client.join("watcher")
    return client


@pytest.mark.parametrize("name", [TECHNOLOGIST, PERSIAN])
async def test_names_and_texts_come_back_unchanged(
    talker: NewTalker, watcher: SioClient, name: str
) -> None:
    client = await talker()
    assert await client.join(name) == {"ok": True, "name": name}
    for text in TEXTS:
        assert await client.post(text) == {"ok": True, "name": name, "text": text}
    await watcher.inbox.wait("chat", lambda m: m["text"] == TEXTS[-1])
    seen = [(m["name"], m["text"]) for m in watcher.inbox.of("chat")]
    assert seen == [(name, text) for text in TEXTS]
    tutorial = watcher.inbox.of("message")
    assert tutorial == [f"{name}: {text}" for text in TEXTS]


async def test_every_name_people_write_can_join(
    talker: NewTalker, watcher: SioClient
) -> None:
    for name in NAMES:
        assert await (await talker()).join(name) == {"ok": True, "name": name}
        await watcher.inbox.wait("user_joined", lambda u, n=name: u["name"] == n)


@pytest.mark.parametrize(
    "name",
    [
        "bob\u202e",  # RIGHT-TO-LEFT OVERRIDE
        "\u2067bob\u2069",  # RIGHT-TO-LEFT ISOLATE ... POP DIRECTIONAL ISOLATE
        "bob\u200f",  # RIGHT-TO-LEFT MARK
        ZWJ * 2,
        "\u3164",  # HANGUL FILLER
        "\u2800",  # BRAILLE PATTERN BLANK
    ],
)
async def test_spoofing_and_invisible_names_are_refused(
    talker: NewTalker, watcher: SioClient, name: str
) -> None:
    reply = await (await talker()).join(name)
    assert reply["ok"] is False and reply["code"] == "invalid_name"
    assert reply["message"]
    assert await watcher.inbox.quiet("user_joined") == [
        {"room": "lobby", "name": "watcher"}
    ]


async def test_invisible_text_is_refused(talker: NewTalker) -> None:
    client = await talker()
    await client.join("poster")
    for text in (ZWJ, "\u3164 \u2800", "\u200f"):
        reply = await client.post(text)
        assert reply["ok"] is False and reply["code"] == "invalid_text", text


async def test_one_name_whatever_its_normal_form(
    talker: NewTalker, sio_client: Any
) -> None:
    first: SioClient = await sio_client()
    assert (await first.join(DECOMPOSED))["name"] == COMPOSED
    for same in (COMPOSED, DECOMPOSED, "JOSÉ", f"Jo{ZWJ}sé"):
        reply = await (await talker()).join(same)
        assert reply["ok"] is False and reply["code"] == "name_taken", same


async def test_half_a_surrogate_pair_is_refused_clearly(
    url: str, watcher: SioClient, sio_client: Any
) -> None:
    """JSON may escape half a surrogate pair; no door takes it as text."""
    lone = r"\ud83d"  # the first half of 😀 (\ud83d\ude00), written as JSON
    sio: SioClient = await sio_client()
    await sio.join("sio")
    await sio.sio.eio.send(f'2["message","{lone}"]')  # what a JS client sends
    error = await sio.inbox.wait("chat_error")
    assert error["code"] == "bad_packet" and "surrogate" in error["message"]
    async with aiohttp.ClientSession(base_url=url + "/") as http:
        ws = await http.ws_connect("ws")
        await ws.send_json({"type": "join", "name": "ws"})
        await ws.send_str(f'{{"type": "usermsg", "message": "{lone}"}}')
        talker = WsTalker(ws)
        error = await talker.until(lambda f: f["type"] == "usermsg")
        assert error["code"] == "bad_frame" and "surrogate" in error["message"]
        await ws.close()
        poster = HttpTalker(http)
        await poster.join("http")
        async with http.post(
            "api/messages",
            data=f'{{"text": "{lone}"}}',
            headers=poster.auth | {"Content-Type": "application/json"},
        ) as resp:
            body = await resp.json()
        assert resp.status == 400 and body["error"]["code"] == "bad_json"
        assert "surrogate" in body["error"]["message"]
    assert await watcher.inbox.quiet("chat") == []
    # A whole pair is one character, and welcome.
    await sio.sio.eio.send(r'2["message","\ud83d\ude00"]')
    chat = await watcher.inbox.wait("chat")
    assert chat["text"] == "\U0001f600"
