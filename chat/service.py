"""Join, leave, post, typing and history: the one path for every front door."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from chat.bus import Bus, LocalBus
from chat.directory import PARKED, Directory, Holder, LocalDirectory
from chat.fanout import Fanout
from chat.history import HistoryStore
from chat.limits import Limits
from chat.locks import KeyedLock
from chat.models import (
    ChatEvent,
    Joined,
    Member,
    MemberJoined,
    MemberLeft,
    Message,
    NewMessage,
    TypingChanged,
)
from chat.presence import Presence
from chat.recovery import Recovery
from chat.relay import Relay
from chat.resumption import Resumption, missed
from chat.rules import (
    CATCHUP_LIMIT,
    DEFAULT_ROOM,
    ChatError,
    JoinRequest,
    check_text,
    check_typing,
    name_key,
    parse_join,
)
from chat.sequencer import Sequencer
from chat.stats import Stats
from chat.sync import Sync
from chat.typists import Typists

log = logging.getLogger(__name__)


class ChatService:
    def __init__(
        self,
        store: HistoryStore,
        fanout: Fanout,
        *,
        directory: Directory | None = None,
        bus: Bus | None = None,
        history: int = 50,
        max_group: int = 1000,
        rate_limit: float = 0.0,
        rate_burst: int = 1,
        limits: Limits | None = None,
        recovery: Recovery | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.directory = directory or LocalDirectory()
        self.bus = bus or LocalBus()
        self.presence = Presence()
        self.relay = Relay(fanout, store, self._read)
        self.sequencer = Sequencer(store, self.relay, max_group)
        self.typists = Typists(self.announce, self._here)
        self.limits = limits or Limits(rate_limit, rate_burst)
        self._history = history
        # join, leave and rename of one connection happen one at a time,
        # whichever door they come through and however many tasks it runs.
        self._serial = KeyedLock()
        # One sender's posts reach the commit queue in the order they came,
        # however long each waits for its flood limit (a Redis round trip).
        self._posting = KeyedLock()
        self._clock = clock
        self.recovery = recovery or Recovery(store, 0.0, clock)
        self.resumption = Resumption(self)
        self.sync = Sync(
            self.presence,
            self.relay,
            store,
            self.directory,
            fanout,
            self.bus,
            serial=self._serial,
            announce=self.announce,
            kick=self.kicked,
        )
        self.draining = False
        """Shutting down: connections go without giving up their names or being
        announced, to come back (elsewhere) within the grace, unseen."""

    def start(self) -> None:
        self.sequencer.start()

    async def stop(self) -> None:
        await self.sequencer.stop()
        await self.relay.stop()
        await self.typists.stop()
        await self.recovery.stop()

    @property
    def stats(self) -> Stats:
        return self.fanout.stats

    def member(self, conn: str) -> Member:
        member = self.presence.get(conn)
        if member is None:
            raise ChatError("not_joined", "Join the chat with a nickname first.")
        return member

    def _here(self, member: Member) -> bool:
        return self.presence.get(member.conn) is member

    def _read(self, room: str) -> bool:
        """Someone here reads ``room``: a member, or (the default room) the
        Socket.IO pages that have not joined yet."""
        return room == DEFAULT_ROOM or self.presence.has_room(room)

    def _gone_from(self, room: str) -> None:
        if not self._read(room):
            self.relay.forget(room)

    async def announce(self, events: Sequence[ChatEvent]) -> None:
        """Joins, leaves and typing: to this process's doors and the others."""
        await self.relay.deliver(events)
        try:
            await self.bus.publish(events)
        except Exception as exc:  # Redis away: the others miss a notice
            log.warning("could not tell the other processes: %s", exc)

    # Membership --------------------------------------------------------------

    async def join(
        self,
        door: str,
        conn: str,
        data: object,
        *,
        address: str = "",
        owner: str = "",
    ) -> Joined:
        """``data`` as the client sent it: a nickname or a JoinRequest's fields.

        A nickname held by a connection with the same ``client`` id is taken
        over (a reconnect that beat the old connection's timeout); the old
        connection is dropped and nobody sees it leave and rejoin.
        """
        request = parse_join(data)
        async with self._serial.hold(conn):
            await self.limits.take("join", conn, request.client, address)
            return await self._join(door, conn, request, address, owner)

    async def _join(
        self,
        door: str,
        conn: str,
        request: JoinRequest,
        address: str,
        owner: str,
        *,
        recovered: bool = False,
    ) -> Joined:
        member = Member(
            door=door,
            conn=conn,
            name=request.name,
            room=request.room,
            client=request.client,
            format=request.format,
            address=address,
            owner=owner,
        )
        # A recovered member whose name was let go meanwhile (its process
        # was swept) is announced again: the others saw it leave.
        quiet = recovered and await self.directory.holds(member)
        # The claim comes first: a join that fails leaves the old membership.
        holder = await self.directory.claim(member)
        old = self.presence.get(conn)
        if old is not None:  # a second join renames or switches rooms
            same = old.room == member.room and name_key(old.name) == name_key(
                member.name
            )
            await self._leave(old, release=not same)
        was_typing = await self._drop(holder) if holder is not None else False
        self.presence.add(member)
        try:
            joined = await self._welcome(member, request, recovered)
        except BaseException:
            # E.g. the connection went away mid-join: hold no name for it.
            if self.presence.get(conn) is member:
                self.presence.remove(conn)
                self._gone_from(member.room)
                await self.directory.release(member)
                await self.fanout.door(member).detach(member)
            if holder is not None:  # its old connection is gone too: say so
                await self.announce([MemberLeft(holder.room, holder.name)])
            raise
        if holder is None:
            if not quiet:  # its name was held for it: nobody saw it go
                await self.announce([MemberJoined(member.room, member.name)])
        elif member.client is None or holder.client != member.client:
            # A name left behind by a process that died: it went, this came.
            await self.announce(
                [
                    MemberLeft(holder.room, holder.name),
                    MemberJoined(member.room, member.name),
                ]
            )
        elif was_typing:  # a take-over keeps the name, not the old indicator
            await self.announce(
                [TypingChanged(holder.room, holder.name, False, holder.conn)]
            )
        return joined

    async def _drop(self, holder: Holder) -> bool:
        """The old holder of a taken-over name goes, quietly; was it typing?"""
        old = self.presence.get(holder.conn)
        if old is None:
            if holder.process == PARKED:  # over a restart: its session is used
                await self.resumption.reclaimed(holder)
            elif not holder.stale:
                await self.bus.kick(holder)  # it is on another process
            return False
        return await self._evict(old)

    async def kicked(self, conn: str) -> None:
        """Another process took this connection's name over: drop it quietly."""
        async with self._serial.hold(conn):
            old = self.presence.get(conn)
            if old is not None and await self._evict(old):
                await self.announce(
                    [TypingChanged(old.room, old.name, False, old.conn)]
                )

    async def _evict(self, old: Member) -> bool:
        """Drop a connection whose name went to another; was it typing?"""
        was_typing = await self.detach(old)
        await self.fanout.door(old).kick(old)
        return was_typing

    async def _welcome(
        self, member: Member, request: JoinRequest, recovered: bool = False
    ) -> Joined:
        room = member.room
        # The history is cut at the last id this process has delivered to the
        # room; whatever is delivered while it is read goes to the joiner
        # after it. Unknown (nothing delivered here yet): cut where the store
        # was, and drop older ids if they still arrive.
        cut = self.relay.delivered(room)
        with self.relay.watch(room) as live:
            last_id = await self.store.last_id(room) if cut is None else cut
            # Ids from another database (or beyond ours) say nothing about
            # what the client missed, nor does a gap too big to replay: give
            # it the recent history instead.
            after = request.after
            gone = 0
            if recovered and after is not None:
                history, gone = await missed(self.store, room, after, last_id, cut)
            elif (
                after is None
                or not 0 <= last_id - after <= CATCHUP_LIMIT
                or request.epoch not in (None, self.store.epoch)
            ):
                after = None
            if after is not None and not recovered:
                history = await self.store.after(room, after, CATCHUP_LIMIT, upto=cut)
                if last_id > after and (not history or history[0].id != after + 1):
                    after = None  # the cap or retention took part of it: not whole
            if after is None:
                history = await self.store.recent(room, self._history, upto=cut)
            users = await self.directory.names(room)
        # No await from here to the welcome: the door sends history, then
        # what came meanwhile, then everything delivered after it.
        read = max(last_id, history[-1].id if history else 0)
        cut, live = self.relay.cut_at(room, cut, read, live)
        door = self.fanout.door(member)
        if not door.attach(member):
            raise ChatError("disconnected", "The connection closed while joining.")
        joined = Joined(
            member=member,
            users=users,
            history=history,
            catchup=after is not None,
            last_id=live[-1].id if live else cut,
            epoch=self.store.epoch,
            live=live,
            recovered=recovered,
            gone=gone,
        )
        door.welcome(joined)
        return joined

    async def adopt(self, member: Member) -> None:
        """A member that joined through another process acts through this one
        (an HTTP session's token works everywhere)."""
        async with self._serial.hold(member.conn):
            if self.presence.get(member.conn) is None:
                if not await self.directory.holds(member):
                    raise ChatError("not_joined", "The session's nickname is gone.")
                self.presence.add(member)

    async def leave(self, conn: str) -> None:
        async with self._serial.hold(conn):
            member = self.presence.get(conn)
            if member is not None:
                await self._leave(member)

    # For chat.resumption ------------------------------------------------

    @property
    def serial(self) -> KeyedLock:
        """Join, leave and rename of one connection, one at a time."""
        return self._serial

    async def rejoin(
        self, door: str, conn: str, request: JoinRequest, address: str
    ) -> Joined:
        """A recovered member back in its room (see Resumption.resume)."""
        async with self._serial.hold(conn):
            return await self._join(door, conn, request, address, "", recovered=True)

    async def detach(self, member: Member) -> bool:
        """``member`` is no longer here, its name kept; was it typing?"""
        self.presence.remove(member.conn)
        self._gone_from(member.room)
        was_typing = self.typists.cancel(member)
        await self.fanout.door(member).detach(member)
        return was_typing

    async def drop_member(self, member: Member) -> None:
        """An ordinary leave (the caller holds the connection's turn)."""
        await self._leave(member)

    async def _leave(self, member: Member, *, release: bool = True) -> None:
        await self.detach(member)
        if self.draining:
            return  # the name waits for its owner to come back (see draining)
        if release:
            try:
                await self.directory.release(member)
            except Exception as exc:  # given back by catch_up() once Redis is back
                log.warning("could not release %r: %s", member.name, exc)
        await self.announce([MemberLeft(member.room, member.name)])

    # Talking -----------------------------------------------------------------

    async def post(self, conn: str, text: object) -> Message:
        return await (await self.queue(conn, text))

    async def queue(self, conn: str, text: object) -> asyncio.Future[Message]:
        """Check a post and queue it; the future resolves once it is stored
        and sent. For a door that reads on meanwhile (the plain WebSocket),
        so that one slow commit does not hold the connection's next frame."""
        member = self.member(conn)
        clean = check_text(text)
        async with self._posting.hold(conn):
            await self.limits.take("post", conn, member.client, member.address)
            ts = int(self._clock() * 1000)
            message = NewMessage(member.room, member.name, clean, ts)
            stored = self.sequencer.submit(message)
        if member.typing:
            await self.typists.set(member, False)
        return stored

    async def typing(self, conn: str, value: object) -> None:
        member = self.member(conn)
        typing = check_typing(value)
        if typing != member.typing:  # a refresh broadcasts nothing: free
            await self.limits.take("typing", conn, member.client, member.address)
        await self.typists.set(member, typing)

    async def history(
        self, room: str, after: int | None, limit: int, before: int | None = None
    ) -> tuple[list[Message], int]:
        """A page of a room's messages and the room's newest id.

        The arguments come checked: the HTTP door reads them from a query
        string, with its own errors (``bad_query``, ``invalid_room``).
        """
        if before is not None:
            messages = await self.store.before(room, before, limit)
        elif after is None:
            messages = await self.store.recent(room, limit)
        else:
            messages = await self.store.after(room, after, limit)
        return messages, await self.store.last_id(room)
