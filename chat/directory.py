"""Who holds which nickname in which room, across every door and process.

The directory is the one authority on names: a claim is atomic, so two
joiners (on any door, on any process) can never both get one name. One
process keeps it in memory; scaled out it lives in Redis
(:mod:`cluster.directory`), with the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chat.models import Member
from chat.rules import ChatError, name_key, suggest_name


@dataclass(frozen=True, slots=True)
class Holder:
    """The connection holding a nickname, wherever it is."""

    room: str
    name: str
    conn: str
    client: str | None
    process: str
    stale: bool = False
    """Its process is gone: nobody has announced its leave yet."""


class Directory(Protocol):
    process: str
    """This process's id, unique among the processes sharing the directory."""

    async def claim(self, member: Member) -> Holder | None:
        """Give ``member.name`` in ``member.room`` to ``member.conn``.

        Free, or already this connection's: returns None. Held by another
        connection of the same client (a reconnect that beat the old one's
        timeout) or by a process that is gone: taken over, and the old holder
        is returned so that it can be dropped. Otherwise raises
        ``name_taken`` with a free ``suggestion``.
        """
        ...

    async def release(self, member: Member) -> bool:
        """Give the name back, if ``member``'s connection still holds it."""
        ...

    async def holds(self, member: Member) -> bool:
        """Whether ``member.conn`` still holds ``member.name``."""
        ...

    async def recoverable(self, member: Member, pid: str, window: float) -> None:
        """``member``'s connection has the recoverable session ``pid``: should
        its process vanish, the name stays held (no leave) while the session
        lasts, ``window`` seconds at most, rather than being freed at once."""
        ...

    async def held_here(self) -> list[Holder]:
        """The names held for this process's connections."""
        ...

    async def names(self, room: str) -> tuple[str, ...]:
        """Everyone in ``room``, in the order they joined."""
        ...


def name_taken(name: str, held: str, taken: set[str]) -> ChatError:
    """``held``: the name as its holder spells it; ``taken``: the room's keys."""
    # Quoted, not repr(): a repr would show a ZWJ in an emoji as \u200d.
    message = f"The nickname “{name}” is already in use in this room."
    if held != name:  # the same by name_key, spelled otherwise
        message = (
            f"The nickname “{name}” reads the same as “{held}”, who is in this room."
        )
    return ChatError("name_taken", message, suggestion=suggest_name(name, taken))


def takes_over(held: Holder, member: Member) -> bool:
    return held.stale or bool(member.client and held.client == member.client)


PARKED = "away"
"""The owner of names parked over a restart (see :meth:`LocalDirectory.park`)."""


class LocalDirectory:
    """One process: a dict, and claims cannot interleave (no await inside)."""

    def __init__(self) -> None:
        self.process = "local"
        self._rooms: dict[str, dict[str, Holder]] = {}

    def park(self, holders: list[Holder]) -> None:
        """The last run's sessions keep their names until each one expires
        (see :meth:`chat.resumption.Resumption.unpark`): a reconnect with the
        same ``client`` takes its name back quietly."""
        for held in holders:
            key = name_key(held.name)
            names = self._rooms.setdefault(held.room, {})
            if key not in names:
                names[key] = Holder(
                    held.room, held.name, held.conn, held.client, PARKED
                )

    async def claim(self, member: Member) -> Holder | None:
        names = self._rooms.setdefault(member.room, {})
        key = name_key(member.name)
        held = names.get(key)
        if held is not None and held.conn != member.conn:
            if not takes_over(held, member):
                raise name_taken(member.name, held.name, set(names))
        else:
            held = None
        names.pop(key, None)  # re-inserted last: lists keep join order
        names[key] = Holder(
            member.room, member.name, member.conn, member.client, self.process
        )
        return held

    async def release(self, member: Member) -> bool:
        names = self._rooms.get(member.room, {})
        key = name_key(member.name)
        held = names.get(key)
        if held is None or held.conn != member.conn:
            return False
        del names[key]
        if not names:
            del self._rooms[member.room]
        return True

    async def holds(self, member: Member) -> bool:
        held = self._rooms.get(member.room, {}).get(name_key(member.name))
        return held is not None and held.conn == member.conn

    async def recoverable(self, member: Member, pid: str, window: float) -> None:
        pass  # one process: a restart parks the stored sessions (unpark)

    async def held_here(self) -> list[Holder]:
        return [
            h
            for names in self._rooms.values()
            for h in names.values()
            if h.process == self.process
        ]

    async def names(self, room: str) -> tuple[str, ...]:
        return tuple(h.name for h in self._rooms.get(room, {}).values())
