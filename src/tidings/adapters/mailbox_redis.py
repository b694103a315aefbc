"""The offline user mailbox in Redis (scale-out): next to the adapter's counts, decided by Lua scripts.

Keys (prefix `p`, as the adapter's; see adapters/redis.py):
  p:a:<app>:mb:<user>   LIST the user's kept events, oldest first: "<expires ms> <JSON [event, data]>"
  p:mailboxes           ZSET "app\\nuser" -> earliest expiry (ms) in that list: what a sweep must look at

KEEP reads the adapter's `p:a:<app>:counts` field of the user channel and appends only when it is 0; the
adapter's JOIN script increments that field, and `take` runs after it: Redis runs scripts one at a time,
so a keep is either before the join (the take reads it) or after (it sees the subscription, goes live).
Times are the nodes' wall clocks (kept for days: seconds of skew do not matter).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

import orjson
import redis.asyncio as aioredis

from tidings.adapters.mailbox import Clock, split_expired
from tidings.adapters.redis_errors import unavailable
from tidings.channels import names
from tidings.channels.apps import App
from tidings.channels.mailbox import Expired, Kept, Taken, new_entry

SWEEP_BATCH = 200  # users per sweep script: each one runs for a bounded time inside Redis

# KEYS: counts, mailboxes, list of user 1, list of user 2, ...
# ARGV: entry, limit, expires ms, then per user: user channel, mailboxes member
# Returns per user: -1 (subscribed: deliver live) or how many older entries were dropped beyond the limit.
KEEP = """
local out = {}
local limit = tonumber(ARGV[2])
local exp = tonumber(ARGV[3])
for i = 3, #KEYS do
  local j = 4 + (i - 3) * 2
  if tonumber(redis.call('HGET', KEYS[1], ARGV[j]) or '0') > 0 then
    table.insert(out, -1)
  else
    local n = redis.call('RPUSH', KEYS[i], ARGV[1])
    local dropped = 0
    if n > limit then
      dropped = n - limit
      redis.call('LTRIM', KEYS[i], dropped, -1)
    end
    local cur = redis.call('ZSCORE', KEYS[2], ARGV[j + 1])
    if not cur or tonumber(cur) > exp then redis.call('ZADD', KEYS[2], exp, ARGV[j + 1]) end
    table.insert(out, dropped)
  end
end
return out
"""

# KEYS: list, mailboxes. ARGV: mailboxes member
TAKE = """
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return entries
"""

_EARLIEST = """
local function earliest(entries)
  local min = nil
  for _, e in ipairs(entries) do
    local exp = tonumber(string.match(e, '^%d+'))
    if not min or exp < min then min = exp end
  end
  return min
end
"""

# KEYS: list, mailboxes. ARGV: limit, mailboxes member, entries oldest first. Returns how many were dropped.
PUT_BACK = _EARLIEST + """
for i = #ARGV, 3, -1 do redis.call('LPUSH', KEYS[1], ARGV[i]) end
local n = redis.call('LLEN', KEYS[1])
local dropped = 0
if n > tonumber(ARGV[1]) then
  dropped = n - tonumber(ARGV[1])
  redis.call('LTRIM', KEYS[1], dropped, -1)
end
local min = earliest(redis.call('LRANGE', KEYS[1], 0, -1))
if min then redis.call('ZADD', KEYS[2], min, ARGV[2]) end
return dropped
"""

# Computes the list keys from the members (so not for Redis Cluster, like the adapter's CLEANUP).
# KEYS: mailboxes. ARGV: now ms, prefix, batch. Returns {users looked at, {app, user, dropped, ...}}.
SWEEP = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local now = tonumber(ARGV[1])
local out = {}
for _, member in ipairs(due) do
  local i = string.find(member, '\\n', 1, true)
  local app, user = string.sub(member, 1, i - 1), string.sub(member, i + 1)
  local key = ARGV[2] .. ':a:' .. app .. ':mb:' .. user
  local entries = redis.call('LRANGE', key, 0, -1)
  local left = {}
  local min = nil
  for _, e in ipairs(entries) do
    local exp = tonumber(string.match(e, '^%d+'))
    if exp > now then
      table.insert(left, e)
      if not min or exp < min then min = exp end
    end
  end
  if #left < #entries then
    redis.call('DEL', key)
    for _, e in ipairs(left) do redis.call('RPUSH', key, e) end
    table.insert(out, app); table.insert(out, user); table.insert(out, #entries - #left)
  end
  if min then redis.call('ZADD', KEYS[1], min, member) else redis.call('ZREM', KEYS[1], member) end
end
return {#due, out}
"""



