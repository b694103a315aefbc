"""Lua scripts of adapters/users_redis.py: each decision (admit a connection, which of a user's connections
are one too many, one more client event) is made atomically inside Redis, so every node agrees.

Keys (prefix p):
  p:a:<app>:conns           STRING connections admitted under the app's max_connections, cluster-wide
  p:a:<app>:uc:<user>       ZSET socket id -> sign-in time (µs): a user's connections, for max_connections_per_user
  p:a:<app>:rate:<user>     STRING client events of the user in the current one-second window (expires)
  p:n:<node>:conns          HASH app -> this node's share of the conns counters
  p:n:<node>:uc             SET "app\\nsocket\\nuser": this node's entries in the uc sets
(`p:a:<app>:online` and `p:a:<app>:since`, who is online and since when, are kept by scripts.py's
SIGN_IN/SIGN_OUT/CLEANUP with the users hash they mirror.)
"""

# KEYS: conns, node conns. ARGV: limit, app
ADMIT = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return 1
"""

# A node only gives back what it took (after a survivor cleaned it up, nothing).
# KEYS: conns, node conns. ARGV: app
RELEASE = """
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if mine <= 0 then return 0 end
if mine == 1 then redis.call('HDEL', KEYS[2], ARGV[1]) else redis.call('HINCRBY', KEYS[2], ARGV[1], -1) end
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1
"""

# Microseconds of Redis's clock as the score: the oldest connection is the same for every node.
# KEYS: user connections, node set. ARGV: socket, limit, node set member
TRACK = """
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000000 + tonumber(t[2]), ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
local out = {}
if over > 0 then
  local popped = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
  for i = 1, #popped do table.insert(out, popped[i]) end
end
return out
"""

# KEYS: user connections, node set. ARGV: socket, node set member
UNTRACK = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""

# A fixed one-second window that starts with its first event.
# KEYS: rate. ARGV: limit
RATE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], 1000) end
if n <= tonumber(ARGV[1]) then return 1 end
return 0
"""

# KEYS: online, users. ARGV: min (ZRANGEBYLEX syntax), limit
USERS_PAGE = """
local ids = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, tonumber(ARGV[2]) + 1)
local counts = {}
if #ids > 0 then counts = redis.call('HMGET', KEYS[2], unpack(ids)) end
return {ids, counts, redis.call('ZCARD', KEYS[1])}
"""

# A dead (or cleanly stopping) node's share: its connections leave the quota counters and the users' sets.
# KEYS: node set, node conns. ARGV: prefix
CLEANUP_USERS = """
local p = ARGV[1]
local socks = redis.call('SMEMBERS', KEYS[1])
for _, f in ipairs(socks) do
  local i = string.find(f, '\\n', 1, true)
  local app = string.sub(f, 1, i - 1)
  local rest = string.sub(f, i + 1)
  local j = string.find(rest, '\\n', 1, true)
  redis.call('ZREM', p .. ':a:' .. app .. ':uc:' .. string.sub(rest, j + 1), string.sub(rest, 1, j - 1))
end
local conns = redis.call('HGETALL', KEYS[2])
for k = 1, #conns, 2 do
  local key = p .. ':a:' .. conns[k] .. ':conns'
  if redis.call('DECRBY', key, tonumber(conns[k + 1])) <= 0 then redis.call('DEL', key) end
end
redis.call('DEL', KEYS[1], KEYS[2])
return #socks
"""
