-- Check every op of an admission plan and take all of them, or none (see state/base.py).
-- KEYS: window hashes, lease zsets, then (budget hash, budget lease zset) pairs
-- ARGV: lease_id, lease_ttl, n_windows, n_leases, n_budgets,
--       per window: limit, cost; per lease: limit; per budget: limit, amount, hard (0/1), expires_at
-- Reply: {ok, bucket, denied(0 ok|1 window|2 lease|3 budget), index, retry_ms,
--         per window: remaining, reset_ms; per budget: spent, reserved}
local WIN = 60
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec + tonumber(t[2]) / 1000000
local lease_id = ARGV[1]
local ttl = tonumber(ARGV[2])
local nw, nl, nb = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local a, k = 6, 1
local wins = {}
for i = 1, nw do
  local key, limit, cost = KEYS[k], tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local h = redis.call('HGETALL', key)
  local total, oldest = 0, sec
  for j = 1, #h, 2 do
    local b = tonumber(h[j])
    if b <= sec - WIN then
      redis.call('HDEL', key, h[j])
    else
      total = total + tonumber(h[j + 1])
      if b < oldest then oldest = b end
    end
  end
  if total + cost > limit then
    local retry = WIN
    if cost <= limit then  -- the oldest buckets that must leave the window first
      local buckets = {}
      for j = 1, #h, 2 do
        local b = tonumber(h[j])
        if b > sec - WIN then buckets[#buckets + 1] = {b, tonumber(h[j + 1])} end
      end
      table.sort(buckets, function(x, y) return x[1] < y[1] end)
      local need, freed = total + cost - limit, 0
      for _, bc in ipairs(buckets) do
        freed = freed + bc[2]
        if freed >= need then retry = bc[1] + WIN - now; break end
      end
    end
    return {0, sec, 1, i, math.floor(retry * 1000)}
  end
  wins[i] = {key, limit, cost, total, oldest}
  a, k = a + 2, k + 1
end
local leases = {}
for i = 1, nl do
  local key, limit = KEYS[k], tonumber(ARGV[a])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) + 1 > limit then
    return {0, sec, 2, i, 1000}
  end
  leases[i] = key
  a, k = a + 1, k + 1
end
local buds, out_b = {}, {}
for i = 1, nb do
  local hkey, zkey = KEYS[k], KEYS[k + 1]
  local limit, amount, hard, exp = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local stale = redis.call('ZRANGEBYSCORE', zkey, '-inf', now)
  for _, id in ipairs(stale) do
    local amt = redis.call('HGET', hkey, 'r:' .. id)
    if amt then
      redis.call('HINCRBY', hkey, 'reserved', -tonumber(amt))
      redis.call('HDEL', hkey, 'r:' .. id)
    end
    redis.call('ZREM', zkey, id)
  end
  local spent = tonumber(redis.call('HGET', hkey, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', hkey, 'reserved') or '0')
  out_b[#out_b + 1] = spent
  out_b[#out_b + 1] = reserved
  if hard == '1' and spent + reserved + tonumber(amount) > limit then
    local reply = {0, sec, 3, i, math.floor(math.max(exp - now, 0) * 1000)}
    for _, v in ipairs(out_b) do reply[#reply + 1] = v end
    return reply
  end
  buds[i] = {hkey, zkey, amount, exp}
  a, k = a + 4, k + 2
end
local reply = {1, sec, 0, 0, 0}
for _, w in ipairs(wins) do
  redis.call('HINCRBY', w[1], sec, w[3])
  redis.call('EXPIRE', w[1], WIN + 5)
  reply[#reply + 1] = w[2] - w[4] - w[3]
  reply[#reply + 1] = math.floor((w[5] + WIN - now) * 1000)
end
local until_ = now + ttl
for _, key in ipairs(leases) do
  redis.call('ZADD', key, until_, lease_id)
  redis.call('EXPIRE', key, math.ceil(ttl) + 60)
end
for _, b in ipairs(buds) do
  redis.call('ZADD', b[2], until_, lease_id)
  redis.call('HSET', b[1], 'r:' .. lease_id, b[3])
  redis.call('HINCRBY', b[1], 'reserved', b[3])
  redis.call('EXPIREAT', b[1], math.ceil(b[4]) + 86400)
  redis.call('EXPIREAT', b[2], math.ceil(b[4]) + 86400)
end
for _, v in ipairs(out_b) do reply[#reply + 1] = v end
return reply
