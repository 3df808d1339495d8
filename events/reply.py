"""Turning the core's results and errors into Socket.IO answers.

A client that passes an ack callback gets ``{"ok": true, ...}`` or
``{"ok": false, "error": {...}}`` through it. One that does not (the
tutorial's page never does) gets the error as a ``chat_error`` event instead,
so it can still show it. python-socketio does not tell a handler whether an
ack was asked for, so :class:`ChatServer` records that in a context variable.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable
from typing import Any

import socketio

from chat.rules import ChatError, internal_error

log = logging.getLogger(__name__)
_ack_requested: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "ack_requested", default=False
)

Reply = dict[str, Any]


class ChatServer(socketio.AsyncServer):  # type: ignore[misc]
    async def _handle_event_internal(
        self,
        server: socketio.AsyncServer,
        sid: str,
        eio_sid: str,
        data: Any,
        namespace: str,
        id: int | None,
    ) -> None:
        token = _ack_requested.set(id is not None)
        try:
            await super()._handle_event_internal(
                server, sid, eio_sid, data, namespace, id
            )
        finally:
            _ack_requested.reset(token)


def first(args: tuple[Any, ...]) -> Any:
    """The event's payload; extra arguments are ignored, none is ``None``."""
    return args[0] if args else None


async def answer(
    sio: socketio.AsyncServer, sid: str, event: str, work: Awaitable[Reply]
) -> Reply:
    try:
        result = await work
    except ChatError as exc:
        error = exc.as_dict()
    except Exception:
        log.exception("%s from %s failed", event, sid)
        error = internal_error().as_dict()
    else:
        return {"ok": True, **result}
    if not _ack_requested.get():
        await sio.emit("chat_error", {"event": event, **error}, to=sid)
    return {"ok": False, "error": error}
