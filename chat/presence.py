"""Who holds which nickname in which room, across every front door."""

from __future__ import annotations

from chat.models import Member
from chat.rules import name_key


class Presence:
    def __init__(self) -> None:
        self._by_conn: dict[str, Member] = {}
        # room -> name_key -> member (a key is what makes two names the same);
        # dicts keep join order for lists
        self._rooms: dict[str, dict[str, Member]] = {}

    def get(self, conn: str) -> Member | None:
        return self._by_conn.get(conn)

    def holder(self, room: str, name: str) -> Member | None:
        return self._rooms.get(room, {}).get(name_key(name))

    def add(self, member: Member) -> None:
        assert self.holder(member.room, member.name) is None, "nickname is held"
        self._by_conn[member.conn] = member
        self._rooms.setdefault(member.room, {})[name_key(member.name)] = member

    def remove(self, conn: str) -> Member | None:
        member = self._by_conn.pop(conn, None)
        if member is not None:
            room = self._rooms[member.room]
            del room[name_key(member.name)]
            if not room:
                del self._rooms[member.room]
        return member

    def names(self, room: str) -> tuple[str, ...]:
        return tuple(m.name for m in self._rooms.get(room, {}).values())

    def taken(self, room: str) -> set[str]:
        """The name keys held in ``room``."""
        return set(self._rooms.get(room, {}))

    def rooms(self) -> dict[str, int]:
        return {room: len(members) for room, members in self._rooms.items()}

    def __len__(self) -> int:
        return len(self._by_conn)
