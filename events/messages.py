"""``join`` and ``message``: the tutorial's wire contract, plus acks; and
``history``, for a page that reads further back than its join brought."""

from __future__ import annotations

from typing import Any

from chat.rules import DEFAULT_ROOM, parse_history
from chat.service import ChatService
from events.chat_server import ChatServer
from events.door import SocketIODoor, conn_id
from events.reply import Reply, answer, payload


async def held(door: SocketIODoor, service: ChatService, sid: str) -> None:
    """With recovery on, a member's session is stored while it is up."""
    pid = door.pids.get(sid)
    if pid is not None:
        await service.resumption.hold(conn_id(sid), pid, sid)


def register(sio: ChatServer, door: SocketIODoor, service: ChatService) -> None:
    async def join(sid: str, *args: Any) -> Reply:
        async def work() -> Reply:
            joined = await service.join(
                "sio", conn_id(sid), payload(args), address=door.address(sid)
            )
            await held(door, service, sid)
            return joined.as_dict()

        return await answer(door, sid, "join", work())

    sio.on("join", join)

    async def message(sid: str, *args: Any) -> Reply:
        async def work() -> Reply:
            stored = await service.post(conn_id(sid), payload(args))
            return {"id": stored.id, "room": stored.room, "ts": stored.ts}

        return await answer(door, sid, "message", work())

    sio.on("message", message)

    async def history(sid: str, *args: Any) -> Reply:
        async def work() -> Reply:
            request = parse_history(payload(args))
            # Reads are counted as the HTTP API's are: per address.
            await service.limits.request(door.address(sid))
            member = service.presence.get(conn_id(sid))
            room = request.room or (member.room if member else DEFAULT_ROOM)
            messages, last_id = await service.history(
                room, request.after, request.limit, request.before
            )
            return {
                "room": room,
                "messages": [m.as_dict() for m in messages],
                "last_id": last_id,
                "epoch": service.store.epoch,
            }

        return await answer(door, sid, "history", work())

    sio.on("history", history)
