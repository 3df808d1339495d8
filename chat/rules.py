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

from chat.text import NOT_TEXT, is_blank, is_ignorable, is_visible

MAX_NAME = 32
MAX_TEXT = 2000
MAX_ROOM = 64
DEFAULT_ROOM = "lobby"
ROOM_PATTERN = rf"[A-Za-z0-9_-]{{1,{MAX_ROOM}}}"
_ROOM = re.compile(ROOM_PATTERN)
# C0 and C1 controls (general category Cc) but line feed, carriage return
# and tab, which are ordinary in a message. The rest only ever arrive by
# accident or to mess with someone's terminal.
_TEXT_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NOT_UNICODE = (
    "{what} must be valid Unicode text: no unpaired surrogates or noncharacters."
)
# The only format (Cf) characters a nickname may hold besides emoji tags:
# soft hyphen (pasted names carry it), Mongolian vowel separator, ZWNJ, ZWJ.
# The rest only steer direction (bidi marks, embeddings, overrides, isolates:
# they can make a name read as part of the text beside it) or draw nothing
# with no job in a name (zero width space, word joiner, invisible operators,
# byte order mark, deprecated and annotation controls, language tag).
_NAME_FORMAT_OK = frozenset("\u00ad\u180e\u200c\u200d")
_EMOJI_TAG_SEQUENCE = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")
_TAG = re.compile("[\U000e0000-\U000e007f]")


class ChatError(Exception):
    """A request broke a rule; tell the sender, change nothing."""

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


UNPAIRED_SURROGATE = (
    "Text must be valid Unicode: a \\uD800-\\uDFFF escape in JSON must be one "
    "half of a surrogate pair, followed by the other."
)


def unpaired_surrogate(exc: Exception) -> bool:
    """Whether the JSON decoder refused an escape for half a surrogate pair.

    JSON's grammar allows ``"\\ud83d"`` alone, but no Unicode text holds it
    (it cannot be stored or sent on as UTF-8), so orjson refuses it. Doors
    then say so, with :data:`UNPAIRED_SURROGATE`, rather than call the JSON
    malformed, or (the plain WebSocket) post the frame as bare text.
    """
    text = str(exc)
    return isinstance(exc, ValueError) and "surrogate" in text and NOT_UTF8 not in text


NOT_UTF8 = "not valid UTF-8"
"""What orjson says of bytes that are not UTF-8 (it mentions surrogates too)."""


def not_utf8(exc: Exception) -> bool:
    return isinstance(exc, ValueError) and NOT_UTF8 in str(exc)


def shutting_down() -> ChatError:
    """What a request is told once this process has begun to stop."""
    return ChatError("unavailable", "The server is shutting down.")


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


def check_name(value: object) -> str:
    """The nickname as it will be stored, shown and compared: NFC, trimmed.

    Scripts and emoji that need joiners, variation selectors or tags are
    welcome; what can only make a name look empty, or look like another name
    or like someone else's text, is refused (see ``_name_problem``).
    """
    if not isinstance(value, str):
        raise ChatError("invalid_name", "Nickname must be a string.")
    if NOT_TEXT.search(value):
        raise ChatError("invalid_name", _NOT_UNICODE.format(what="Nickname"))
    # NFC: "José" typed with a composed or a decomposed "é" is one name.
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ChatError("invalid_name", "Nickname must not be empty.")
    if len(name) > MAX_NAME:
        raise ChatError(
            "invalid_name",
            f"Nickname must be at most {MAX_NAME} characters (Unicode code points).",
        )
    problem = _name_problem(name)
    if problem is not None:
        raise ChatError("invalid_name", problem)
    return name


def _name_problem(name: str) -> str | None:
    """Why an NFC, trimmed nickname of a fitting length is refused, if it is."""
    for ch in name:
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp"):
            return "Nickname must not contain control characters or line breaks."
        if (category == "Cf" and ch not in _NAME_FORMAT_OK and not _TAG.match(ch)) or (
            category == "Cn" and is_ignorable(ch)  # reserved for future controls
        ):
            return (
                "Nickname must not contain direction controls or invisible "
                "characters other than joiners and variation selectors."
            )
    if _TAG.search(_EMOJI_TAG_SEQUENCE.sub("", name)):
        return "Nickname may hold tag characters only in an emoji tag sequence."
    if unicodedata.category(name[0])[0] == "M":
        # It would sit on whatever a client draws before the name.
        return "Nickname must not start with a combining mark."
    if not any(map(is_visible, name)):
        return "Nickname must contain a visible character, not only blank ones."
    return None


