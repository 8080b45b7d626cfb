-- The background removal of deleted tenants' remaining keys (conversations, messages, sessions,
-- claims...: docs/keys.md), one bounded step: SCAN the keyspace for the first tenant waiting in
-- the purge hash, from its saved cursor, UNLINK what matches, keep the cursor for the next step.
-- A tenant is done only after a whole pass that found none of its keys: SCAN promises only the
-- keys that exist from the start to the end of one pass, and a pass resumed from a saved cursor
-- after a Redis restart (or a resharding) may have missed some.
-- KEYS: purge hash (tenant id -> 'cursor|removed in this pass'; a bare cursor counts as a pass
-- that removed keys). ARGV: keys to look at in this step
-- -> {tenant id ('' = none waiting), keys removed, 1 when that tenant is done}
local tid = redis.call('HKEYS', KEYS[1])[1]
if not tid then return {'', 0, 0} end
local v = redis.call('HGET', KEYS[1], tid)
local cursor, pass = string.match(v, '^(%d+)|(%d+)$')
if cursor then pass = tonumber(pass) else cursor, pass = string.match(v, '^%d+$') or '0', 1 end
local pattern = 'sb:{t:' .. tid .. '}:*'
local budget, removed = tonumber(ARGV[1]), 0
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
  cursor = r[1]
  -- unpack() has a stack limit; SCAN's COUNT is only a hint
  for i = 1, #r[2], 500 do
    removed = removed + redis.call('UNLINK', unpack(r[2], i, math.min(i + 499, #r[2])))
  end
  budget = budget - 1000
until cursor == '0' or budget <= 0
pass = pass + removed
if cursor == '0' and pass == 0 then
  redis.call('HDEL', KEYS[1], tid)
  return {tid, removed, 1}
end
-- another whole pass, to find none
if cursor == '0' then pass = 0 end
redis.call('HSET', KEYS[1], tid, cursor .. '|' .. string.format('%d', pass))
return {tid, removed, 0}
