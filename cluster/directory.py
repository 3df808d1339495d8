"""The nickname directory in Redis, shared by every process.

A room's names are the hash ``chat:names:<room>``: the name's key (see
:func:`chat.rules.name_key`) to its holder. Claims and releases are Lua
scripts, so they are atomic across processes. Every holder has an *owner*:
the process its connection is on, or ``s:<id>`` for an HTTP session. An
owner is alive while ``chat:alive:<owner>`` exists: processes refresh theirs
every third of ``--process-timeout`` with that TTL, sessions on every
request with the session TTL. When an owner's key expires (kill -9, a
session gone quiet) any process's janitor removes its names in one script
and announces their leaves. A process that stops on purpose keeps its key
for a grace period, so its members can reconnect elsewhere and take their
names back quietly (same ``client`` id).

A missing key is only evidence once its owner had a whole timeout of
reachable Redis to renew it. After an outage longer than the timeout every
key has expired, the live processes' included, and whichever process gets
through first would otherwise sweep the others' connected members and give
their names away. So a process judges other owners (sweeps them, or takes
their names over on a claim) only after its own heartbeats have reached
Redis, each promptly, for ``alive_for`` seconds on end: its outage is
assumed to have been everyone's. A process that finds its own key had
expired claims its members' names again (see :mod:`cluster.upkeep`).

A name whose connection has a recoverable Socket.IO session (marked by
:meth:`RedisDirectory.recoverable`) is not freed by the sweep while that
session lasts: it is *parked*, its owner becoming ``away:<conn>``, whose key
lasts as long as the session. Nobody else can take it meanwhile; the session
takes it back on recovery, or a later sweep frees it (and its leave is
announced, by the one process whose script ran first) when the key expires.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from chat.directory import Holder, name_taken
from chat.models import Member
from chat.rules import name_key
from cluster.connection import PREFIX, guarded

log = logging.getLogger(__name__)
SLOW_HEARTBEAT = 1.0
"""Seconds after which a heartbeat's answer shows Redis was stalled."""

# A judgement is decided when a script is sent but made when it runs, which
# after a stall may be seconds later: a script sent before Redis froze, and
# given up on by its sender, still runs when Redis wakes, when every key has
# expired. So the judge's own key is checked where the judgement is made:
# with less than half its lifetime left, the judge itself has been unheard
# for too long, and a missing key proves nothing about anyone.
_FRESH = """
local function fresh(prefix, judge, half)
  if judge == '' then return false end
  return redis.call('PTTL', prefix .. 'alive:' .. judge) >= tonumber(half)
end
"""
_CLAIM = (
    _FRESH
    + """
local prefix, room, key, entry, conn, client, owner, judge, half =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local names = prefix .. 'names:' .. room
local current = redis.call('HGET', names, key)
local result = {'free'}
if current then
  local held = cjson.decode(current)
  if held.c ~= conn then
    local alive = not fresh(prefix, judge, half)
      or redis.call('EXISTS', prefix .. 'alive:' .. held.o) == 1
    if alive and not (client ~= '' and held.k == client) then
      return {'taken', held.n, redis.call('HKEYS', names)}
    end
    redis.call('SREM', prefix .. 'held:' .. held.o, room .. '\\n' .. key)
    result = {'over', current, alive and '0' or '1'}
  end
end
local new = cjson.decode(entry)
new.j = redis.call('INCR', prefix .. 'joins')
redis.call('HSET', names, key, cjson.encode(new))
redis.call('SADD', prefix .. 'held:' .. owner, room .. '\\n' .. key)
redis.call('SADD', prefix .. 'owners', owner)
return result
"""
)
_RELEASE = """
local prefix, room, key, conn = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local names = prefix .. 'names:' .. room
local current = redis.call('HGET', names, key)
if not current then return 0 end
local held = cjson.decode(current)
if held.c ~= conn then return 0 end
redis.call('HDEL', names, key)
redis.call('SREM', prefix .. 'held:' .. held.o, room .. '\\n' .. key)
return 1
"""
# A live session's window is counted from the sweep, not from the crash:
# the crash time is not known (only that it came after the last heartbeat),
# and the sweep is when the cluster learns the connection is gone, as the
# end of a ping timeout is for an ordinary drop and the start is after a
# restart. The client is never given less than its whole window. A session
# that had dropped before the crash keeps what is left of its own window.
_SWEEP = (
    _FRESH
    + """
local prefix, owner, judge, half = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not fresh(prefix, judge, half) then return {} end
if redis.call('EXISTS', prefix .. 'alive:' .. owner) == 1 then return {} end
local gone = {}
for _, item in ipairs(redis.call('SMEMBERS', prefix .. 'held:' .. owner)) do
  local sep = string.find(item, '\\n', 1, true)
  local room, key = string.sub(item, 1, sep - 1), string.sub(item, sep + 1)
  local names = prefix .. 'names:' .. room
  local current = redis.call('HGET', names, key)
  if current then
    local held = cjson.decode(current)
    if held.o == owner then
      local ttl = -2
      if held.s and held.w and string.sub(owner, 1, 5) ~= 'away:' then
        ttl = redis.call('PTTL', prefix .. 'session:' .. held.s)
      end
      if ttl > 0 then
        -- Parked for its session: owned by a key that lasts as long.
        ttl = math.min(ttl, held.w)
        local away = 'away:' .. held.c
        redis.call('PEXPIRE', prefix .. 'session:' .. held.s, ttl)
        redis.call('SET', prefix .. 'alive:' .. away, '1', 'PX', ttl)
        held.o = away
        redis.call('HSET', names, key, cjson.encode(held))
        redis.call('SADD', prefix .. 'held:' .. away, item)
        redis.call('SADD', prefix .. 'owners', away)
      else
        redis.call('HDEL', names, key)
        gone[#gone + 1] = current
      end
    end
  end
end
redis.call('DEL', prefix .. 'held:' .. owner)
redis.call('SREM', prefix .. 'owners', owner)
return gone
"""
)


