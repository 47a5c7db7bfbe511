-- Settle a batch of requests (idempotent per lease id): release their leases, correct their token
-- windows in the bucket they were charged, swap each budget reservation for the actual cost.
-- Each counter is read once per batch and written once at the end.
-- KEYS: every counter the batch touches, each once: lease zsets, window hashes, budget hashes (each
--       followed by its lease zset)
-- ARGV[1]: JSON list of items [lease_id, bucket, leases, windows, budgets], flat lists of key indexes and
--       numbers: leases [key, ...], windows [key, delta, ...], budgets [hash key, actual, expires_at, ...]
-- Reply: JSON, per item [spent before, spent after, ...] per budget
local fmt = string.format
local items = cjson.decode(ARGV[1])
local released, deltas, buds, order = {}, {}, {}, {}

local function budget(ki)
  local b = buds[ki]
  if b then return b end
  b = {spent = tonumber(redis.call('HGET', KEYS[ki], 'spent') or '0'), add = 0, freed = 0, fields = {},
       members = {}, exp = 0}
  buds[ki] = b
  order[#order + 1] = ki
  return b
end

local out = {}
for n, item in ipairs(items) do
  local lease_id, bucket, pl, pw, pb = item[1], fmt('%d', item[2]), item[3], item[4], item[5]
  for i = 1, #pl do
    local members = released[pl[i]]
    if not members then
      members = {}
      released[pl[i]] = members
    end
    members[#members + 1] = lease_id
  end
  for i = 1, #pw, 2 do
    if pw[i + 1] ~= 0 then
      local per_key = deltas[pw[i]]
      if not per_key then
        per_key = {}
        deltas[pw[i]] = per_key
      end
      per_key[bucket] = (per_key[bucket] or 0) + pw[i + 1]
    end
  end
  local reply = {}
  for i = 1, #pb, 3 do
    local ki = pb[i]
    local b, field = budget(ki), 'r:' .. lease_id
    local amt = redis.call('HGET', KEYS[ki], field)
    if amt then
      redis.call('HDEL', KEYS[ki], field)  -- now, so that a second settlement in this batch finds none
      b.freed = b.freed + tonumber(amt)
      b.members[#b.members + 1] = lease_id
    end
    reply[#reply + 1] = fmt('%d', b.spent)
    b.spent, b.add = b.spent + pb[i + 1], b.add + pb[i + 1]
    reply[#reply + 1] = fmt('%d', b.spent)
    if pb[i + 2] > b.exp then b.exp = pb[i + 2] end
  end
  out[n] = '[' .. table.concat(reply, ',') .. ']'
end

for ki, members in pairs(released) do
  redis.call('ZREM', KEYS[ki], unpack(members))
end
for ki, per_key in pairs(deltas) do
  for bucket, delta in pairs(per_key) do
    if delta ~= 0 and redis.call('HEXISTS', KEYS[ki], bucket) == 1 then
      redis.call('HINCRBY', KEYS[ki], bucket, fmt('%d', delta))
    end
  end
end
for _, ki in ipairs(order) do
  local b = buds[ki]
  if b.freed ~= 0 then redis.call('HINCRBY', KEYS[ki], 'reserved', fmt('%d', -b.freed)) end
  if #b.members > 0 then redis.call('ZREM', KEYS[ki + 1], unpack(b.members)) end
  redis.call('HINCRBY', KEYS[ki], 'spent', fmt('%d', b.add))
  redis.call('EXPIREAT', KEYS[ki], fmt('%d', math.ceil(b.exp) + 86400))
end
return '[' .. table.concat(out, ',') .. ']'
