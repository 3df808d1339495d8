"""make chaos: one client connection on each of the chat's doors, alike.

Each door joins a room (with ``after``/``epoch``/``client``, as a page
that reconnects does), posts a line and says what became of it, and hands
every chat line it receives to ``sink(message, counts)``: ``counts`` is
False for a fresh join's recent history (context the page shows as
"earlier", never a delivery), True for live lines and catch-up after
``after``. ``dropped`` is set once the connection is gone, whoever ended it.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import socketio

JOIN_TIMEOUT_S = 10.0
POST_TIMEOUT_S = 15.0
"""Longer than any stall or outage the run makes: no answer by then is
"unknown", not a slow "ok"."""
POLL_WAIT_S = 10

Sink = Callable[[dict[str, Any], bool], None]
DOORS = ("sio-websocket", "sio-polling", "ws", "http")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a sender was told: ``acked`` (ok and an id), ``refused`` (an
    error: ``code``), or ``unknown`` (no answer: the connection went or the
    answer took longer than POST_TIMEOUT_S)."""

    kind: str
    id: int = 0
    code: str = ""


@dataclass(frozen=True, slots=True)
class Joined:
    epoch: str
    last_id: int


class JoinFailed(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Door:
    """The interface; ``url`` is one app process."""

    def __init__(self, url: str, http: aiohttp.ClientSession, sink: Sink) -> None:
        self.url = url
        self.http = http
        self.sink = sink
        self.dropped = asyncio.Event()

    async def join(self, name: str, room: str, after: int, epoch: str) -> Joined:
        raise NotImplementedError

    async def post(self, text: str) -> Outcome:
        raise NotImplementedError

    async def leave(self) -> None:
        """Leave the room as a person does (then close)."""
        await self.close()

    async def close(self) -> None:
        raise NotImplementedError


class SioDoor(Door):
    """python-socketio's AsyncClient on one transport, structured form."""

    def __init__(
        self, url: str, http: aiohttp.ClientSession, sink: Sink, transport: str
    ) -> None:
        super().__init__(url, http, sink)
        self.transport = transport
        self.client_id = ""
        self.sio = socketio.AsyncClient(
            reconnection=False, handle_sigint=False, http_session=http
        )
        self.sio.on("chat", self._chat)
        self.sio.on("history", self._history)
        self.sio.on("disconnect", self._gone)

    async def _chat(self, message: dict[str, Any]) -> None:
        self.sink(message, True)

    async def _history(self, history: dict[str, Any]) -> None:
        for message in history["messages"]:
            self.sink(message, bool(history["catchup"]))

    async def _gone(self, *_: Any) -> None:
        self.dropped.set()

    async def join(self, name: str, room: str, after: int, epoch: str) -> Joined:
        try:
            await self.sio.connect(
                self.url, transports=[self.transport], wait_timeout=JOIN_TIMEOUT_S
            )
            what: dict[str, Any] = {"name": name, "room": room, "client": name}
            what |= {"format": "structured"}
            if epoch:
                what |= {"after": after, "epoch": epoch}
            reply = await self.sio.call("join", what, timeout=JOIN_TIMEOUT_S)
        except Exception as exc:
            raise JoinFailed(type(exc).__name__) from exc
        if not reply.get("ok"):
            raise JoinFailed(reply["error"]["code"])
        return Joined(reply["epoch"], reply["last_id"])

    async def post(self, text: str) -> Outcome:
        try:
            reply = await self.sio.call("message", text, timeout=POST_TIMEOUT_S)
        except Exception:
            return Outcome("unknown")
        if reply.get("ok"):
            return Outcome("acked", int(reply["id"]))
        return Outcome("refused", code=reply["error"]["code"])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.sio.disconnect()
        self.dropped.set()


class WsDoor(Door):
    """The plain WebSocket door (/ws). A post is acknowledged by its echo:
    the sender is one of the room's readers and gets the line, with its id,
    once it is stored; an error frame refuses it. One post at a time."""

    def __init__(self, url: str, http: aiohttp.ClientSession, sink: Sink) -> None:
        super().__init__(url, http, sink)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None
        self.joined: asyncio.Future[Joined] | None = None
        self.pending: tuple[str, asyncio.Future[Outcome]] | None = None

    async def join(self, name: str, room: str, after: int, epoch: str) -> Joined:
        loop = asyncio.get_running_loop()
        self.joined = loop.create_future()
        try:
            async with asyncio.timeout(JOIN_TIMEOUT_S):
                self.ws = await self.http.ws_connect(self.url + "/ws", heartbeat=None)
                self.reader = asyncio.create_task(self._read(self.ws))
                frame: dict[str, Any] = {"type": "join", "name": name, "room": room}
                frame |= {"client": name}
                if epoch:
                    frame |= {"after": after, "epoch": epoch}
                await self.ws.send_str(json.dumps(frame))
                return await self.joined
        except JoinFailed:
            raise
        except Exception as exc:
            raise JoinFailed(type(exc).__name__) from exc

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                self._frame(json.loads(msg.data))
        finally:
            self.dropped.set()
            if self.pending is not None and not self.pending[1].done():
                self.pending[1].set_result(Outcome("unknown"))
            if self.joined is not None and not self.joined.done():
                self.joined.set_exception(JoinFailed("closed"))

    def _frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "joined":
            if self.joined is not None and not self.joined.done():
                self.joined.set_result(Joined(frame["epoch"], frame["last_id"]))
        elif kind == "usermsg":
            message = {**frame, "text": html.unescape(frame["message"])}
            self.sink(message, not frame.get("history"))
            if self.pending is not None and self.pending[0] == message["text"]:
                if not self.pending[1].done():
                    self.pending[1].set_result(Outcome("acked", int(frame["id"])))
        elif kind == "system" and "error" in frame:
            code = frame["error"]["code"]
            if self.joined is not None and not self.joined.done():
                self.joined.set_exception(JoinFailed(code))
            elif self.pending is not None and not self.pending[1].done():
                self.pending[1].set_result(Outcome("refused", code=code))

    async def post(self, text: str) -> Outcome:
        if self.ws is None or self.dropped.is_set():
            return Outcome("unknown")
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.pending = (text, done)
        try:
            await self.ws.send_str(json.dumps({"type": "usermsg", "message": text}))
            async with asyncio.timeout(POST_TIMEOUT_S):
                return await done
        except Exception:
            # A late answer must not be taken for the next line's: start over.
            await self.close()
            return Outcome("unknown")
        finally:
            self.pending = None

    async def leave(self) -> None:
        if self.ws is not None and not self.dropped.is_set():
            with contextlib.suppress(Exception):
                await self.ws.send_str(json.dumps({"type": "leave"}))
        await self.close()

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader
        self.dropped.set()


class HttpDoor(Door):
    """The HTTP API: a session holds the name; reading is long polling with
    ``after`` = the largest id this client has (``cursor()``)."""

    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession,
        sink: Sink,
        cursor: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(url, http, sink)
        self.cursor = cursor
        self.headers: dict[str, str] = {}
        self.room = ""
        self.poller: asyncio.Task[None] | None = None

    async def join(self, name: str, room: str, after: int, epoch: str) -> Joined:
        body: dict[str, Any] = {"name": name, "room": room}
        if epoch:
            body |= {"after": after, "epoch": epoch}
        try:
            async with (
                asyncio.timeout(JOIN_TIMEOUT_S),
                self.http.post(self.url + "/api/session", json=body) as resp,
            ):
                reply = await resp.json()
        except Exception as exc:
            raise JoinFailed(type(exc).__name__) from exc
        if resp.status != 201:
            raise JoinFailed(reply.get("error", {}).get("code", str(resp.status)))
        self.headers = {"Authorization": f"Bearer {reply['token']}"}
        self.room = room
        for message in reply["messages"]:
            self.sink(message, bool(epoch))
        if self.cursor is not None:
            self.poller = asyncio.create_task(self._poll(self.cursor))
        return Joined(reply["epoch"], reply["last_id"])

    async def _poll(self, cursor: Callable[[], int]) -> None:
        """Long polling, bounded by the run: it ends when closed."""
        for _ in range(1_000_000):
            query = f"room={self.room}&after={cursor()}&limit=500&wait={POLL_WAIT_S}"
            try:
                async with (
                    asyncio.timeout(POLL_WAIT_S + 10),
                    self.http.get(
                        f"{self.url}/api/messages?{query}", headers=self.headers
                    ) as resp,
                ):
                    page = await resp.json()
                if resp.status != 200:
                    await asyncio.sleep(0.5)  # 503 while Redis is away
                    continue
            except (aiohttp.ClientError, TimeoutError, ValueError):
                await asyncio.sleep(0.5)
                continue
            for message in page["messages"]:
                self.sink(message, True)

    async def post(self, text: str) -> Outcome:
        try:
            async with (
                asyncio.timeout(POST_TIMEOUT_S),
                self.http.post(
                    self.url + "/api/messages",
                    json={"text": text},
                    headers=self.headers,
                ) as resp,
            ):
                reply = await resp.json()
        except Exception:
            return Outcome("unknown")
        if resp.status == 201:
            return Outcome("acked", int(reply["message"]["id"]))
        if resp.status == 401:
            self.dropped.set()  # the session is gone: join again
        return Outcome("refused", code=reply.get("error", {}).get("code", "?"))

    async def leave(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                url = self.url + "/api/session"
                async with self.http.delete(url, headers=self.headers):
                    pass
        await self.close()

    async def close(self) -> None:
        if self.poller is not None:
            self.poller.cancel()
            with contextlib.suppress(BaseException):
                await self.poller
        self.dropped.set()


def open_door(
    kind: str,
    url: str,
    http: aiohttp.ClientSession,
    sink: Sink,
    cursor: Callable[[], int] | None = None,
) -> Door:
    """A new, unconnected door of ``kind`` (one of DOORS). ``cursor``: for
    an HTTP reader, where its long polling resumes."""
    if kind.startswith("sio-"):
        return SioDoor(url, http, sink, kind.removeprefix("sio-"))
    if kind == "ws":
        return WsDoor(url, http, sink)
    return HttpDoor(url, http, sink, cursor)
