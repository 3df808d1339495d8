"""Flood-limit buckets in Redis, so that every process counts the same."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chat.limits import Draw
from cluster.connection import PREFIX, guarded

# All or nothing, as chat.limits.Buckets says. A bucket is forgotten once it
# would be full again, so idle clients cost nothing.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait, state = 0, {}
for i = 1, #ARGV, 3 do
  local key, rate, burst = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local held = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(held[1]) or burst
  local at = tonumber(held[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  if tokens < 1 then wait = math.max(wait, (1 - tokens) / rate) end
  state[#state + 1] = {key, tokens, rate, burst}
end
if wait > 0 then return tostring(wait) end
for _, s in ipairs(state) do
  redis.call('HSET', s[1], 'tokens', s[2] - 1, 'at', now)
  redis.call('PEXPIRE', s[1], math.ceil(s[4] / s[3] * 1000) + 1000)
end
return '0'
"""


class RedisBuckets:
    def __init__(self, redis: Any) -> None:
        self._take = redis.register_script(_TAKE)

    @guarded
    async def take(self, draws: Sequence[Draw]) -> float:
        args: list[Any] = []
        for key, rate, burst in draws:
            args += [PREFIX + "limit:" + key, rate, burst]
        return float(await self._take(args=args)) if args else 0.0
