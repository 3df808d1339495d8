"""Connect (with an optional auto-join from ``auth``) and disconnect.

The page sends ``{name, room, after, client}`` as the Socket.IO ``auth``
payload on every connect, so an automatic reconnect re-joins by itself and
receives exactly the messages it missed. A connection without a name in its
``auth`` is a spectator of the default room until it joins, as every page
is in the tutorial.

With recovery on (see :mod:`events.handshake`), a recovered connection is
put back as it was instead, whatever its ``auth`` says, and a connection
that drops without saying goodbye is suspended rather than left.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from chat.recovery import Resume
from chat.rules import ChatError, check_format
from chat.service import ChatService
from events.chat_server import ChatServer
from events.door import SocketIODoor, conn_id
from events.handshake import resuming
from events.messages import held
from events.reply import Reply, answer

NOT_RECOVERED = {
    "event": "connect",
    "code": "not_recovered",
    "message": "Your session could not be restored (it ended, or the server's "
    "history changed): join again.",
}


def register(sio: ChatServer, door: SocketIODoor, service: ChatService) -> None:
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        door.opened(sid)
        state = resuming()
        if state is not None:
            door.pids[sid] = state.pid
            if state.resume is not None:
                await recovered(sid, state.resume)
                return
            if state.refused and not (isinstance(auth, dict) and "name" in auth):
                door.send(sid, "chat_error", NOT_RECOVERED)  # else it rejoins now
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
            await held(door, service, sid)
            reply = joined.as_dict()
            door.send(sid, "joined", reply)
            return reply

        # No ack exists for a connect, so errors arrive as ``chat_error``.
        await answer(door, sid, "join", auto_join())

    async def recovered(sid: str, resume: Resume) -> None:
        session = resume.session
        if session.name is None:  # a spectator: it reads on from its offset

            async def watch() -> Reply:
                await service.resumption.replay(resume, partial(door.rewatch, sid))
                return {}

            if not (await answer(door, sid, "connect", watch()))["ok"]:
                door.spectate(sid, session.format)  # the store failed: live only
            return

        async def work() -> Reply:
            joined = await service.resumption.resume(
                "sio", conn_id(sid), resume, address=door.address(sid)
            )
            await held(door, service, sid)
            return joined.as_dict()

        await answer(door, sid, "join", work())

    sio.on("connect", connect)

    async def disconnect(sid: str, reason: Any = None) -> None:
        pid = door.pids.pop(sid, None)
        try:
            if pid is not None and not sio.said_goodbye(sid):
                form = door.form(sid)
                await service.resumption.suspend(conn_id(sid), pid, sid, form)
            else:
                await service.leave(conn_id(sid))
                if pid is not None:
                    await service.recovery.forget(pid)
        finally:  # a leave that failed (logged by python-socketio) still ends it
            door.drop(sid, reason)

    sio.on("disconnect", disconnect)
