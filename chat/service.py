"""Join, leave, post, typing and history: the one path for every front door."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from chat.fanout import Fanout
from chat.limits import Limits
from chat.locks import KeyedLock
from chat.models import (
    Joined,
    Member,
    MemberJoined,
    MemberLeft,
    Message,
    NewMessage,
    TypingChanged,
)
from chat.presence import Presence
from chat.relay import Relay
from chat.rules import (
    ChatError,
    JoinRequest,
    check_after,
    check_room,
    check_text,
    check_typing,
    parse_join,
    suggest_name,
)
from chat.sequencer import Sequencer
from store.base import HistoryStore

TYPING_TIMEOUT = 6.0
"""Seconds after which a typing indicator clears itself (a tab went away).
The page repeats ``typing: true`` every few seconds while someone types
(see static/chat.js), well within this."""
CATCHUP_LIMIT = 5000
"""Most messages replayed to a reconnecting client. One that missed more
gets the recent history instead, shown as earlier messages: better an
honest gap than a flood."""
PAGE_LIMIT = 500


class ChatService:
    def __init__(
        self,
        store: HistoryStore,
        fanout: Fanout,
        *,
        history: int = 50,
        max_group: int = 1000,
        rate_limit: float = 0.0,
        rate_burst: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.presence = Presence()
        self.relay = Relay(fanout, store)
        self.sequencer = Sequencer(store, self.relay, max_group)
        self._history = history
        self.limits = Limits(rate_limit, rate_burst)
        # join, leave and rename of one connection happen one at a time,
        # whichever door they come through and however many tasks it runs.
        self._serial = KeyedLock()
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.sequencer.start()

    async def stop(self) -> None:
        await self.sequencer.stop()
        await self.relay.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def member(self, conn: str) -> Member:
        member = self.presence.get(conn)
        if member is None:
            raise ChatError("not_joined", "Join the chat with a nickname first.")
        return member

    async def join(
        self, door: str, conn: str, data: object, *, address: str = ""
    ) -> Joined:
        """``data`` as the client sent it: a nickname or a JoinRequest's fields.

        A nickname held by a connection with the same ``client`` id is taken
        over (a reconnect that beat the old connection's timeout); the old
        connection is kicked and nobody sees it leave and rejoin.
        """
        request = parse_join(data)
        async with self._serial.hold(conn):
            self.limits.take("join", conn, request.client, address)
            return await self._join(door, conn, request, address)

    async def _join(
        self, door: str, conn: str, request: JoinRequest, address: str
    ) -> Joined:
        holder = self._holder(request, conn)
        if self.presence.get(conn) is not None:
            await self._leave(conn)  # a second join renames or switches rooms
            holder = self._holder(request, conn)  # _leave() awaited
        was_typing = False
        if holder is not None:
            self.presence.remove(holder.conn)
            self._cancel_typing(holder)
            was_typing, holder.typing = holder.typing, False
        member = Member(
            door=door,
            conn=conn,
            name=request.name,
            room=request.room,
            client=request.client,
            format=request.format,
            address=address,
        )
        self.presence.add(member)  # no await since the holder check: no race
        try:
            if holder is not None:
                await self.fanout.door(holder).detach(holder)
                await self.fanout.door(holder).kick(holder)
            joined = await self._welcome(member, request)
        except BaseException:
            # E.g. the connection went away mid-join: hold no name for it.
            if self.presence.get(conn) is member:
                self.presence.remove(conn)
                await self.fanout.door(member).detach(member)
            if holder is not None:  # its old connection is gone too: say so
                await self.relay.deliver([MemberLeft(holder.room, holder.name)])
            raise
        if holder is None:
            await self.relay.deliver([MemberJoined(member.room, member.name)])
        elif was_typing:  # a take-over keeps the name, not the old indicator
            await self.relay.deliver(
                [TypingChanged(holder.room, holder.name, False, holder.conn)]
            )
        return joined

    def _holder(self, request: JoinRequest, conn: str) -> Member | None:
        """Who holds the wanted nickname: None, or this client's old connection."""
        holder = self.presence.holder(request.room, request.name)
        if holder is None or holder.conn == conn:
            return None
        if request.client and holder.client == request.client:
            return holder
        raise ChatError(
            "name_taken",
            f"The nickname {request.name!r} is already in use in this room.",
            suggestion=suggest_name(request.name, self.presence.taken(request.room)),
        )

    async def _welcome(self, member: Member, request: JoinRequest) -> Joined:
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
            if (
                after is None
                or not 0 <= last_id - after <= CATCHUP_LIMIT
                or request.epoch not in (None, self.store.epoch)
            ):
                after = None
            if after is None:
                history = await self.store.recent(room, self._history, upto=cut)
            else:
                history = await self.store.after(room, after, CATCHUP_LIMIT, upto=cut)
        # No await from here to the welcome: the door sends history, then
        # what came meanwhile, then everything delivered after it.
        if cut is None:
            cut = max(last_id, history[-1].id if history else 0)
            self.relay.advance(room, cut)
            live = [m for m in live if m.id > cut]
        door = self.fanout.door(member)
        if not door.attach(member):
            raise ChatError("disconnected", "The connection closed while joining.")
        joined = Joined(
            member=member,
            users=self.presence.names(room),
            history=history,
            catchup=after is not None,
            last_id=live[-1].id if live else cut,
            epoch=self.store.epoch,
            live=live,
        )
        door.welcome(joined)
        return joined

    async def leave(self, conn: str) -> None:
        async with self._serial.hold(conn):
            await self._leave(conn)

    async def _leave(self, conn: str) -> None:
        member = self.presence.remove(conn)
        if member is None:
            return
        self._cancel_typing(member)
        await self.fanout.door(member).detach(member)
        await self.relay.deliver([MemberLeft(member.room, member.name)])

    async def post(self, conn: str, text: object) -> Message:
        member = self.member(conn)
        clean = check_text(text)
        self.limits.take("post", conn, member.client, member.address)
        ts = int(self._clock() * 1000)
        stored = self.sequencer.submit(NewMessage(member.room, member.name, clean, ts))
        if member.typing:
            await self._set_typing(member, False)
        return await stored

    async def typing(self, conn: str, value: object) -> None:
        member = self.member(conn)
        typing = check_typing(value)
        if typing != member.typing:  # a refresh broadcasts nothing: free
            self.limits.take("typing", conn, member.client, member.address)
        await self._set_typing(member, typing)

    async def history(
        self, room: object, after: object, limit: int
    ) -> tuple[list[Message], int]:
        """A page of a room's messages and the room's newest id."""
        name = check_room(room)
        after_id = check_after(after)
        limit = max(1, min(limit, PAGE_LIMIT))
        if after_id is None:
            messages = await self.store.recent(name, limit)
        else:
            messages = await self.store.after(name, after_id, limit)
        return messages, await self.store.last_id(name)

    async def _set_typing(self, member: Member, typing: bool) -> None:
        self._cancel_typing(member)
        if typing:
            loop = asyncio.get_running_loop()
            member.typing_timer = loop.call_later(
                TYPING_TIMEOUT, self._typing_expired, member
            )
        if member.typing != typing:
            member.typing = typing
            await self.relay.deliver(
                [TypingChanged(member.room, member.name, typing, member.conn)]
            )

    @staticmethod
    def _cancel_typing(member: Member) -> None:
        if member.typing_timer is not None:
            member.typing_timer.cancel()
            member.typing_timer = None

    def _typing_expired(self, member: Member) -> None:
        member.typing_timer = None
        if self.presence.get(member.conn) is member and member.typing:
            task = asyncio.create_task(self._set_typing(member, False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
