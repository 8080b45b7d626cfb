-- KEYS: tenant, tenants index, apikeys, byhash, widgets, agents, channels, widget index,
-- channel index, subscriptions, webhook secret, dead letters, dead index, dead-letter count,
-- purge hash. ARGV: id, endpoint key prefix -> 1 deleted, 0 unknown. Deliveries already queued
-- for the tenant fail at their next attempt (no secret) and are dead-lettered under no tenant.
-- The tenant's other keys (conversations, sessions, claims) are left to tenant_purge.
-- uses: unbind
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, wid in ipairs(redis.call('HKEYS', KEYS[5])) do redis.call('HDEL', KEYS[8], wid) end
for _, v in ipairs(redis.call('HVALS', KEYS[7])) do unbind(KEYS[9], v) end
local subs = redis.call('GET', KEYS[10])
if subs then
  local ok, o = pcall(cjson.decode, subs)
  if ok and type(o) == 'table' then
    for _, sub in pairs(o) do
      if type(sub) == 'table' and sub.ep then
        redis.call('DEL', ARGV[2] .. sub.ep, ARGV[2] .. sub.ep .. ':attempts')
      end
    end
  end
end
-- its API chat bot code stops at once (docs/apichat.md; keys named like KEYS[1], KEYS[8])
local code = redis.call('HGET', (string.gsub(KEYS[1], 'tenant$', 'apichat')), 'code')
if code then redis.call('HDEL', (string.gsub(KEYS[8], 'widgets$', 'apichat')), code) end
-- and so does its incoming webhook's URL (docs/incoming.md)
local inwh = (string.gsub(KEYS[1], 'tenant$', 'inwh'))
local th = redis.call('HGET', inwh, 'th')
if th then redis.call('HDEL', 'sb:idx:inwh', th) end
redis.call('DEL', inwh)
local dead = redis.call('HLEN', KEYS[12])
if dead > 0 then redis.call('DECRBY', KEYS[14], dead) end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[10], KEYS[11], KEYS[12], KEYS[13])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[15], ARGV[1], '0')
return 1
