"""Turning the core's results and errors into Socket.IO answers.

A client that passes an ack callback gets ``{"ok": true, ...}`` or
``{"ok": false, "error": {...}}`` through it. One that does not (the
tutorial's page never does) gets the error as a ``chat_error`` event instead,
so it can still show it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from chat.rules import ChatError, internal_error
from events.chat_server import ack_requested
from events.door import SocketIODoor

log = logging.getLogger(__name__)

Reply = dict[str, Any]


def payload(args: tuple[Any, ...]) -> Any:
    """The event's payload; extra arguments are ignored, none is ``None``."""
    return args[0] if args else None


async def answer(
    door: SocketIODoor, sid: str, event: str, work: Awaitable[Reply]
) -> Reply:
    door.stats.events_received.inc()
    try:
        result = await work
    except ChatError as exc:
        door.stats.rejected(exc.code)
        error = exc.as_dict()
    except Exception:
        log.exception("%s from %s failed", event, sid)
        error = internal_error().as_dict()
    else:
        return {"ok": True, **result}
    if not ack_requested():
        door.send(sid, "chat_error", {"event": event, **error})
    return {"ok": False, "error": error}
