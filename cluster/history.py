"""History in Redis Streams, one stream per room, for several processes.

A room's messages live in the stream ``chat:log:<room>`` under entry ids
``<id>-0``, so reading after an id or up to one is a range query. Ids come
from ``chat:seq:<room>``. A group commit is one Lua script, which for each
message increments the room's sequence and appends it (trimming the stream
to ``--room-cap`` with ``MAXLEN ~``), then publishes the whole group on the
bus: assigning ids, storing and publishing are one atomic step, so every
process sees messages in id order.

A group carries a token, and the script remembers the ids it gave the
token for a minute: running it again with the token stores nothing and
answers those ids. That makes asking again safe after a timeout, when the
first run may have happened or may still happen (a stalled Redis runs it
when it wakes), and asking again until Redis answers is the only way to
tell the sender the truth. See :meth:`RedisStore.append_many`.

Durability is Redis's: with ``appendonly yes`` and ``appendfsync everysec``
an acknowledged message can be lost if Redis itself crashes within a
second; ``appendfsync always`` closes that window at a cost per write.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, TimeoutError as RedisTimeout

from chat.history import StoreFailed, retention_cutoff
from chat.models import Message, NewMessage
from chat.rules import ChatError
from cluster.connection import CHANNEL, PREFIX, guarded, unavailable, unconfirmed

_APPEND = """
local prefix, proc, cap, channel, epoch, token, keep =
  ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if redis.call('GET', prefix .. 'epoch') ~= epoch then
  return false
end
local done = prefix .. 'appended:' .. token
local first = redis.call('GET', done)
if first then
  return cjson.decode(first)
