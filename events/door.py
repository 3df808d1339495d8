"""Carries core events out to Socket.IO clients (the fan-out's ``sio`` door)."""

from __future__ import annotations

from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from chat.models import (
    ChatEvent,
    Joined,
    Member,
    MemberJoined,
    MemberLeft,
    MessagePosted,
    TypingChanged,
)

PREFIX = "sio:"
NAMESPACE = "/"


def conn_id(sid: str) -> str:
    return PREFIX + sid


def room_key(room: str) -> str:
    # Socket.IO also puts every sid in a room of its own; keep chat rooms apart.
    return "room:" + room


class SocketIODoor:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def deliver(self, event: ChatEvent) -> None:
        match event:
            case MessagePosted(message=m):
                await self._broadcast(
                    m.room, ("message", f"{m.name}: {m.text}"), ("chat", m.as_dict())
                )
            case MemberJoined(room=room, name=name, users=users, announce=announce):
                listing = ("users", {"room": room, "users": users})
                await self._broadcast(
                    room, *([("join", name)] if announce else []), listing
                )
            case MemberLeft(room=room, name=name, users=users):
                listing = ("users", {"room": room, "users": users})
                await self._broadcast(room, ("leave", name), listing)
            case TypingChanged(room=room, name=name, typing=typing, conn=conn):
                update = {"room": room, "name": name, "typing": typing}
                await self._broadcast(room, ("typing", update), skip=conn)

    async def _broadcast(
        self, room: str, *events: tuple[str, Any], skip: str = ""
    ) -> None:
        """Send ``events`` to everyone in ``room`` here, in order.

        Everything that does not depend on the recipient is done once: each
        packet is encoded once, the connection to skip is resolved once, and
        each recipient's Engine.IO socket is looked up once for all packets.
        ``AsyncServer.emit`` instead starts an asyncio task per recipient,
        which dominates the cost of a broadcast.
        """
        packets = [
            eio_packet.Packet(
                eio_packet.MESSAGE,
                self.sio.packet_class(
                    sio_packet.EVENT, namespace=NAMESPACE, data=[event, data]
                ).encode(),
            )
            for event, data in events
        ]
        skip_sid = skip.removeprefix(PREFIX) if skip.startswith(PREFIX) else None
        sockets = self.sio.eio.sockets
        for sid, eio_sid in self.sio.manager.get_participants(
            NAMESPACE, room_key(room)
        ):
            socket = sockets.get(eio_sid)
            if sid == skip_sid or socket is None or socket.closed:
                continue
            for pkt in packets:
                await socket.send(pkt)

    async def attach(self, member: Member) -> bool:
        if not self.sio.manager.is_connected(_sid(member), NAMESPACE):
            return False
        await self.sio.enter_room(_sid(member), room_key(member.room))
        return True

    async def welcome(self, joined: Joined) -> None:
        member = joined.member
        await self.sio.emit(
            "history",
            {
                "room": member.room,
                "messages": [m.as_dict() for m in joined.history],
                "catchup": joined.catchup,
                "last_id": joined.last_id,
                "epoch": joined.epoch,
            },
            to=_sid(member),
        )

    async def detach(self, member: Member) -> None:
        await self.sio.leave_room(_sid(member), room_key(member.room))

    async def kick(self, member: Member) -> None:
        await self.sio.disconnect(_sid(member))


def _sid(member: Member) -> str:
    return member.conn.removeprefix(PREFIX)
