-- Admit a batch of plans (the admissions a replica issued in one event-loop iteration), one after the
-- other: each plan takes every one of its ops or none, exactly as if it had been sent alone (state/base.py).
-- Each counter is read once per batch and written once at the end.
-- KEYS: every counter the batch touches, each once: window hashes, lease zsets, budget hashes (each
--       followed by its lease zset)
-- ARGV[1]: JSON list of plans [lease_id, ttl, windows, leases, budgets], flat lists of key indexes and
--       numbers: windows [key, limit, cost, ...], leases [key, limit, ...],
--       budgets [hash key (its zset is the next key), limit, amount, hard 0/1, expires_at, ...]
-- ARGV[2] (optional): the id of a replica taking blocks of capacity; then the last KEY is the zset of
--       such replicas (member: id, score: when it counts no more), refreshed here
-- Reply: JSON, per plan [ok, bucket, denied (0 ok|1 window|2 lease|3 budget), index, retry seconds,
--        [remaining per window], [reset seconds per window], [spent per budget], [reserved per budget]]
--        (windows after this admission; budgets before it, up to the one that refused); with ARGV[2] one
--        more element last: [replicas taking blocks, Redis time in seconds]
local WIN = 60
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec + tonumber(t[2]) / 1000000
local edge = sec - WIN
local fmt = string.format
local plans = cjson.decode(ARGV[1])

local wins, zsets, buds = {}, {}, {}

