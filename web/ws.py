"""The plain WebSocket door: ``ws://HOST:PORT/ws`` and ``ws://HOST:PORT/``.

Frames are built once per broadcast and written to each reader's transport
through an :class:`~plumbing.ws_frames.Outlet`: no task or queue per connection, and a
reader that leaves more than ``--max-unsent`` bytes unread is dropped (it can
reconnect and catch up) rather than silently skipped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from chat.bounds import PerAddress
from chat.fanout import runs
from chat.models import (
    ChatEvent,
    Joined,
    Member,
    MemberJoined,
    MemberLeft,
    Message,
    MessagePosted,
    TypingChanged,
)
from chat.rules import ChatError, internal_error
from chat.service import ChatService
from chat.stats import Stats
from plumbing import proxies
from plumbing.ws_frames import Outlet, frame
from web import json_messages

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Peer:
    conn: str
    outlet: Outlet
    address: str
    room: str | None = None
    """The room it is attached to; delivery reads readers from the room."""

    def send(self, *items: dict[str, Any], bulk: bool = False) -> None:
        self.outlet.write(_framed(items), bulk=bulk)


def _framed(items: Sequence[dict[str, Any]]) -> bytes:
    return b"".join(frame(json_messages.encode(item)) for item in items)


def render(event: ChatEvent) -> dict[str, Any]:
    """The frame every reader in the room gets for ``event``."""
    match event:
        case MessagePosted(message=m):
            return json_messages.usermsg(m)
        case MemberJoined(name=name):
            return json_messages.notice(json_messages.JOIN_NOTICE, name, "join")
        case MemberLeft(name=name):
            return json_messages.notice(json_messages.LEAVE_NOTICE, name, "leave")
        case TypingChanged(name=name, typing=typing):
            return json_messages.typing(name, typing)
    raise TypeError(event)  # pragma: no cover - ChatEvent is closed


class WebSocketDoor:
    def __init__(
        self,
        max_unsent: int,
        process: str = "",
        stats: Stats | None = None,
        connections: PerAddress | None = None,
    ) -> None:
        self._max_unsent = max_unsent
        self._connections = connections or PerAddress(0, "connections")
        self.stats = stats or Stats()
        # Connection ids are unique across the processes sharing a Redis.
        self._prefix = f"ws:{process}:" if process else "ws:"
        self._ids = itertools.count(1)
        self._peers: dict[str, Peer] = {}
        # A broadcast reads its readers from here, never back from _peers:
        # a connection that closed before its leave ran is simply not here.
        self._rooms: dict[str, dict[str, Peer]] = {}

    def open(self, request: web.Request) -> Peer:
        """The new connection's peer; ChatError: its address has too many."""
        address = proxies.of(request).client(request)
        if not self._connections.take(address):
            raise self._connections.refusal()
        conn = f"{self._prefix}{next(self._ids)}"
        transport = request.transport
        assert transport is not None  # the response was prepared
        name = f"{conn} from {address}"
        outlet = Outlet(transport, self._max_unsent, name, self.stats.slow_drops.inc)
        peer = Peer(conn, outlet, address)
        self._peers[conn] = peer
        return peer

    def peers(self) -> int:
        return len(self._peers)

    def forget(self, peer: Peer) -> None:
        """The connection closed: no more deliveries, whatever the core's
        leave (which comes after) is still doing."""
        if self._peers.pop(peer.conn, None) is not None:
            self._connections.give(peer.address)
        self._unroom(peer.conn, peer.room)

    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        for room, skip, run in runs(events):
            readers = self._rooms.get(room)
            if not readers:
                continue
            data = _framed([render(event) for event in run])
            for conn, peer in readers.items():
                if conn != skip:
                    peer.outlet.write(data)
            count = len(readers) - (skip in readers)
            self.stats.deliveries.labels("ws").inc(len(run) * count)

    def attach(self, member: Member) -> bool:
        peer = self._peers.get(member.conn)
        if peer is None:
            return False
        self._unroom(peer.conn, peer.room)
        peer.room = member.room
        self._rooms.setdefault(member.room, {})[peer.conn] = peer
        return True

    def welcome(self, joined: Joined) -> None:
        peer = self._peers.get(joined.member.conn)
        if peer is None:
            return
        history = not joined.catchup
        peer.send(
            json_messages.joined(joined),
            *(json_messages.usermsg(m, history=history) for m in joined.history),
            json_messages.users(joined.member.room, joined.users),
            *(json_messages.usermsg(m) for m in joined.live),
            bulk=True,
        )

    async def detach(self, member: Member) -> None:
        self._unroom(member.conn, member.room)

    def _unroom(self, conn: str, room: str | None) -> None:
        if room is None:
            return
        readers = self._rooms.get(room)
        if readers is not None and readers.pop(conn, None) is not None and not readers:
            del self._rooms[room]

    async def kick(self, member: Member) -> None:
        peer = self._peers.get(member.conn)
        if peer is not None:
            peer.outlet.close(
                WSCloseCode.POLICY_VIOLATION, "replaced by a newer connection"
            )

    def close_all(self) -> None:
        """Shutdown: 1001 to everyone, so clients reconnect (to another process)."""
        for peer in self._peers.values():
            peer.outlet.close(WSCloseCode.GOING_AWAY, "server shutdown")

    def resync(self) -> None:
        for peer in self._peers.values():
            peer.outlet.close(WSCloseCode.SERVICE_RESTART, "history reset: reconnect")


