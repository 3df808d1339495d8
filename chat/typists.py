"""Typing indicators: set by their typist, cleared by a post, a leave or time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from chat.models import ChatEvent, Member, TypingChanged

TYPING_TIMEOUT = 6.0
"""Seconds after which a typing indicator clears itself (a tab went away).
The page repeats ``typing: true`` every few seconds while someone types
(see static/chat.js), well within this."""


class Typists:
    def __init__(
        self,
        announce: Callable[[Sequence[ChatEvent]], Awaitable[None]],
        still_here: Callable[[Member], bool],
    ) -> None:
        self._announce = announce
        self._still_here = still_here
        self._tasks: set[asyncio.Task[None]] = set()

    async def set(self, member: Member, typing: bool) -> None:
        """Restart the expiry while typing; announce changes only."""
        _stop_timer(member)
        if typing:
            loop = asyncio.get_running_loop()
            member.typing_timer = loop.call_later(TYPING_TIMEOUT, self._expired, member)
        if member.typing != typing:
            member.typing = typing
            await self._announce(
                [TypingChanged(member.room, member.name, typing, member.conn)]
            )

    @staticmethod
    def cancel(member: Member) -> bool:
        """Forget ``member``'s indicator quietly; whether it was typing."""
        _stop_timer(member)
        was, member.typing = member.typing, False
        return was

    def _expired(self, member: Member) -> None:
        member.typing_timer = None
        if self._still_here(member) and member.typing:
            task = asyncio.create_task(self.set(member, False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _stop_timer(member: Member) -> None:
    if member.typing_timer is not None:
        member.typing_timer.cancel()
        member.typing_timer = None
