"""Connect (with an optional auto-join from ``auth``) and disconnect.

The page sends ``{name, room, after, client}`` as the Socket.IO ``auth``
payload on every connect, so an automatic reconnect re-joins by itself and
receives exactly the messages it missed. A connection without a name in its
``auth`` is a spectator of the default room until it joins, as every page
is in the tutorial.
"""

from __future__ import annotations

from typing import Any

from chat.rules import ChatError, check_format
from chat.service import ChatService
from events.door import SocketIODoor, conn_id
from events.engine import ChatServer
from events.reply import Reply, answer


def register(sio: ChatServer, door: SocketIODoor, service: ChatService) -> None:
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        door.opened(sid)
        if not isinstance(auth, dict) or "name" not in auth:
            try:
                form = check_format(
                    auth.get("format") if isinstance(auth, dict) else None, "tutorial"
                )
            except ChatError as exc:
                door.send(sid, "chat_error", {"event": "connect", **exc.as_dict()})
                form = "tutorial"
            door.spectate(sid, form)
            return

        async def auto_join() -> Reply:
            joined = await service.join(
                "sio", conn_id(sid), auth, address=door.address(sid)
            )
            reply = joined.as_dict()
            door.send(sid, "joined", reply)
            return reply

        # No ack exists for a connect, so errors arrive as ``chat_error``.
        await answer(door, sid, "join", auto_join())

    sio.on("connect", connect)

    async def disconnect(sid: str, reason: Any = None) -> None:
        try:
            await service.leave(conn_id(sid))
        finally:  # a leave that failed (logged by python-socketio) still ends it
            door.drop(sid, reason)

    sio.on("disconnect", disconnect)
