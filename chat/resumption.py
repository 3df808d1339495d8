"""A person kept across a lost connection: the one place for it in the core.

Connection-state recovery's sessions (:mod:`chat.recovery`) are the general
form: a name, a room, a format, limits (the same connection id) and a
delivered offset, stored where the history is, with an expiry. Here they
are put to work: a member whose connection drops is suspended rather than
left, a recovered one comes back without a leave or a join, and a restart
stores the members recovery does not keep (the plain WebSocket and HTTP
doors' ones, with a ``client`` id) as sessions too, until the grace ends:
the next run holds every stored session's name until it expires.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from chat.bus import Bus
from chat.directory import PARKED, Directory, Holder, LocalDirectory
from chat.history import HistoryStore, StoreFailed
from chat.locks import KeyedLock
from chat.models import (
    ChatEvent,
    Joined,
    Member,
    MemberLeft,
    Message,
    Missed,
    TypingChanged,
)
from chat.presence import Presence
from chat.recovery import Recovery, Resume, Session
from chat.relay import Relay
from chat.rules import CATCHUP_LIMIT, DEFAULT_ROOM, JoinRequest, name_key

log = logging.getLogger(__name__)


class Core(Protocol):
    """What a resumption reads of the service (:class:`chat.service.ChatService`)."""

    @property
    def presence(self) -> Presence: ...

    @property
    def store(self) -> HistoryStore: ...

    @property
    def directory(self) -> Directory: ...

    @property
    def relay(self) -> Relay: ...

    @property
    def recovery(self) -> Recovery: ...

    @property
    def bus(self) -> Bus: ...

    @property
    def draining(self) -> bool: ...

    @property
    def serial(self) -> KeyedLock: ...

    async def rejoin(
        self, door: str, conn: str, request: JoinRequest, address: str
    ) -> Joined: ...

    async def detach(self, member: Member) -> bool: ...

    async def drop_member(self, member: Member) -> None: ...

    async def announce(self, events: Sequence[ChatEvent]) -> None: ...


async def missed(
    store: HistoryStore, room: str, after: int, last_id: int, cut: int | None
) -> tuple[list[Message], int]:
    """What a recovered client missed after ``after`` (up to ``cut``, the
    room's ``last_id``), and how many of those are no longer kept: all of
    it, however little is left, so that what ``--room-cap`` or retention
    took is counted, not skipped."""
    after = min(after, last_id)
    start = max(after, last_id - CATCHUP_LIMIT)
    history = await store.after(room, start, CATCHUP_LIMIT, upto=cut)
    first = history[0].id if history else last_id + 1
    return history, first - after - 1


class Resumption:
    def __init__(self, service: Core) -> None:
        self._service = service
        self.recovery = service.recovery

    def _session(
        self, pid: str, sid: str, room: str, member: Member | None, form: str
    ) -> Session:
        delivered = self._service.relay.delivered(room)
        return Session(
            pid=pid,
            sid=sid,
            room=room,
            name=member.name if member is not None else None,
            client=member.client if member is not None else None,
            format=member.format if member is not None else form,
            epoch=self._service.store.epoch,
            delivered=delivered if delivered is not None else 0,
            expires=self.recovery.expiry(),
            process=self.recovery.process,
        )

    @staticmethod
    def new_pid() -> str:
        return Recovery.new_pid()

    async def take(self, pid: object, offset_value: object) -> Resume | None:
        """The session to recover, if it may be (see Recovery.take). One a
        crash left live is bounded by its name: recovered while the name is
        still held for its connection (parked after a restart, or by the
        sweep of its dead process until its window ends), not after."""
        resume = await self.recovery.take(pid, offset_value)
        if resume is None or not resume.session.live:
            return resume
        session = resume.session
        if session.name is None:
            return resume
        try:
            held = await self._service.directory.holds(session.member())
        except Exception as exc:
            log.warning("could not look up a session's name: %s", exc)
            held = False
        return resume if held else None

    async def resume(
        self, door: str, conn: str, resume: Resume, *, address: str = ""
    ) -> Joined:
        """A recovered Socket.IO session's member comes back on ``conn`` (its
        old id): its name was held for it, so nobody sees it go or come, and
        it gets the messages after ``resume.after`` as ordinary events."""
        service = self._service
        session = resume.session
        self.recovery.taken(session.pid)
        assert session.name is not None
        request = JoinRequest(
            session.name,
            session.room,
            after=resume.after,
            client=session.client,
            format=session.format,
        )
        if session.live and session.process != self.recovery.process:
            # Stored while up on another process, crashed or not yet aware
            # that its connection went: any copy there goes, quietly.
            holder = Holder(
                session.room, session.name, conn, session.client, session.process
            )
            await service.bus.kick(holder)
        return await service.rejoin(door, conn, request, address)

    async def replay(self, resume: Resume, watch: Callable[[Missed], object]) -> None:
        """A recovered spectator reads its room again: ``watch`` subscribes
        it and sends what it missed after ``resume.after``, in one go (no
        await between, so each message reaches it once: replayed or live)."""
        session = resume.session
        self.recovery.taken(session.pid)
        room = session.room
        store, relay = self._service.store, self._service.relay
        cut = relay.delivered(room)
        with relay.watch(room) as live:
            last_id = await store.last_id(room) if cut is None else cut
            history, gone = await missed(store, room, resume.after, last_id, cut)
        read = max(last_id, history[-1].id if history else 0)
        cut, live = relay.cut_at(room, cut, read, live)
        last = live[-1].id if live else cut
        watch(Missed(room, session.format, [*history, *live], gone, last))

    async def hold(self, conn: str, pid: str, sid: str) -> None:
        """Store a joined connection's session while it is up, so that a
        crash of this process leaves it behind to recover elsewhere; and
        have the directory park its name for it should this process vanish
        (rather than free it, and announce a leave, at the sweep)."""
        member = self._service.presence.get(conn)
        if member is None:
            return
        session = self._session(pid, sid, member.room, member, member.format)
        try:
            await self.recovery.keep(self.recovery.live(session))
            await self._service.directory.recoverable(member, pid, self.recovery.window)
        except StoreFailed:
            pass  # only a crash would have needed it; the store said why, once
        except Exception as exc:
            log.warning("could not keep a live session: %s", exc)

    async def suspend(self, conn: str, pid: str, sid: str, form: str) -> None:
        """A Socket.IO connection that can be recovered dropped: its name
        stays held and its leave is announced only if the window ends first.
        Falls back to an ordinary leave when the session cannot be stored."""
        service = self._service
        async with service.serial.hold(conn):
            member = service.presence.get(conn)
            room = member.room if member is not None else DEFAULT_ROOM
            session = self._session(pid, sid, room, member, form)
            try:
                await self.recovery.keep(session)
            except Exception as exc:
                if not isinstance(exc, StoreFailed):  # that one said why, once
                    log.warning("could not keep a session to recover: %s", exc)
                if member is not None:
                    await service.drop_member(member)
                return
            if member is None:
                return
            if await service.detach(member):
                await service.announce(
                    [TypingChanged(room, member.name, False, member.conn)]
                )
            if not service.draining:  # a restart parks stored sessions
                self.recovery.expire_later(session, self._expired)

    async def _expired(self, session: Session) -> None:
        """Nobody came back for a session in time: now it left."""
        service = self._service
        member = session.member()
        async with service.serial.hold(member.conn):
            if service.presence.get(member.conn) is not None:
                return  # came back by itself (a join on the same id)
            if await service.directory.release(member):
                await service.announce([MemberLeft(member.room, member.name)])

    # Restarts ------------------------------------------------------------

    async def park(self, until: float) -> None:
        """Shutting down one process: every member with a ``client`` id that
        recovery does not keep already (those of the other doors, and all of
        them with recovery off) is stored as a session until ``until`` (epoch
        s), so that its rejoin before then takes its name back unseen."""
        recovery = self.recovery
        for member in self._service.presence.members():
            if not member.client or (member.door == "sio" and recovery.enabled):
                continue  # no way back to the name, or suspended as it drops
            key = client_key(member.client, member.room, member.name)
            # A sid of its own: the next run numbers its connections afresh.
            sid = secrets.token_hex(8)
            session = self._session(key, sid, member.room, member, member.format)
            await recovery.keep(replace(session, door=member.door, expires=until))

    async def unpark(self, directory: LocalDirectory) -> None:
        """At start, one process alone: the last run's sessions hold their
        names, each until it expires (then its leave is announced), for its
        recovery or for a rejoin with its ``client`` id."""
        recovery = self.recovery
        holders = []
        for session in await recovery.stored():
            recoverable = session.door == "sio" and recovery.enabled
            if session.name is None or not (recoverable or session.client):
                continue  # a spectator, or no way back to the name this run
            holders.append(
                Holder(session.room, session.name, session.conn, session.client, PARKED)
            )
            recovery.expire_later(session, self._expired)
        directory.park(holders)

    async def reclaimed(self, holder: Holder) -> None:
        """A rejoin with its ``client`` id took a name parked over a restart:
        the session kept for it is used up (nobody is told it left)."""
        if holder.client is None:
            return
        key = client_key(holder.client, holder.room, holder.name)
        self.recovery.taken(key)
        try:
            await self.recovery.forget(key)
        except Exception as exc:  # it expires by itself; its leave finds no name
            log.warning("could not take a parked session: %s", exc)


def client_key(client: str, room: str, name: str) -> str:
    """The store key of a session kept for a ``client`` id: only who holds
    the id can name it (the room and the name are public, the id is not)."""
    digest = hashlib.sha256(f"{client}\0{room}\0{name_key(name)}".encode())
    return "client-" + digest.hexdigest()[:40]