end
local ids, out = {}, {}
for i = 8, #ARGV, 4 do
  local room, name, text, ts = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local id = redis.call('INCR', prefix .. 'seq:' .. room)
  local log = prefix .. 'log:' .. room
  if cap > 0 then
    redis.call('XADD', log, 'MAXLEN', '~', cap, id .. '-0',
               'n', name, 't', text, 's', ts)
  else
    redis.call('XADD', log, id .. '-0', 'n', name, 't', text, 's', ts)
  end
  redis.call('SADD', prefix .. 'rooms', room)
  ids[#ids + 1] = id
  out[#out + 1] = {room, id, name, text, tonumber(ts)}
end
redis.call('SET', done, cjson.encode(ids), 'PX', keep)
redis.call('PUBLISH', channel, cjson.encode({p = proc, ep = epoch, m = out}))
return ids
"""
APPEND_WITHIN = 10.0
"""Seconds a group whose first try timed out keeps asking Redis (with its
token) whether it is stored; past them its senders are told ``unconfirmed``."""
TOKEN_KEPT_MS = 60_000
"""How long Redis remembers a group's token: well past ``APPEND_WITHIN``
plus a timeout, the longest anyone asks again. One small key per group."""


class RedisStore:
    def __init__(
        self, redis: Redis, process: str, *, retention_days: float, room_cap: int
    ) -> None:
        # redis-py's annotations are written for its sync and async clients at
        # once (``bytes | str | None`` everywhere); the shapes are known here.
        self._redis: Any = redis
        self._process = process
        self._retention_days = retention_days
        self._room_cap = room_cap
        self._append = redis.register_script(_APPEND)
        self.epoch = ""
        self.on_new_epoch: Callable[[], Awaitable[None]] | None = None
        """Called when the epoch changed under a running process."""

    async def open(self) -> None:
        try:
            await self._read_epoch()
        except ChatError as exc:
            raise StoreFailed(f"Redis is unreachable: {exc.__cause__}") from exc

    @guarded
    async def _read_epoch(self) -> None:
        # Made once per Redis: a flushed Redis is a new epoch, so resuming
        # clients are not told their old ids still mean something here.
        await self._redis.set(PREFIX + "epoch", secrets.token_hex(8), nx=True)
        epoch = await self._redis.get(PREFIX + "epoch")
        self.epoch = epoch.decode()

    async def reopen(self) -> None:
        """Read the epoch again; if it changed, say so (``on_new_epoch``)."""
        old = self.epoch
        await self._read_epoch()
        if self.epoch != old and self.on_new_epoch is not None:
            await self.on_new_epoch()

    async def append_many(self, batch: Sequence[NewMessage]) -> list[Message]:
        token = secrets.token_hex(12)
        args: list[Any] = [PREFIX, self._process, self._room_cap, CHANNEL]
        args += [self.epoch, token, TOKEN_KEPT_MS]
        for m in batch:
            args += [m.room, m.name, m.text, m.ts]
        ids = await self._append_script(args)
        if ids is None:
            # Redis was flushed under us: a new history begins. Ids from the
            # old one mean nothing now; everyone must start again from it.
            await self.reopen()
            raise ChatError(
                "unavailable", "The chat's history was reset; send it again."
            )
        return [
            Message(m.room, int(i), m.name, m.text, m.ts)
            for m, i in zip(batch, ids, strict=True)
        ]

    async def _append_script(self, args: list[Any]) -> list[int] | None:
        """The new ids, or None when the epoch is no longer ours.

        Redis refusing or dropping the connection means the script did not
        run: the senders are told ``unavailable`` at once. A timeout means
        it may have run, or may yet: the same token is sent again until
        Redis answers, and its answer is the truth (the first run's ids).
        Should Redis not answer within ``APPEND_WITHIN``, nobody can know,
        and the senders are told just that (``unconfirmed``), never that it
        failed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + APPEND_WITHIN
        pause = 0.05
        uncertain = False
        while True:
            try:
                ids: list[int] | None = await self._append(args=args)
                return ids
            except RedisTimeout as exc:
                uncertain = True
                error: RedisError = exc
            except RedisError as exc:
                error = exc
            if not uncertain:
                raise unavailable() from error
            if loop.time() + pause >= deadline:
                raise unconfirmed() from error
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    @guarded
    async def recent(
        self, room: str, limit: int, upto: int | None = None
    ) -> list[Message]:
        top = "+" if upto is None else f"{upto}-0"
        entries = await self._redis.xrevrange(_log(room), top, "-", count=limit)
        entries.reverse()
        return _messages(room, entries)

    @guarded
    async def after(
        self, room: str, after_id: int, limit: int, upto: int | None = None
    ) -> list[Message]:
        top = "+" if upto is None else f"{upto}-0"
        entries = await self._redis.xrange(
            _log(room), f"({after_id}-0", top, count=limit
        )
        return _messages(room, entries)

    async def before(self, room: str, before_id: int, limit: int) -> list[Message]:
        if before_id <= 1:  # ids start at 1: nothing is before it
            return []
        return await self.recent(room, limit, upto=before_id - 1)

    @guarded
    async def last_id(self, room: str) -> int:
        last = await self._redis.get(PREFIX + "seq:" + room)
        return int(last) if last is not None else 0

    @guarded
    async def prune(self, now_ms: int) -> int:
        """Age-based retention; the room cap is applied as messages arrive."""
        cutoff = retention_cutoff(now_ms, self._retention_days)
        if cutoff is None:
            return 0
        deleted = 0
        for raw in await self._redis.smembers(PREFIX + "rooms"):
            room = raw.decode()
            while True:
                oldest = await self._redis.xrange(_log(room), "-", "+", count=500)
                old = [e for e in oldest if int(e[1][b"s"]) < cutoff]
                if not old:
                    break
                keep_from = int(old[-1][0].split(b"-")[0]) + 1
                deleted += await self._redis.xtrim(
                    _log(room), minid=f"{keep_from}-0", approximate=False
                )
                if len(old) < len(oldest):
                    break
        return deleted

    async def problem(self) -> str | None:
        try:
            async with asyncio.timeout(1.0):
                await self._redis.ping()
        except Exception as exc:
            return f"Redis is unreachable: {exc or type(exc).__name__}"
        return None

    @guarded
    async def save_sessions(self, sessions: Sequence[tuple[str, str, int]]) -> None:
        # A key outlives its session a little: the timer that ends the
        # session at ``expires_ms`` (Recovery.expire_later) must still find
        # it, to announce the leave.
        async with self._redis.pipeline(transaction=False) as pipe:
            for pid, value, expires_ms in sessions:
                pipe.set(
                    PREFIX + "session:" + pid,
                    f"{expires_ms}|{value}",
                    pxat=expires_ms + SESSION_LINGER_MS,
                )
            await pipe.execute()

    @guarded
    async def take_session(self, pid: str, now_ms: int) -> str | None:
        raw = await self._redis.getdel(PREFIX + "session:" + pid)
        if raw is None:
            return None
        expires, _, value = raw.decode().partition("|")
        return value if int(expires) > now_ms else None

    async def sessions(self, now_ms: int) -> list[str]:
        return []  # names are held in the shared directory, not parked

    async def close(self) -> None:
        pass  # the connection belongs to the app, which closes it


SESSION_LINGER_MS = 10_000
"""How long a session's key outlives the session (see save_session)."""


def _log(room: str) -> str:
    return PREFIX + "log:" + room


def _messages(room: str, entries: list[Any]) -> list[Message]:
    return [
        Message(
            room,
            int(entry_id.split(b"-")[0]),
            fields[b"n"].decode(),
            fields[b"t"].decode(),
            int(fields[b"s"]),
        )
        for entry_id, fields in entries
    ]
