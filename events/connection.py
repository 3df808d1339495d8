"""Connect (with an optional auto-join from ``auth``) and disconnect.

The page sends ``{name, room, after, client}`` as the Socket.IO ``auth``
payload on every connect, so an automatic reconnect re-joins by itself and
receives exactly the messages it missed.
"""

from __future__ import annotations

from typing import Any

import socketio

from chat.service import ChatService
from events.door import conn_id
from events.reply import Reply, answer


def register(sio: socketio.AsyncServer, service: ChatService) -> None:
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if not isinstance(auth, dict) or "name" not in auth:
            return  # the tutorial's page joins with a ``join`` event instead

        async def auto_join() -> Reply:
            joined = await service.join("sio", conn_id(sid), auth)
            reply = joined.as_dict()
            await sio.emit("joined", reply, to=sid)
            return reply

        # No ack exists for a connect, so errors arrive as ``chat_error``.
        await answer(sio, sid, "join", auto_join())

    sio.on("connect", connect)

    async def disconnect(sid: str, reason: Any = None) -> None:
        await service.leave(conn_id(sid))

    sio.on("disconnect", disconnect)