_RECOVERABLE = """
local prefix, room, key, conn, pid, window =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local names = prefix .. 'names:' .. room
local current = redis.call('HGET', names, key)
if not current then return 0 end
local held = cjson.decode(current)
if held.c ~= conn then return 0 end
held.s, held.w = pid, tonumber(window)
redis.call('HSET', names, key, cjson.encode(held))
return 1
"""


def _holder(raw: bytes | str, stale: bool = False) -> Holder:
    held = orjson.loads(raw)
    return Holder(held["r"], held["n"], held["c"], held["k"] or None, held["p"], stale)


class RedisDirectory:
    def __init__(self, redis: Any, process: str, alive_for: float) -> None:
        self._redis = redis
        self.process = process
        self.alive_for = alive_for
        """Seconds this process's names outlive its last heartbeat."""
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)
        self._sweep = redis.register_script(_SWEEP)
        self._recoverable = redis.register_script(_RECOVERABLE)
        self._reachable_since: float | None = None
        """Monotonic time since when every heartbeat reached Redis promptly."""

    @guarded
    async def claim(self, member: Member) -> Holder | None:
        owner = member.owner or self.process
        entry = orjson.dumps(
            {
                "r": member.room,
                "n": member.name,
                "c": member.conn,
                "k": member.client or "",
                "o": owner,
                "p": self.process,
            }
        )
        result = await self._claim(
            args=[
                PREFIX,
                member.room,
                name_key(member.name),
                entry,
                member.conn,
                member.client or "",
                owner,
                *self._judge(),
            ]
        )
        outcome = result[0]
        if outcome == b"taken":
            taken = {k.decode() for k in result[2]}
            raise name_taken(member.name, result[1].decode(), taken)
        if outcome == b"over":
            return _holder(result[1], stale=result[2] == b"1")
        return None

    @guarded
    async def release(self, member: Member) -> bool:
        args = [PREFIX, member.room, name_key(member.name), member.conn]
        return bool(await self._release(args=args))

    @guarded
    async def holds(self, member: Member) -> bool:
        raw = await self._redis.hget(_names(member.room), name_key(member.name))
        return raw is not None and orjson.loads(raw)["c"] == member.conn

    @guarded
    async def recoverable(self, member: Member, pid: str, window: float) -> None:
        # The session's key is the store's (cluster.history): the sweep
        # parks the name only while that key still exists.
        key = name_key(member.name)
        window_ms = max(1, int(window * 1000))
        args = [PREFIX, member.room, key, member.conn, pid, window_ms]
        await self._recoverable(args=args)

    @guarded
    async def names(self, room: str) -> tuple[str, ...]:
        entries = [orjson.loads(v) for v in await self._redis.hvals(_names(room))]
        entries.sort(key=lambda e: e["j"])
        return tuple(e["n"] for e in entries)

    @property
    def judging(self) -> bool:
        """Whether Redis has been reachable long enough (``alive_for`` on
        end) for a missing key to mean its owner is gone."""
        since = self._reachable_since
        return since is not None and time.monotonic() - since >= self.alive_for

    def unreachable(self) -> None:
        """Redis failed us: no judging until it has been back for a while."""
        self._reachable_since = None

    async def heartbeat(self, alive_for: float | None = None) -> bool:
        """This process is alive (for ``alive_for`` seconds more). Whether
        its key was still there: if not, its names may have been swept."""
        seconds = self.alive_for if alive_for is None else alive_for
        key = f"{PREFIX}alive:{self.process}"
        started = time.monotonic()
        try:
            old = await self._redis.set(
                key, b"1", px=max(1, int(seconds * 1000)), get=True
            )
        except Exception:
            self.unreachable()
            raise
        now = time.monotonic()
        # A slow answer means Redis was stalled meanwhile, for us and so
        # maybe for the others: the time they had to renew starts again.
        if self._reachable_since is None or now - started > SLOW_HEARTBEAT:
            self._reachable_since = now
        return old is not None

    async def held_here(self) -> list[Holder]:
        """Every name Redis says this process holds."""
        out = []
        for item in await self._redis.smembers(f"{PREFIX}held:{self.process}"):
            room, _, key = item.decode().partition("\n")
            raw = await self._redis.hget(_names(room), key)
            if raw is not None and orjson.loads(raw)["o"] == self.process:
                out.append(_holder(raw))
        return out

    async def sweep(self) -> list[Holder]:
        """Remove the names of owners that are gone; who they were."""
        gone: list[Holder] = []
        if not self.judging:
            return gone
        judge = self._judge()
        for raw in await self._redis.smembers(PREFIX + "owners"):
            args = [PREFIX, raw.decode(), *judge]
            gone += [_holder(e, stale=True) for e in await self._sweep(args=args)]
        return gone

    def _judge(self) -> tuple[str, int]:
        """The scripts' judge and freshness arguments: who judges (nobody,
        while Redis has not been back long enough), and how much of its own
        key's lifetime must be left where the script runs (see _FRESH)."""
        judge = self.process if self.judging else ""
        return judge, int(self.alive_for * 500)


def _names(room: str) -> str:
    return PREFIX + "names:" + room