def _encode(entry: Kept) -> str:
    return f"{int(entry.expires_at * 1000)} {orjson.dumps([entry.event, entry.data]).decode()}"


def _decode(raw: str) -> Kept:
    expires, _, body = raw.partition(" ")
    event, data = orjson.loads(body)
    return Kept(event, data, int(expires) / 1000)


class RedisMailbox:
    def __init__(
        self, url: str, *, prefix: str = "tidings", timeout: float = 3.0, clock: Clock = time.time
    ) -> None:
        self.prefix = prefix
        self._clock = clock
        # A client of its own, bounded like the adapter's commands: an API call answers 503 before its SDK
        # gives up, and nothing retries inside redis-py.
        self._redis: aioredis.Redis = aioredis.from_url(
            url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._index = f"{prefix}:mailboxes"
        self._keep = self._redis.register_script(KEEP)
        self._take = self._redis.register_script(TAKE)
        self._put_back = self._redis.register_script(PUT_BACK)
        self._sweep = self._redis.register_script(SWEEP)

    def _list(self, app_id: str, user_id: str) -> str:
        return f"{self.prefix}:a:{app_id}:mb:{user_id}"

    async def keep(self, app: App, user_ids: Sequence[str], event: str, data: str) -> dict[str, int]:
        if not user_ids:
            return {}
        entry = new_entry(app, event, data, self._clock())
        args: list[str | int] = [_encode(entry), app.limits.user_mailbox_events, int(entry.expires_at * 1000)]
        for user_id in user_ids:
            args += [names.USER_CHANNEL_PREFIX + user_id, f"{app.id}\n{user_id}"]
        with unavailable():
            out = await self._keep(
                keys=[f"{self.prefix}:a:{app.id}:counts", self._index, *(self._list(app.id, u) for u in user_ids)],
                args=args,
            )
        return {u: int(n) for u, n in zip(user_ids, out, strict=True) if int(n) >= 0}

    def joining(self, app_id: str, user_id: str) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()  # the scripts are atomic: no lock to hold

    async def take(self, app_id: str, user_id: str) -> Taken:
        with unavailable():
            raw = await self._take(keys=[self._list(app_id, user_id), self._index], args=[f"{app_id}\n{user_id}"])
        return split_expired([_decode(r) for r in raw], self._clock())

    async def put_back(self, app: App, user_id: str, entries: Sequence[Kept]) -> int:
        if not entries:
            return 0
        with unavailable():
            dropped = await self._put_back(
                keys=[self._list(app.id, user_id), self._index],
                args=[app.limits.user_mailbox_events, f"{app.id}\n{user_id}", *(_encode(e) for e in entries)],
            )
        return int(dropped)

    async def sweep(self) -> list[Expired]:
        found: list[Expired] = []
        while True:
            with unavailable():
                looked, out = await self._sweep(
                    keys=[self._index], args=[int(self._clock() * 1000), self.prefix, SWEEP_BATCH]
                )
            found += [Expired(out[i], out[i + 1], int(out[i + 2])) for i in range(0, len(out), 3)]
            if int(looked) < SWEEP_BATCH:
                return found

    async def peek(self, app_id: str, user_id: str, limit: int) -> list[Kept]:
        """The user's first `limit` entries, oldest first, left in place (the console's per-user timeline)."""
        with unavailable():
            raw = await self._redis.lrange(self._list(app_id, user_id), 0, max(0, limit - 1))
        return [_decode(item if isinstance(item, str) else item.decode()) for item in raw]

    async def count(self, app_id: str, user_id: str) -> int:
        """Entries kept for the user (expired ones not yet swept included)."""
        with unavailable():
            return int(await self._redis.llen(self._list(app_id, user_id)))

    async def close(self) -> None:
        await self._redis.aclose()
