"""Carries core events out to Socket.IO clients (the fan-out's ``sio`` door).

The door keeps its own table of which connection gets which room's events,
and in which form (see :func:`chat.rules.check_format`): members, and
spectators that connected without joining, who get the default room's
events as the tutorial's ``io.emit`` gives them to every page. A broadcast
is encoded and framed once per form, and the same bytes go to every
recipient of that form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode

from chat.fanout import runs
from chat.models import (
    ChatEvent,
    Joined,
    Member,
    MemberJoined,
    MemberLeft,
    Message,
    MessagePosted,
    Missed,
    TypingChanged,
)
from chat.recovery import offset
from chat.rules import DEFAULT_ROOM
from chat.stats import Stats
from events.chat_server import ChatServer
from events.codec import event_text, frames, message_packet
from events.link import Link

PREFIX = "sio:"


def conn_id(sid: str) -> str:
    return PREFIX + sid


def render(event: ChatEvent, form: str) -> list[tuple[str, Any]]:
    """The Socket.IO events a client of ``form`` gets for ``event``."""
    tutorial: list[tuple[str, Any]] = []
    structured: list[tuple[str, Any]] = []
    match event:
        case MessagePosted(message=m):
            tutorial.append(("message", f"{m.name}: {m.text}"))
            structured.append(("chat", m.as_dict()))
        case MemberJoined(room=room, name=name):
            tutorial.append(("join", name))
            structured.append(("user_joined", {"room": room, "name": name}))
        case MemberLeft(room=room, name=name):
            tutorial.append(("leave", name))
            structured.append(("user_left", {"room": room, "name": name}))
        case TypingChanged(room=room, name=name, typing=typing):
            structured.append(
                ("typing", {"room": room, "name": name, "typing": typing})
            )
    if form == "tutorial":
        return tutorial
    if form == "structured":
        return structured
    return tutorial + structured


@dataclass(eq=False, slots=True)
class _Sub:
    link: Link
    room: str
    form: str


@dataclass(eq=False, slots=True)
class _Encoded:
    """A broadcast in one form: its packets, their frames, and to how many."""

    packets: list[Any]
    data: bytes
    recipients: int = 0


class SocketIODoor:
    def __init__(
        self, sio: ChatServer, stats: Stats, epoch: Callable[[], str] | None = None
    ) -> None:
        self.sio = sio
        self.stats = stats
        self._epoch = epoch
        """With recovery on: the store's epoch, for the offset every
        broadcast event carries as its last argument."""
        self._last: dict[str, int] = {}
        """Per room, the last message id broadcast: a join, leave or typing
        event's offset (the client has everything up to it)."""
        self._subs: dict[str, _Sub] = {}
        self.pids: dict[str, str] = {}
        """With recovery on: each connection's private session id."""
        self._rooms: dict[str, dict[str, _Sub]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # Who gets what -------------------------------------------------------

    def spectate(self, sid: str, form: str) -> None:
        """A connection that has not joined sees the default room."""
        self._subscribe(sid, DEFAULT_ROOM, form)

    def opened(self, sid: str) -> None:
        """A connection began (the Admin UI's :class:`~events.admin.WatchedDoor`
        reports it; nothing to do here)."""

    def form(self, sid: str) -> str:
        sub = self._subs.get(sid)
        return sub.form if sub is not None else "tutorial"

    def drop(self, sid: str, reason: object = None) -> None:
        """The connection is gone (``reason``: python-socketio's)."""
        self._unsubscribe(sid)

    def _subscribe(self, sid: str, room: str, form: str) -> bool:
        link = self.sio.link(sid)
        if link is None:
            return False
        self._unsubscribe(sid)
        sub = self._subs[sid] = _Sub(link, room, form)
        self._rooms.setdefault(room, {})[sid] = sub
        return True

    def _unsubscribe(self, sid: str) -> _Sub | None:
        sub = self._subs.pop(sid, None)
        if sub is not None:
            subs = self._rooms[sub.room]
            del subs[sid]
            if not subs:
                del self._rooms[sub.room]
                self._last.pop(sub.room, None)
        return sub

    # The fan-out's Door --------------------------------------------------

    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        for room, skip, run in runs(events):
            self._broadcast(room, run, skip.removeprefix(PREFIX))

    def _broadcast(self, room: str, events: Sequence[ChatEvent], skip: str) -> None:
        """One write per recipient; everything else is done once per form."""
        subs = self._rooms.get(room)
        if not subs:
            return
        offsets = self._offsets(room, events)
        encoded: dict[str, _Encoded] = {}
        for sid, sub in subs.items():
            if sid == skip:
                continue
            out = encoded.get(sub.form)
            if out is None:
                packets = [
                    message_packet(event_text(name, data, at))
                    for event, at in zip(events, offsets, strict=True)
                    for name, data in render(event, sub.form)
                ]
                out = encoded[sub.form] = _Encoded(packets, frames(packets))
            if out.packets:
                sub.link.put(out.packets, out.data)
                out.recipients += 1
        written = sum(len(e.packets) * e.recipients for e in encoded.values())
        self.stats.deliveries.labels("sio").inc(written)
        traffic = self.sio.eio.traffic
        if traffic is not None:
            size = sum(len(e.data) * e.recipients for e in encoded.values())
            traffic.sent(written, size)

    def _offsets(self, room: str, events: Sequence[ChatEvent]) -> list[str | None]:
        """Each event's offset, once per broadcast (not per recipient): the
        room's last id so far."""
        if self._epoch is None:
            return [None] * len(events)
        epoch = self._epoch()
        return [
            offset(
                epoch,
                self._advance(
                    room, e.message.id if isinstance(e, MessagePosted) else 0
                ),
            )
            for e in events
        ]

    def _own(self, room: str, message_id: int) -> str | None:
        """The offset of one connection's history or replayed line: exactly
        ``message_id``. The room's broadcasts may be past it; what lies
        between is on its way to this connection, and a client that drops
        meanwhile must be sent it again."""
        if self._epoch is None:
            return None
        self._advance(room, message_id)  # the room's last id, for what follows
        return offset(self._epoch(), message_id)

    def _advance(self, room: str, message_id: int) -> int:
        """The room's last id, past ``message_id`` now."""
        last = self._last[room] = max(self._last.get(room, 0), message_id)
        return last

    def attach(self, member: Member) -> bool:
        return self._subscribe(_sid(member), member.room, member.format)

    def welcome(self, joined: Joined) -> None:
        member = joined.member
        link = self.sio.link(_sid(member))
        if link is None:
            return
        room, form = member.room, member.format
        if joined.recovered:
            # What it missed, as the events it would have had: no "history"
            # of lines. Joins and leaves are not in the store, so a client
            # that keeps a list of people gets the list as it is now, in
            # the event that brought it at its join.
            missed = [*joined.history, *joined.live]
            texts = self._replayed(room, form, missed, joined.gone, joined.last_id)
            if form != "tutorial":
                roster = self._history(joined, [], catchup=True)
                at = self._own(room, joined.last_id)
                texts.append(event_text("history", {**roster, "recovered": True}, at))
        else:
            upto = joined.live[0].id - 1 if joined.live else joined.last_id
            history = self._history(joined, joined.history, catchup=joined.catchup)
            texts = [event_text("history", history, self._own(room, upto))]
            # ...then what was delivered while the history was read.
            texts += self._lines(room, form, joined.live)
        link.tell([message_packet(text) for text in texts], bulk=True)

    def rewatch(self, sid: str, missed: Missed) -> bool:
        """A recovered spectator reads its room again, from what it missed."""
        link = self.sio.link(sid)
        if link is None or not self._subscribe(sid, missed.room, missed.format):
            return False
        texts = self._replayed(
            missed.room, missed.format, missed.messages, missed.gone, missed.last_id
        )
        link.tell([message_packet(text) for text in texts], bulk=True)
        return True

    @staticmethod
    def _history(
        joined: Joined, messages: Sequence[Message], *, catchup: bool
    ) -> dict[str, Any]:
        return {
            "room": joined.member.room,
            "messages": [m.as_dict() for m in messages],
            "catchup": catchup,
            "last_id": joined.last_id,
            "epoch": joined.epoch,
            "users": list(joined.users),
        }

    def _replayed(
        self, room: str, form: str, missed: Sequence[Message], gone: int, last_id: int
    ) -> list[str]:
        """A recovery's missed lines, each with its offset; first, if some
        are no longer kept, a notice saying how many."""
        texts = []
        if gone:
            notice = _gone(room, gone)
            texts.append(event_text("chat_error", notice))
            if form != "structured":  # the only line a page shows
                upto = missed[0].id - 1 if missed else last_id
                at = self._own(room, upto)
                texts.append(event_text("message", notice["message"], at))
        return texts + self._lines(room, form, missed)

    def _lines(self, room: str, form: str, messages: Sequence[Message]) -> list[str]:
        return [
            event_text(name, data, self._own(room, message.id))
            for message in messages
            for name, data in render(MessagePosted(message), form)
        ]

    async def detach(self, member: Member) -> None:
        sid = _sid(member)
        sub = self._subs.get(sid)
        if sub is not None and sub.room == member.room:
            self._unsubscribe(sid)
            self.spectate(sid, member.format)

    async def kick(self, member: Member) -> None:
        # Its name went to another connection: nothing left to recover.
        self.pids.pop(_sid(member), None)
        # In a task of its own: the disconnect handler it runs leaves through
        # the core, which must not wait on the join that is kicking.
        task = asyncio.create_task(self.sio.disconnect(_sid(member)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def resync(self) -> None:
        # Every client reconnects by itself and joins the new history.
        for task in self.sio.end_all(WSCloseCode.SERVICE_RESTART):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def address(self, sid: str) -> str:
        link = self.sio.link(sid)
        return link.remote if link is not None else ""

    # To one connection ---------------------------------------------------

    def send(self, sid: str, event: str, data: Any, *, bulk: bool = False) -> None:
        link = self.sio.link(sid)
        if link is not None:
            link.tell([message_packet(event_text(event, data))], bulk=bulk)


def _gone(room: str, count: int) -> dict[str, Any]:
    return {
        "event": "connect",
        "code": "history_gone",
        "message": f"{count} messages sent while you were away are no longer kept.",
        "room": room,
        "missed": count,
    }


def _sid(member: Member) -> str:
    return member.conn.removeprefix(PREFIX)
