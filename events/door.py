"""Carries core events out to Socket.IO clients (the fan-out's ``sio`` door)."""

from __future__ import annotations

import socketio

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


def conn_id(sid: str) -> str:
    return PREFIX + sid


def room_key(room: str) -> str:
    # Socket.IO also puts every sid in a room of its own; keep chat rooms apart.
    return "room:" + room


class SocketIODoor:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    async def deliver(self, event: ChatEvent) -> None:
        emit = self.sio.emit
        match event:
            case MessagePosted(message=m):
                to = room_key(m.room)
                await emit("message", f"{m.name}: {m.text}", to=to)
                await emit("chat", m.as_dict(), to=to)
            case MemberJoined(room=room, name=name, users=users, announce=announce):
                if announce:
                    await emit("join", name, to=room_key(room))
                await emit("users", {"room": room, "users": users}, to=room_key(room))
            case MemberLeft(room=room, name=name, users=users):
                await emit("leave", name, to=room_key(room))
                await emit("users", {"room": room, "users": users}, to=room_key(room))
            case TypingChanged(room=room, name=name, typing=typing, conn=conn):
                skip = conn.removeprefix(PREFIX) if conn.startswith(PREFIX) else None
                await emit(
                    "typing",
                    {"room": room, "name": name, "typing": typing},
                    to=room_key(room),
                    skip_sid=skip,
                )

    async def attach(self, member: Member) -> None:
        await self.sio.enter_room(_sid(member), room_key(member.room))

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
