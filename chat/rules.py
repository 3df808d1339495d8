"""Validation rules shared by every front door.

Each check takes whatever arrived off the wire (``object``) and either returns
the clean value or raises :class:`ChatError` with a stable ``code`` that
clients can switch on and a ``message`` a person can read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

MAX_NAME = 32
MAX_TEXT = 2000
MAX_ROOM = 64
DEFAULT_ROOM = "lobby"
ROOM_PATTERN = rf"[A-Za-z0-9_-]{{1,{MAX_ROOM}}}"
_ROOM = re.compile(ROOM_PATTERN)
# Line breaks and tabs are ordinary in a chat message; other C0/C1 controls
# only ever arrive by accident or to mess with someone's terminal.
_TEXT_CONTROLS_OK = frozenset("\n\r\t")


class ChatError(Exception):
    """A request broke a rule; tell the sender, change nothing."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


def internal_error() -> ChatError:
    """What a client is told when the server itself failed (it is logged)."""
    return ChatError("internal", "Something went wrong on the server.")


@dataclass(frozen=True, slots=True)
class JoinRequest:
    name: str
    room: str = DEFAULT_ROOM
    after: int | None = None
    """Last message id the client has seen; set when resuming."""
    epoch: str | None = None
    """The store epoch that ``after`` belongs to, when the client knows it."""
    client: str | None = None
    """A random id the client keeps across reconnects (see ChatService.join)."""
    format: str = "tutorial"
    """Which events a Socket.IO client gets; see :func:`check_format`."""


def _has_control(value: str, allowed: frozenset[str] = frozenset()) -> bool:
    return any(
        unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch not in allowed
        for ch in value
    )


def check_name(value: object) -> str:
    if not isinstance(value, str):
        raise ChatError("invalid_name", "Nickname must be a string.")
    name = value.strip()
    if not name:
        raise ChatError("invalid_name", "Nickname must not be empty.")
    if len(name) > MAX_NAME:
        raise ChatError(
            "invalid_name", f"Nickname must be at most {MAX_NAME} characters."
        )
    if _has_control(name):
        raise ChatError("invalid_name", "Nickname must not contain control characters.")
    return name


def check_room(value: object) -> str:
    if value is None:
        return DEFAULT_ROOM
    if not isinstance(value, str) or not _ROOM.fullmatch(value):
        raise ChatError(
            "invalid_room",
            f"Room must be 1 to {MAX_ROOM} letters, digits, '-' or '_'.",
        )
    return value


def check_text(value: object) -> str:
    if not isinstance(value, str):
        raise ChatError("invalid_text", "Message must be a string.")
    if not value.strip():
        raise ChatError("invalid_text", "Message must not be empty.")
    if len(value) > MAX_TEXT:
        raise ChatError(
            "invalid_text", f"Message must be at most {MAX_TEXT} characters."
        )
    if _has_control(value, _TEXT_CONTROLS_OK):
        raise ChatError("invalid_text", "Message must not contain control characters.")
    return value


def check_after(value: object) -> int | None:
    """A last-seen message id: absent, or a non-negative integer."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ChatError("invalid_after", "Last seen id must be a non-negative integer.")
    return value


def check_typing(value: object) -> bool:
    if not isinstance(value, bool):
        raise ChatError("invalid_typing", "Typing state must be true or false.")
    return value


FORMATS = ("tutorial", "structured", "both")


def check_format(value: object, default: str) -> str:
    """Which events a client receives, each message once in the form it reads.

    ``tutorial``: the tutorial's strings (``message`` "name: text", ``join``
    and ``leave`` "name"). ``structured``: ``chat``, ``user_joined``,
    ``user_left`` and ``typing`` objects. ``both``: all of them.
    """
    if value is None:
        return default
    if value not in FORMATS:
        raise ChatError(
            "invalid_format", 'Format must be "tutorial", "structured" or "both".'
        )
    return str(value)


def parse_join(data: object) -> JoinRequest:
    """``"name"`` (the tutorial's form) or ``{"name", "room"?, "after"?, ...}``.

    A bare nickname is a tutorial client and gets the tutorial's events; the
    object form gets structured events unless it asks otherwise.
    """
    if isinstance(data, dict):
        return JoinRequest(
            name=check_name(data.get("name")),
            room=check_room(data.get("room")),
            after=check_after(data.get("after")),
            epoch=epoch if isinstance(epoch := data.get("epoch"), str) else None,
            client=_client(data.get("client")),
            format=check_format(data.get("format"), "structured"),
        )
    return JoinRequest(name=check_name(data))


def _client(value: object) -> str | None:
    # Only ever compared for equality; anything odd simply counts as absent.
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def suggest_name(name: str, taken: set[str]) -> str:
    """A free variant of ``name`` (``name2``, ``name3``…); ``taken`` is casefolded."""
    for n in range(2, 10_000):
        suffix = str(n)
        candidate = name[: MAX_NAME - len(suffix)] + suffix
        if candidate.casefold() not in taken:
            return candidate
    return name  # unreachable in practice: a room never holds 10,000 people
