"""A ChatService on a real SQLite store, with a door that records what it is
given: shared by test_service and test_relay."""

from __future__ import annotations

from collections.abc import Sequence

from chat.fanout import Fanout
from chat.models import ChatEvent, Joined, Member, MessagePosted
from chat.service import ChatService
from store.sqlite import SQLiteStore


class RecordingDoor:
    def __init__(self) -> None:
        self.events: list[ChatEvent] = []
        self.batches: list[list[ChatEvent]] = []
        self.attached: list[str] = []
        self.welcomed: list[Joined] = []
        self.kicked: list[str] = []
        self.seen: dict[str, list[int]] = {}
        """Per connection, every message id it was given: its welcome's, then
        those delivered to its room while it was attached."""
        self._rooms: dict[str, str] = {}

    async def deliver(self, events: Sequence[ChatEvent]) -> None:
        self.batches.append(list(events))
        self.events.extend(events)
        for event in events:
            if isinstance(event, MessagePosted):
                for conn, room in self._rooms.items():
                    if room == event.message.room:
                        self.seen.setdefault(conn, []).append(event.message.id)

    def attach(self, member: Member) -> bool:
        self.attached.append(member.conn)
        self._rooms[member.conn] = member.room
        return True

    def welcome(self, joined: Joined) -> None:
        self.welcomed.append(joined)
        ids = [m.id for m in joined.history + joined.live]
        self.seen.setdefault(joined.member.conn, []).extend(ids)

    async def detach(self, member: Member) -> None:
        if member.conn in self.attached:  # like the real doors: idempotent
            self.attached.remove(member.conn)
        self._rooms.pop(member.conn, None)

    async def kick(self, member: Member) -> None:
        self.kicked.append(member.conn)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def published(self) -> list[int]:
        """The id of every message delivered, in order."""
        return [e.message.id for e in self.of(MessagePosted)]


async def make_service(
    door: RecordingDoor, store: SQLiteStore | None = None, **kw: object
) -> ChatService:
    store = store or SQLiteStore(":memory:", retention_days=0, room_cap=0)
    await store.open()
    fanout = Fanout()
    fanout.add_door("t", door)
    service = ChatService(store, fanout, **kw)  # type: ignore[arg-type]
    service.start()
    return service


async def shutdown(service: ChatService) -> None:
    await service.stop()
    await service.store.close()
