"""Who holds which nickname in which room, across every front door."""

from __future__ import annotations

from chat.models import Member


class Presence:
    def __init__(self) -> None:
        self._by_conn: dict[str, Member] = {}
        # room -> casefolded name -> member; dicts keep join order for lists
        self._rooms: dict[str, dict[str, Member]] = {}

    def get(self, conn: str) -> Member | None:
        return self._by_conn.get(conn)

    def holder(self, room: str, name: str) -> Member | None:
        return self._rooms.get(room, {}).get(name.casefold())

    def add(self, member: Member) -> None:
        assert self.holder(member.room, member.name) is None, "nickname is held"
        self._by_conn[member.conn] = member
        self._rooms.setdefault(member.room, {})[member.name.casefold()] = member

    def remove(self, conn: str) -> Member | None:
        member = self._by_conn.pop(conn, None)
        if member is not None:
            room = self._rooms[member.room]
            del room[member.name.casefold()]
            if not room:
                del self._rooms[member.room]
        return member

    def names(self, room: str) -> tuple[str, ...]:
        return tuple(m.name for m in self._rooms.get(room, {}).values())

    def taken(self, room: str) -> set[str]:
        return set(self._rooms.get(room, {}))

    def rooms(self) -> dict[str, int]:
        return {room: len(members) for room, members in self._rooms.items()}

    def __len__(self) -> int:
        return len(self._by_conn)
