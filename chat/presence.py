"""The members connected to this process, by connection.

Names and their uniqueness are the :mod:`chat.directory`'s; this is what a
process needs about its own connections: their member, for posting and
typing, and counts for /healthz.
"""

from __future__ import annotations

from chat.models import Member


class Presence:
    def __init__(self) -> None:
        self._by_conn: dict[str, Member] = {}
        self._rooms: dict[str, int] = {}

    def get(self, conn: str) -> Member | None:
        return self._by_conn.get(conn)

    def add(self, member: Member) -> None:
        self._by_conn[member.conn] = member
        self._rooms[member.room] = self._rooms.get(member.room, 0) + 1

    def remove(self, conn: str) -> Member | None:
        member = self._by_conn.pop(conn, None)
        if member is not None:
            self._rooms[member.room] -= 1
            if not self._rooms[member.room]:
                del self._rooms[member.room]
        return member

    def members(self) -> list[Member]:
        return list(self._by_conn.values())

    def room_names(self) -> list[str]:
        return list(self._rooms)

    def count(self, door: str) -> int:
        """Members connected through ``door``."""
        return sum(1 for m in self._by_conn.values() if m.door == door)

    def has_room(self, room: str) -> bool:
        return room in self._rooms

    def rooms(self) -> int:
        """How many rooms have members here."""
        return len(self._rooms)

    def __len__(self) -> int:
        return len(self._by_conn)
