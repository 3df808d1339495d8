"""The plain WebSocket door: ``ws://HOST:PORT/ws`` and ``ws://HOST:PORT/``.

Each connection gets a bounded outbound queue drained by its own writer
task, so one slow reader can never stall the fan-out for everyone else; a
reader that falls that far behind is disconnected instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from chat.models import (
    ChatEvent,
    Joined,
    Member,
    MemberJoined,
    MemberLeft,
    MessagePosted,
    TypingChanged,
)
from chat.rules import ChatError, internal_error
from chat.service import ChatService
from web import frames

log = logging.getLogger(__name__)
QUEUE_LIMIT = 1000
"""Frames waiting for one reader before it counts as stuck."""


@dataclass(eq=False)
class Peer:
    conn: str
    ws: web.WebSocketResponse
    queue: asyncio.Queue[str] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT)
    )
    writer: asyncio.Task[None] | None = None
    closing: asyncio.Task[bool] | None = None

    def send(self, frame: str) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("%s is not reading; disconnecting it", self.conn)
            self.close(WSCloseCode.POLICY_VIOLATION, b"too slow")

    def close(self, code: int, message: bytes) -> None:
        if not self.ws.closed and self.closing is None:
            self.closing = asyncio.create_task(
                self.ws.close(code=code, message=message)
            )

    async def drain(self) -> None:
        while True:
            frame = await self.queue.get()
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return  # closing; the reader side cleans up


class WebSocketDoor:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._peers: dict[str, Peer] = {}
        self._rooms: dict[str, set[str]] = {}

    def open(self, ws: web.WebSocketResponse) -> Peer:
        peer = Peer(conn=f"ws:{next(self._ids)}", ws=ws)
        peer.writer = asyncio.create_task(peer.drain(), name=peer.conn)
        self._peers[peer.conn] = peer
        return peer

    async def forget(self, peer: Peer) -> None:
        self._peers.pop(peer.conn, None)
        if peer.writer is not None:
            peer.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await peer.writer

    def _to_room(self, room: str, frame: dict[str, object], skip: str = "") -> None:
        text = frames.dump(frame)
        for conn in self._rooms.get(room, ()):
            if conn != skip:
                self._peers[conn].send(text)

    async def deliver(self, event: ChatEvent) -> None:
        match event:
            case MessagePosted(message=m):
                self._to_room(m.room, frames.usermsg(m))
            case MemberJoined(room=room, name=name, users=users, announce=announce):
                if announce:
                    self._to_room(room, frames.notice(frames.JOIN_NOTICE, name, "join"))
                self._to_room(room, frames.users(room, users))
            case MemberLeft(room=room, name=name, users=users):
                self._to_room(room, frames.notice(frames.LEAVE_NOTICE, name, "leave"))
                self._to_room(room, frames.users(room, users))
            case TypingChanged(room=room, name=name, typing=typing, conn=conn):
                self._to_room(room, frames.typing(name, typing), skip=conn)

    async def attach(self, member: Member) -> bool:
        if member.conn not in self._peers:
            return False
        self._rooms.setdefault(member.room, set()).add(member.conn)
        return True

    async def welcome(self, joined: Joined) -> None:
        peer = self._peers.get(joined.member.conn)
        if peer is None:
            return
        peer.send(frames.dump(frames.joined(joined)))
        for m in joined.history:
            peer.send(frames.dump(frames.usermsg(m, history=not joined.catchup)))
        peer.send(frames.dump(frames.users(joined.member.room, joined.users)))

    async def detach(self, member: Member) -> None:
        conns = self._rooms.get(member.room)
        if conns is not None:
            conns.discard(member.conn)
            if not conns:
                del self._rooms[member.room]

    async def kick(self, member: Member) -> None:
        peer = self._peers.get(member.conn)
        if peer is not None:
            peer.close(WSCloseCode.POLICY_VIOLATION, b"replaced by a newer connection")


async def serve(
    request: web.Request, service: ChatService, door: WebSocketDoor, heartbeat: float
) -> web.WebSocketResponse:
    # aiohttp closes the socket (1009) past max_msg_size; below it, frames
    # larger than MAX_FRAME get an error and the connection stays up.
    ws = web.WebSocketResponse(heartbeat=heartbeat, max_msg_size=4 * frames.MAX_FRAME)
    await ws.prepare(request)
    peer = door.open(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await _handle(service, peer, msg.data)
            elif msg.type == WSMsgType.BINARY:
                error = ChatError("bad_frame", "Binary frames are not supported.")
                peer.send(frames.dump(frames.error(error)))
    finally:
        await service.leave(peer.conn)
        await door.forget(peer)
    return ws


async def _handle(service: ChatService, peer: Peer, text: str) -> None:
    try:
        joined = service.presence.get(peer.conn) is not None
        command = frames.parse_frame(text, joined=joined)
        if command.kind == "join":
            await service.join("ws", peer.conn, command.data)
            if command.then_post is not None:
                await service.post(peer.conn, command.then_post)
        elif command.kind == "post":
            await service.post(peer.conn, command.data)
        elif command.kind == "typing":
            await service.typing(peer.conn, command.data)
        elif command.kind == "leave":
            await service.leave(peer.conn)
    except ChatError as exc:
        peer.send(frames.dump(frames.error(exc)))
    except Exception:
        log.exception("frame from %s failed", peer.conn)
        peer.send(frames.dump(frames.error(internal_error())))
