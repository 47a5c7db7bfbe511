-- Circuit breaker transitions of one deployment, atomic across every worker and replica. The same state
-- machine as routing/breaker.py. KEYS[1]: the deployment's hash.
-- ARGV: op (fail | ok | probe | release), now, channel, deployment id, key ttl, then per op (below).
-- Fields: st (0 closed, 1 open, 2 half-open), f (consecutive failures), s (successful probes),
-- ou (open until), pu (the half-open probe slot is held until), v (version: bumped on every change).
-- Every change is published as "id|st|f|s|ou|v". Returns "granted|st|f|s|ou|v".
local k = KEYS[1]
local op, now, channel, id, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local h = redis.call('HMGET', k, 'st', 'f', 's', 'ou', 'pu', 'v')
local st, f, s = tonumber(h[1] or 0), tonumber(h[2] or 0), tonumber(h[3] or 0)
local ou, pu, v = tonumber(h[4] or 0), tonumber(h[5] or 0), tonumber(h[6] or 0)
local changed, granted = false, 0

if op == 'fail' then
  -- ARGV[6] failure threshold, [7] open seconds, [8] jitter, [9] u in [0, 1), [10] '1': rate tripped
  if st ~= 1 then
    if st == 0 then
      f = f + 1
      changed = true
    end
    if st == 2 or f >= tonumber(ARGV[6]) or ARGV[10] == '1' then
      st, s, pu = 1, 0, 0
      ou = now + tonumber(ARGV[7]) * (1 + tonumber(ARGV[8]) * tonumber(ARGV[9]))
      changed = true
    end
  end
elseif op == 'ok' then
  -- ARGV[6] successful probes that close it
  if st == 0 and f > 0 then
    f = 0
    changed = true
  elseif st == 2 then
    s, pu, changed = s + 1, 0, true
    if s >= tonumber(ARGV[6]) then
      st, f, s = 0, 0, 0
    end
  end
elseif op == 'probe' then
  -- ARGV[6] seconds the probe slot is held
  if (st == 1 and now >= ou) or (st == 2 and now >= pu) then
    if st == 1 then
      st, s = 2, 0
    end
    pu, granted, changed = now + tonumber(ARGV[6]), 1, true
  end
elseif op == 'release' then
  if st == 2 and pu > 0 then
    pu, changed = 0, true
  end
end

local state = table.concat({st, f, s, tostring(ou), v + (changed and 1 or 0)}, '|')
if changed then
  redis.call('HSET', k, 'st', st, 'f', f, 's', s, 'ou', tostring(ou), 'pu', tostring(pu), 'v', v + 1)
  redis.call('EXPIRE', k, ttl)
  redis.call('PUBLISH', channel, id .. '|' .. state)
end
return granted .. '|' .. state
