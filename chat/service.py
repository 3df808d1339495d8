"""Join, leave, post, typing and history: the one path for every front door."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from chat.fanout import Fanout
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
from chat.ratelimit import TokenBucket
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

TYPING_TIMEOUT = 5.0
"""Seconds after which a typing indicator clears itself (a tab went away)."""
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
        self.sequencer = Sequencer(store, fanout, max_group)
        self._history = history
        self._rate = (rate_limit, rate_burst)
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.sequencer.start()

    async def stop(self) -> None:
        await self.sequencer.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def member(self, conn: str) -> Member:
        member = self.presence.get(conn)
        if member is None:
            raise ChatError("not_joined", "Join the chat with a nickname first.")
        return member

    async def join(self, door: str, conn: str, data: object) -> Joined:
        """``data`` as the client sent it: a nickname or a JoinRequest's fields.

        A nickname held by a connection with the same ``client`` id is taken
        over (a reconnect that beat the old connection's timeout); the old
        connection is kicked and nobody sees it leave and rejoin.
        """
        request = parse_join(data)
        holder = self._holder(request, conn)
        if self.presence.get(conn) is not None:
            await self.leave(conn)  # a second join renames or switches rooms
            holder = self._holder(request, conn)  # leave() awaited
        if holder is not None:
            self.presence.remove(holder.conn)
            self._cancel_typing(holder)
        member = Member(
            door=door,
            conn=conn,
            name=request.name,
            room=request.room,
            client=request.client,
            format=request.format,
            bucket=TokenBucket(*self._rate) if self._rate[0] > 0 else None,
        )
        self.presence.add(member)  # no await since the holder check: no race
        try:
            if holder is not None:
                await self.fanout.door(holder).detach(holder)
                await self.fanout.door(holder).kick(holder)
            async with self.sequencer.lock:
                joined = await self._welcome(member, request)
        except BaseException:
            # E.g. the connection went away mid-join: hold no name for it.
            if self.presence.get(conn) is member:
                self.presence.remove(conn)
                await self.fanout.door(member).detach(member)
            raise
        if holder is None:  # a take-over keeps the name: nobody left or came
            await self.fanout.publish([MemberJoined(member.room, member.name)])
        return joined

    def _holder(self, request: JoinRequest, conn: str) -> Member | None:
        """Who holds the wanted nickname: None, or this client's old connection."""
        holder = self.presence.holder(request.room, request.name)
        if holder is None or holder.conn == conn:
            return None
        if request.client and holder.client == request.client:
            return holder
        # Quoted, not repr(): a repr would show a ZWJ in an emoji as \u200d.
        message = f"The nickname “{request.name}” is already in use in this room."
        if holder.name != request.name:  # the same by name_key, spelled otherwise
            message = (
                f"The nickname “{request.name}” reads the same as "
                f"“{holder.name}”, who is in this room."
            )
        raise ChatError(
            "name_taken",
            message,
            suggestion=suggest_name(request.name, self.presence.taken(request.room)),
        )

    async def _welcome(self, member: Member, request: JoinRequest) -> Joined:
        door = self.fanout.door(member)
        if not await door.attach(member):
            raise ChatError("disconnected", "The connection closed while joining.")
        last_id = await self.store.last_id(member.room)
        # Ids from another database (or beyond ours) say nothing about what
        # the client missed, nor does a gap too big to replay: give it the
        # recent history instead.
        after = request.after
        if (
            after is None
            or not 0 <= last_id - after <= CATCHUP_LIMIT
            or request.epoch not in (None, self.store.epoch)
        ):
            after = None
        if after is None:
            history = await self.store.recent(member.room, self._history)
        else:
            history = await self.store.after(member.room, after, CATCHUP_LIMIT)
        joined = Joined(
            member=member,
            users=self.presence.names(member.room),
            history=history,
            catchup=after is not None,
            last_id=last_id,
            epoch=self.store.epoch,
        )
        await door.welcome(joined)
        return joined

    async def leave(self, conn: str) -> None:
        member = self.presence.remove(conn)
        if member is None:
            return
        self._cancel_typing(member)
        await self.fanout.door(member).detach(member)
        await self.fanout.publish([MemberLeft(member.room, member.name)])

    async def post(self, conn: str, text: object) -> Message:
        member = self.member(conn)
        clean = check_text(text)
        if member.bucket is not None:
            wait = member.bucket.take()
            if wait > 0:
                raise ChatError(
                    "rate_limited",
                    "You are sending messages too fast; wait a moment.",
                    retry_after=round(wait, 3),
                )
        ts = int(self._clock() * 1000)
        stored = self.sequencer.submit(NewMessage(member.room, member.name, clean, ts))
        if member.typing:
            await self._set_typing(member, False)
        return await stored

    async def typing(self, conn: str, value: object) -> None:
        member = self.member(conn)
        await self._set_typing(member, check_typing(value))

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
            await self.fanout.publish(
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
