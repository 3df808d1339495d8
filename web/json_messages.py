"""The plain WebSocket door's JSON messages as plain functions: parse one, build one.

Frames follow the tutorial's first snippet, which reads ``JSON.parse(data)``
and switches on ``msg.type``. That client inserts text with jQuery
``.append()``, i.e. as HTML, so names and texts on this door go out
HTML-escaped; Socket.IO and HTTP clients get raw text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import orjson

from chat.models import Joined, Message
from chat.rules import UNPAIRED_SURROGATE, ChatError, unpaired_surrogate

MAX_FRAME = 16 * 1024
"""Characters; a larger text frame is answered with an error."""
JOIN_NOTICE = "{} 加入了群聊"
LEAVE_NOTICE = "{} 离开了群聊"


@dataclass(frozen=True, slots=True)
class Command:
    kind: str
    """``join``, ``post``, ``typing`` or ``leave``."""
    data: Any = None
    then_post: Any = None
    """Text to post right after an implicit join."""


def parse_frame(text: str, *, joined: bool) -> Command:
    """What a client's text frame asks for; raises ChatError when unclear."""
    if len(text) > MAX_FRAME:
        raise ChatError(
            "frame_too_large", f"Frames must be at most {MAX_FRAME} characters."
        )
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if unpaired_surrogate(exc):  # a JSON frame, not text to post as is
            raise ChatError("bad_frame", UNPAIRED_SURROGATE) from None
        frame = None
    if not isinstance(frame, dict):
        # Not a JSON object: the tutorial's simplest client sends bare text.
        if joined:
            return Command("post", text)
        raise ChatError(
            "not_joined",
            'Join first: send {"type": "join", "name": "<nickname>"}.',
        )
    kind = frame.get("type")
    if kind == "join":
        return Command("join", frame)  # parse_join reads only its own fields
    if kind in ("usermsg", "message"):
        if not joined and "name" in frame:
            # Snippets that send the name with every message join implicitly.
            return Command(
                "join", {"name": frame["name"]}, then_post=frame.get("message")
            )
        return Command("post", frame.get("message"))
    if kind == "typing":
        return Command("typing", frame.get("typing"))
    if kind == "leave":
        return Command("leave")
    raise ChatError(
        "bad_frame",
        'Unknown frame; "type" must be "join", "usermsg", "typing" or "leave".',
    )


def encode(frame: dict[str, Any]) -> bytes:
    return orjson.dumps(frame)


def usermsg(message: Message, *, history: bool = False) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "usermsg",
        "name": html.escape(message.name),
        "message": html.escape(message.text),
        "id": message.id,
        "room": message.room,
        "ts": message.ts,
    }
    if history:
        frame["history"] = True
    return frame


def system(text: str, **extra: Any) -> dict[str, Any]:
    """``text`` is already safe HTML."""
    return {"type": "system", "message": text, **extra}


def notice(template: str, name: str, event: str) -> dict[str, Any]:
    safe = html.escape(name)
    return system(template.format(safe), event=event, name=safe)


def error(exc: ChatError) -> dict[str, Any]:
    return system(html.escape(exc.message), error=exc.as_dict())


def users(room: str, names: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "users", "room": room, "users": [html.escape(n) for n in names]}


def joined(info: Joined) -> dict[str, Any]:
    """To the joiner: who it is now, and where its ids come from."""
    return {
        "type": "joined",
        "name": html.escape(info.member.name),
        "room": info.member.room,
        "last_id": info.last_id,
        "epoch": info.epoch,
    }


def typing(name: str, active: bool) -> dict[str, Any]:
    return {"type": "typing", "name": html.escape(name), "typing": active}