def name_key(name: str) -> str:
    """What two nicknames must share to be the same name in a room.

    Case, compatibility forms, blanks and invisible characters do not count
    (Unicode's NFKC_Casefold, which drops default ignorables, and every blank
    besides): "bob" is taken by "Bob", fullwidth "ｂｏｂ", "b o b", and "bob"
    with a ZWJ or a Hangul filler in it, as they all read "bob".
    """
    drawn = "".join(
        ch for ch in unicodedata.normalize("NFKC", name) if not is_blank(ch)
    )
    return unicodedata.normalize("NFKC", drawn.casefold())


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
    """A message, returned exactly as sent: any text but controls and blanks.

    Joiners, variation selectors, bidi marks, soft hyphens and every other
    format character are part of how people write, so they all pass.
    """
    if not isinstance(value, str):
        raise ChatError("invalid_text", "Message must be a string.")
    if len(value) > MAX_TEXT:
        raise ChatError(
            "invalid_text", f"Message must be at most {MAX_TEXT} characters."
        )
    if NOT_TEXT.search(value):
        raise ChatError("invalid_text", _NOT_UNICODE.format(what="Message"))
    if _TEXT_CONTROL.search(value):
        raise ChatError(
            "invalid_text",
            "Message must not contain control characters (line breaks and tabs "
            "are fine).",
        )
    if not any(map(is_visible, value)):
        raise ChatError("invalid_text", "Message must not be empty or blank.")
    return value


MAX_ID = 2**63 - 1
"""Message ids are 64-bit signed integers (SQLite's), as every store keeps them."""


def check_after(value: object) -> int | None:
    """A last-seen message id: absent, or a non-negative integer."""
    return check_id(value, "after", "Last seen id")


def check_before(value: object) -> int | None:
    """The oldest id a client has, to read the page before it: as ``after``."""
    return check_id(value, "before", "The id to read before")


def check_id(value: object, field: str, what: str) -> int | None:
    """A message id given as ``field``: absent, or a non-negative integer."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= MAX_ID
    ):
        raise ChatError(f"invalid_{field}", f"{what} must be a non-negative integer.")
    return value


CATCHUP_LIMIT = 5000
"""Most messages replayed to a reconnecting client. One that missed more
gets the recent history instead, shown as earlier messages: better an
honest gap than a flood."""
PAGE_LIMIT = 500
"""Most messages one history read returns."""
PAGE_DEFAULT = 100


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """A page of a room's history: the newest, after an id or before one."""

    room: str | None = None
    """None: the asker's own room (``lobby`` for one that has not joined)."""
    after: int | None = None
    before: int | None = None
    limit: int = PAGE_DEFAULT


def parse_history(data: object) -> HistoryRequest:
    """``{"room"?, "after"?, "before"?, "limit"?}``; nothing asks for the newest."""
    if data is None:
        return HistoryRequest()
    if not isinstance(data, dict):
        raise ChatError("invalid_history", "A history request must be an object.")
    limit = data.get("limit", PAGE_DEFAULT)
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not 0 < limit <= PAGE_LIMIT
    ):
        raise ChatError(
            "invalid_limit", f"Limit must be an integer from 1 to {PAGE_LIMIT}."
        )
    request = HistoryRequest(
        room=None if data.get("room") is None else check_room(data["room"]),
        after=check_after(data.get("after")),
        before=check_before(data.get("before")),
        limit=limit,
    )
    if request.after is not None and request.before is not None:
        raise ChatError("invalid_before", BOTH_BOUNDS)
    return request


BOTH_BOUNDS = "Ask for messages after an id or before one, not both."


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
    """A free variant of ``name`` (``name2``, ``name3``…).

    ``taken`` holds the :func:`name_key` of every name in the room.
    """
    for n in range(2, 10_000):
        suffix = str(n)
        candidate = _cut(name, MAX_NAME - len(suffix)) + suffix
        if name_key(candidate) not in taken:
            return candidate
    return name  # unreachable in practice: a room never holds 10,000 people


def _cut(name: str, size: int) -> str:
    """At most ``size`` code points of ``name``, cut where nothing is parted.

    Not inside a ZWJ sequence (👨‍👩‍👧 cut short is another emoji), nor
    between a character and the marks, selectors, skin tones or tags that
    follow it (a flag's tags cut short are a refused name).
    """
    end = min(size, len(name))
    while 0 < end < len(name) and (
        unicodedata.category(name[end])[0] == "M"
        or "\U0001f3fb" <= name[end] <= "\U0001f3ff"
        or _TAG.match(name[end])
        or "\u200d" in (name[end], name[end - 1])
    ):
        end -= 1
    return name[:end]
