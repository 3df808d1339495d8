"""A process's share of the names' upkeep over Redis: say it is alive, take
its members' names back if it was taken for gone, and free the names of
owners that are gone."""

from __future__ import annotations

import asyncio
import logging

from chat.models import MemberJoined
from chat.rules import ChatError
from chat.service import ChatService
from cluster.directory import RedisDirectory

log = logging.getLogger(__name__)
RETRY_EVERY = 0.25
"""Seconds between upkeep rounds while Redis fails."""


async def upkeep(directory: RedisDirectory, service: ChatService) -> None:
    """Every third of the timeout, until cancelled. While Redis fails, every
    quarter second (said once): the sooner this process renews once Redis is
    back, the wider its margin before the others may judge it."""
    failing = False
    while True:
        pause = directory.alive_for / 3
        try:
            if not service.draining and not await directory.heartbeat():
                # Our key had expired (Redis was away longer than the
                # timeout, or only we were cut off from it): ours first.
                await reclaim(directory, service)
            gone = await directory.sweep()  # nothing until Redis is back a while
            if gone:
                log.info("%d names of vanished processes or sessions freed", len(gone))
                await service.sync.gone(gone)
            if failing:
                log.info("directory upkeep works again")
            failing = False
        except Exception as exc:  # Redis away: said once, no traceback
            directory.unreachable()
            if not failing:
                log.warning("directory upkeep failed (%s); trying again", exc)
            failing = True
            pause = min(pause, RETRY_EVERY)
        await asyncio.sleep(pause)


async def reclaim(directory: RedisDirectory, service: ChatService) -> None:
    """Claim again the names of this process's connected members. Names that
    another process swept meanwhile come back with a join; one given to
    someone else meanwhile cannot: its connection is dropped, so its client
    reconnects and joins afresh."""
    back = []
    ours = {h.conn for h in await directory.held_here()}
    for member in service.presence.members():
        if member.owner or member.conn in ours:  # an HTTP session, or still ours
            continue
        # Parked for its recoverable session rather than freed: still held
        # for this connection, and nobody saw it leave.
        parked = await directory.holds(member)
        try:
            await directory.claim(member)
        except ChatError as exc:
            if exc.code != "name_taken":
                raise
            log.warning("%s lost its name %r while away", member.conn, member.name)
            await service.kicked(member.conn)
            continue
        if not parked:
            back.append(MemberJoined(member.room, member.name))
    if back:
        log.warning("%d names taken for gone while Redis was away, back", len(back))
        await service.relay.deliver(back)
        await service.bus.publish(back)
