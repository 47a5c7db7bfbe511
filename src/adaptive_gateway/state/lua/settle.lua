-- Settle a batch of requests (idempotent per lease id): release their leases, correct their token
-- windows in the bucket they were charged, swap each budget reservation for the actual cost.
-- ARGV: n_items, then per item: lease_id, bucket, n_leases, n_windows, n_budgets,
--       per window: delta; per budget: actual, expires_at
-- KEYS, per item in order: lease zsets, window hashes, then (budget hash, budget lease zset) pairs
-- Reply: per item, per budget: spent before, spent after (flat; the caller knows the shape)
local reply = {}
local a, k = 2, 1
for item = 1, tonumber(ARGV[1]) do
  local lease_id, bucket = ARGV[a], ARGV[a + 1]
  local nl, nw, nb = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  a = a + 5
  for i = 1, nl do
    redis.call('ZREM', KEYS[k], lease_id)
    k = k + 1
  end
  for i = 1, nw do
    local delta = tonumber(ARGV[a])
    if delta ~= 0 and redis.call('HEXISTS', KEYS[k], bucket) == 1 then
      redis.call('HINCRBY', KEYS[k], bucket, delta)
    end
    a, k = a + 1, k + 1
  end
  for i = 1, nb do
    local hkey, zkey = KEYS[k], KEYS[k + 1]
    local amt = redis.call('HGET', hkey, 'r:' .. lease_id)
    if amt then
      redis.call('HINCRBY', hkey, 'reserved', -tonumber(amt))
      redis.call('HDEL', hkey, 'r:' .. lease_id)
      redis.call('ZREM', zkey, lease_id)
    end
    local before = tonumber(redis.call('HGET', hkey, 'spent') or '0')
    local after = redis.call('HINCRBY', hkey, 'spent', ARGV[a])
    redis.call('EXPIREAT', hkey, math.ceil(tonumber(ARGV[a + 1])) + 86400)
    reply[#reply + 1] = before
    reply[#reply + 1] = after
    a, k = a + 2, k + 2
  end
end
return reply