local function window(ki)
  local w = wins[ki]
  if w then return w end
  local key = KEYS[ki]
  local h = redis.call('HGETALL', key)
  local total, oldest, buckets, stale = 0, sec, {}, {}
  for j = 1, #h, 2 do
    local b = tonumber(h[j])
    if b <= edge then
      stale[#stale + 1] = h[j]
    else
      local units = tonumber(h[j + 1])
      total = total + units
      if b < oldest then oldest = b end
      buckets[#buckets + 1] = {b, units}
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  w = {total = total, oldest = oldest, buckets = buckets, add = 0, took = false}
  wins[ki] = w
  return w
end

local function retry_after(w, need)  -- the oldest units that must leave the window first
  local buckets = {}
  for i, bc in ipairs(w.buckets) do buckets[i] = bc end
  if w.add > 0 then buckets[#buckets + 1] = {sec, w.add} end
  table.sort(buckets, function(x, y) return x[1] < y[1] end)
  local freed = 0
  for _, bc in ipairs(buckets) do
    freed = freed + bc[2]
    if freed >= need then return bc[1] + WIN - now end
  end
  return WIN
end

local function zset(ki)
  local z = zsets[ki]
  if z then return z end
  redis.call('ZREMRANGEBYSCORE', KEYS[ki], '-inf', now)
  z = {count = redis.call('ZCARD', KEYS[ki]), add = {}, ttl = 0}
  zsets[ki] = z
  return z
end

local function budget(ki)
  local b = buds[ki]
  if b then return b end
  local hkey, zkey = KEYS[ki], KEYS[ki + 1]
  local stale = redis.call('ZRANGEBYSCORE', zkey, '-inf', now)
  for _, id in ipairs(stale) do  -- reservations of requests whose replica never settled them
    local amt = redis.call('HGET', hkey, 'r:' .. id)
    if amt then
      redis.call('HINCRBY', hkey, 'reserved', -tonumber(amt))
      redis.call('HDEL', hkey, 'r:' .. id)
    end
    redis.call('ZREM', zkey, id)
  end
  local sr = redis.call('HMGET', hkey, 'spent', 'reserved')
  b = {spent = tonumber(sr[1] or '0'), reserved = tonumber(sr[2] or '0'), add = 0, fields = {}, members = {},
       exp = 0}
  buds[ki] = b
  return b
end

local function ints(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = fmt('%d', v) end
  return '[' .. table.concat(out, ',') .. ']'
end

local out = {}
for p, plan in ipairs(plans) do
  local lease_id, ttl, pw, pl, pb = plan[1], plan[2], plan[3], plan[4], plan[5]
  local denied, index, retry = 0, 0, 0
  local spent, reserved = {}, {}
  for i = 1, #pw, 3 do
    local w, limit, cost = window(pw[i]), pw[i + 1], pw[i + 2]
    if w.total + cost > limit then
      denied, index, retry = 1, (i + 2) / 3, WIN
      if cost <= limit then retry = retry_after(w, w.total + cost - limit) end
      break
    end
  end
  if denied == 0 then
    for i = 1, #pl, 2 do
      if zset(pl[i]).count + 1 > pl[i + 1] then
        denied, index, retry = 2, (i + 1) / 2, 1
        break
      end
    end
  end
  if denied == 0 then
    for i = 1, #pb, 5 do
      local b = budget(pb[i])
      spent[#spent + 1], reserved[#reserved + 1] = b.spent, b.reserved
      if pb[i + 3] == 1 and b.spent + b.reserved + pb[i + 2] > pb[i + 1] then
        denied, index, retry = 3, (i + 4) / 5, math.max(pb[i + 4] - now, 0)
        break
      end
    end
  end
  if denied ~= 0 then
    out[p] = fmt('[0,%d,%d,%d,%.3f,[],[],%s,%s]', sec, denied, index, retry, ints(spent), ints(reserved))
  else
    local remaining, reset = {}, {}
    for i = 1, #pw, 3 do
      local w, cost = wins[pw[i]], pw[i + 2]
      w.total, w.add, w.took = w.total + cost, w.add + cost, true
      remaining[#remaining + 1] = fmt('%d', pw[i + 1] - w.total)
      reset[#reset + 1] = fmt('%.3f', w.oldest + WIN - now)
    end
    local until_ = fmt('%.6f', now + ttl)
    for i = 1, #pl, 2 do
      local z = zsets[pl[i]]
      z.count = z.count + 1
      z.add[#z.add + 1] = until_
      z.add[#z.add + 1] = lease_id
      if ttl > z.ttl then z.ttl = ttl end
    end
    for i = 1, #pb, 5 do
      local b, amount = buds[pb[i]], pb[i + 2]
      b.reserved, b.add = b.reserved + amount, b.add + amount
      b.fields[#b.fields + 1] = 'r:' .. lease_id
      b.fields[#b.fields + 1] = fmt('%d', amount)
      b.members[#b.members + 1] = until_
      b.members[#b.members + 1] = lease_id
      if pb[i + 4] > b.exp then b.exp = pb[i + 4] end
    end
    out[p] = fmt('[1,%d,0,0,0,[%s],[%s],%s,%s]', sec, table.concat(remaining, ','), table.concat(reset, ','),
      ints(spent), ints(reserved))
  end
end

for ki, w in pairs(wins) do
  if w.took then
    redis.call('HINCRBY', KEYS[ki], sec, fmt('%d', w.add))
    redis.call('EXPIRE', KEYS[ki], WIN + 5)
  end
end
for ki, z in pairs(zsets) do
  if #z.add > 0 then
    redis.call('ZADD', KEYS[ki], unpack(z.add))
    redis.call('EXPIRE', KEYS[ki], math.ceil(z.ttl) + 60)
  end
end
for ki, b in pairs(buds) do
  if #b.fields > 0 then
    local hkey, zkey, until_ = KEYS[ki], KEYS[ki + 1], fmt('%d', math.ceil(b.exp) + 86400)
    redis.call('HSET', hkey, unpack(b.fields))
    redis.call('HINCRBY', hkey, 'reserved', fmt('%d', b.add))
    redis.call('ZADD', zkey, unpack(b.members))
    redis.call('EXPIREAT', hkey, until_)
    redis.call('EXPIREAT', zkey, until_)
  end
end
if ARGV[2] then
  local holders = KEYS[#KEYS]
  redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
  redis.call('ZADD', holders, now + 5, ARGV[2])
  redis.call('EXPIRE', holders, 60)
  out[#out + 1] = fmt('[%d,%.6f]', redis.call('ZCARD', holders), now)
end
return '[' .. table.concat(out, ',') .. ']'