async def serve(
    request: web.Request, service: ChatService, door: WebSocketDoor, heartbeat: float
) -> web.WebSocketResponse:
    # aiohttp closes the socket (1009) past max_msg_size; below it, frames
    # larger than MAX_FRAME get an error and the connection stays up.
    # No permessage-deflate: compressing short chat lines costs more CPU than
    # the rest of a broadcast (the Node.js server's default, too).
    ws = web.WebSocketResponse(
        heartbeat=heartbeat, max_msg_size=4 * json_messages.MAX_FRAME, compress=False
    )
    await ws.prepare(request)
    try:
        peer = door.open(request)
    except ChatError as exc:
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=exc.message.encode())
        return ws
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await _handle(service, peer, msg.data)
            elif msg.type == WSMsgType.BINARY:
                error = ChatError("bad_frame", "Binary frames are not supported.")
                peer.send(json_messages.error(error))
    finally:
        door.forget(peer)
        # Shielded: a handler cancelled as its client goes must still leave.
        await asyncio.shield(service.leave(peer.conn))
    return ws


async def _handle(service: ChatService, peer: Peer, text: str) -> None:
    """One frame, in order with the others; a post is queued, not awaited
    (the echo of the line is its acknowledgement, an error frame its refusal)."""
    try:
        joined = service.presence.get(peer.conn) is not None
        command = json_messages.parse_frame(text, joined=joined)
        if command.kind == "join":
            await service.join("ws", peer.conn, command.data, address=peer.address)
            if command.then_post is not None:
                await _queue(service, peer, command.then_post)
        elif command.kind == "post":
            await _queue(service, peer, command.data)
        elif command.kind == "typing":
            await service.typing(peer.conn, command.data)
        elif command.kind == "leave":
            await service.leave(peer.conn)
    except Exception as exc:
        _refused(service, peer, exc)


async def _queue(service: ChatService, peer: Peer, text: object) -> None:
    stored = await service.queue(peer.conn, text)

    def answered(future: asyncio.Future[Message]) -> None:
        if not future.cancelled() and future.exception() is not None:
            _refused(service, peer, future.exception())

    stored.add_done_callback(answered)


def _refused(service: ChatService, peer: Peer, exc: BaseException | None) -> None:
    if isinstance(exc, ChatError):
        service.stats.rejected(exc.code)
        peer.send(json_messages.error(exc))
    else:
        log.error("frame from %s failed", peer.conn, exc_info=exc)
        peer.send(json_messages.error(internal_error()))
