"""Plain values passed between the core, the store and the front doors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A validated message that has no id yet."""

    room: str
    name: str
    text: str
    ts: int
    """Milliseconds since the Unix epoch."""


@dataclass(frozen=True, slots=True)
class Message:
    """A stored message; ``id`` counts up from 1 within its room."""

    room: str
    id: int
    name: str
    text: str
    ts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "name": self.name,
            "text": self.text,
            "ts": self.ts,
        }


@dataclass(eq=False, slots=True)
class Member:
    """One connection holding one nickname in one room."""

    door: str
    """Which front door holds the connection: ``sio``, ``ws`` or ``http``."""
    conn: str
    """Unique across doors, e.g. ``sio:<sid>``, ``ws:<n>``, ``http:<n>``."""
    name: str
    room: str
    client: str | None = None
    """Client-chosen id that survives reconnects; lets a reconnect take over
    its own nickname before the old connection has timed out."""
    format: str = "structured"
    """Which events a Socket.IO client asked for: ``tutorial``, ``structured``
    or ``both`` (see docs/protocol.md); other doors have one form."""
    address: str = ""
    """Where the connection comes from, for per-address limits."""
    owner: str = ""
    """Who keeps the nickname alive when processes share a directory: this
    process (empty), or an HTTP session (``s:<id>``)."""
    typing: bool = False
    typing_timer: asyncio.TimerHandle | None = None


@dataclass(frozen=True, slots=True)
class Joined:
    member: Member
    users: tuple[str, ...]
    history: list[Message]
    catchup: bool
    """True: ``history`` is exactly what the client missed since its last id.
    False: it is the room's recent history, shown as earlier messages."""
    last_id: int
    """The newest id the joiner has once ``history`` and ``live`` are sent."""
    epoch: str
    live: list[Message] = field(default_factory=list)
    """Messages delivered while the history was read: sent right after it,
    as ordinary messages."""
    recovered: bool = False
    """A recovered session: ``history`` is what it missed, sent as ordinary
    events (no ``history`` event, nobody told it joined)."""
    gone: int = 0
    """Of what a recovered session missed, how many messages are no longer
    kept (``--room-cap``, retention)."""

    def as_dict(self) -> dict[str, Any]:
        """What a join answers on Socket.IO and HTTP (raw text, not escaped)."""
        return {
            "name": self.member.name,
            "room": self.member.room,
            "users": list(self.users),
            "last_id": self.last_id,
            "epoch": self.epoch,
        }


@dataclass(frozen=True, slots=True)
class Missed:
    """What a recovered spectator (a connection that never joined) missed in
    the room it reads, sent as the ordinary events it would have had."""

    room: str
    format: str
    messages: list[Message]
    gone: int
    """How many of the missed messages are no longer kept."""
    last_id: int
    """The newest id it has once ``messages`` are sent."""


@dataclass(frozen=True, slots=True)
class MessagePosted:
    message: Message


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """Says only who came: the joiner has the full list in its welcome, and
    everyone else keeps theirs up to date from joins and leaves."""

    room: str
    name: str


@dataclass(frozen=True, slots=True)
class MemberLeft:
    room: str
    name: str


@dataclass(frozen=True, slots=True)
class TypingChanged:
    room: str
    name: str
    typing: bool
    conn: str
    """The typist's connection, which does not need its own indicator."""


ChatEvent = MessagePosted | MemberJoined | MemberLeft | TypingChanged
