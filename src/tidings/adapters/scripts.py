"""Lua scripts of the Redis adapter: every read-modify-write runs atomically inside Redis, so whether an
operation was a transition (a user's first socket, a channel's last subscriber) is decided in one place.

Each node also keeps its own contribution (`<p>:n:<node>:*` hashes) to every shared counter: when a node
dies, a survivor subtracts exactly that share (CLEANUP) and learns which transitions it caused.
Fields of the node hashes are "app\\nchannel", "app\\nchannel\\nuser" and "app\\nuser" (app ids and channel
names never contain a newline; a user id may, so it is always the last part).
"""

# KEYS: counts, node counts, presence sockets, presence info, node presence, cache
# ARGV: channel, node counts field, is presence ("1"/"0"), user, info json, limit, node presence field,
#       want cache ("1"/"0"), roster only up to this many members (-1: always)
JOIN = """
local first = 0
if ARGV[3] == '1' then
  local n = tonumber(redis.call('HGET', KEYS[3], ARGV[4]) or '0')
  local size = redis.call('HLEN', KEYS[3])
  if n == 0 and size >= tonumber(ARGV[6]) then
    return {tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0'), 0, 1, {}, '', 0, size}
  end
  redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
  redis.call('HINCRBY', KEYS[5], ARGV[7], 1)
  if n == 0 then
    first = 1
    redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
  end
end
local count = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
local members = {}
local size = 0
if ARGV[3] == '1' then
  size = redis.call('HLEN', KEYS[4])
  local up_to = tonumber(ARGV[9])
  if up_to < 0 or size <= up_to then members = redis.call('HGETALL', KEYS[4]) end
end
local cached = ''
local ttl = 0
if ARGV[8] == '1' then
  cached = redis.call('GET', KEYS[6]) or ''
  if cached ~= '' then ttl = redis.call('PTTL', KEYS[6]) end
end
return {count, first, 0, members, cached, ttl, size}
"""

# A node only takes back what it put in: after a survivor cleaned it up (it was thought dead), its
# leaves change nothing shared.
# KEYS: counts, node counts, presence sockets, presence info, node presence
# ARGV: channel, node counts field, is presence, user, node presence field
# Returns {count, last member, vacated, members left}.
LEAVE = """
local last = 0
local function size()
  if ARGV[3] == '1' then return redis.call('HLEN', KEYS[4]) end
  return 0
end
if ARGV[3] == '1' then
  local mine = tonumber(redis.call('HGET', KEYS[5], ARGV[5]) or '0')
  if mine > 0 then
    if mine == 1 then redis.call('HDEL', KEYS[5], ARGV[5]) else redis.call('HINCRBY', KEYS[5], ARGV[5], -1) end
    local n = redis.call('HINCRBY', KEYS[3], ARGV[4], -1)
    if n <= 0 then
      redis.call('HDEL', KEYS[3], ARGV[4])
      redis.call('HDEL', KEYS[4], ARGV[4])
      last = 1
    end
  end
end
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if mine == 0 then
  return {tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0'), last, 0, size()}
end
if mine == 1 then redis.call('HDEL', KEYS[2], ARGV[2]) else redis.call('HINCRBY', KEYS[2], ARGV[2], -1) end
local count = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if count <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {0, last, 1, size()}
end
return {count, last, 0, size()}
"""

# The online ZSET and since HASH mirror the users hash (who is online, since when: docs/users.md).
# KEYS: users, node users, online, since. ARGV: user, node users field, watched user ids...
SIGN_IN = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if n == 1 then
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[3], 0, ARGV[1])
  redis.call('HSET', KEYS[4], ARGV[1], t[1] .. '.' .. string.format('%06d', tonumber(t[2])))
end
local online = {}
for i = 3, #ARGV do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then table.insert(online, ARGV[i]) end
end
return {n == 1 and 1 or 0, online}
"""

# KEYS: users, node users, online, since. ARGV: user, node users field
SIGN_OUT = """
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if mine == 0 then return 0 end
if mine == 1 then redis.call('HDEL', KEYS[2], ARGV[2]) else redis.call('HINCRBY', KEYS[2], ARGV[2], -1) end
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
  return 1
end
return 0
"""

# Redis's clock, not the nodes': heartbeats and the dead-node check never depend on clock skew.
# Returns 1 when the node was not registered (its first beat, or it had been declared dead meanwhile).
# KEYS: nodes. ARGV: node
HEARTBEAT = """
local t = redis.call('TIME')
return redis.call('ZADD', KEYS[1], t[1] + t[2] / 1000000, ARGV[1])
"""

# KEYS: nodes. ARGV: dead after (seconds)
DEAD = """
local t = redis.call('TIME')
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t[1] + t[2] / 1000000 - tonumber(ARGV[1]))
"""

# Subtract a dead node's share and report the transitions, flattened in fours:
#   'm', app, channel, user   a presence member is gone (its last socket was on the dead node)
#   'c', app, channel, count  a channel's count changed (0: vacated)
#   'u', app, user, ''        a user is offline
# KEYS: nodes, node counts, node presence, node users. ARGV: prefix, node
CLEANUP = """
local p = ARGV[1]
local out = {}
local function split(s)
  local i = string.find(s, '\\n', 1, true)
  return string.sub(s, 1, i - 1), string.sub(s, i + 1)
end
local pres = redis.call('HGETALL', KEYS[3])
for i = 1, #pres, 2 do
  local app, rest = split(pres[i])
  local channel, user = split(rest)
  local base = p .. ':a:' .. app
  local n = redis.call('HINCRBY', base .. ':pn:' .. channel, user, -tonumber(pres[i + 1]))
  if n <= 0 then
    redis.call('HDEL', base .. ':pn:' .. channel, user)
    redis.call('HDEL', base .. ':pi:' .. channel, user)
    table.insert(out, 'm'); table.insert(out, app); table.insert(out, channel); table.insert(out, user)
  end
end
local counts = redis.call('HGETALL', KEYS[2])
for i = 1, #counts, 2 do
  local app, channel = split(counts[i])
  local key = p .. ':a:' .. app .. ':counts'
  local n = redis.call('HINCRBY', key, channel, -tonumber(counts[i + 1]))
  if n <= 0 then
    redis.call('HDEL', key, channel)
    n = 0
  end
  table.insert(out, 'c'); table.insert(out, app); table.insert(out, channel); table.insert(out, tostring(n))
end
local users = redis.call('HGETALL', KEYS[4])
for i = 1, #users, 2 do
  local app, user = split(users[i])
  local key = p .. ':a:' .. app .. ':users'
  local n = redis.call('HINCRBY', key, user, -tonumber(users[i + 1]))
  if n <= 0 then
    redis.call('HDEL', key, user)
    redis.call('ZREM', p .. ':a:' .. app .. ':online', user)
    redis.call('HDEL', p .. ':a:' .. app .. ':since', user)
    table.insert(out, 'u'); table.insert(out, app); table.insert(out, user); table.insert(out, '')
  end
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('ZREM', KEYS[1], ARGV[2])
return out
"""
