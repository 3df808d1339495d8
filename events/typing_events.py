"""``typing``: true while a person types, false when they stop or send."""

from __future__ import annotations

from typing import Any

from chat.service import ChatService
from events.chat_server import ChatServer
from events.door import SocketIODoor, conn_id
from events.reply import Reply, answer, payload


def register(sio: ChatServer, door: SocketIODoor, service: ChatService) -> None:
    async def typing(sid: str, *args: Any) -> Reply:
        async def work() -> Reply:
            await service.typing(conn_id(sid), payload(args))
            return {}

        return await answer(door, sid, "typing", work())

    sio.on("typing", typing)
