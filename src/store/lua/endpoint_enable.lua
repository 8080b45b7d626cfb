-- KEYS: endpoint. ARGV: enabled (1/0), now ms, endpoint id -> the endpoint as `endpoints` lists it,
-- or false when unknown
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSET', KEYS[1], 'enabled', ARGV[1])
if ARGV[1] == '1' then redis.call('HDEL', KEYS[1], 'failingSince', 'disabledAt')
else redis.call('HSET', KEYS[1], 'disabledAt', ARGV[2]) end
local v = redis.call('HMGET', KEYS[1], 'url', 'enabled', 'failingSince', 'lastStatus', 'lastAttemptAt')
local okn, bad = 0, 0
for _, a in ipairs(redis.call('LRANGE', KEYS[1] .. ':attempts', 0, 99)) do
  if string.find(a, '"ok":true', 1, true) then okn = okn + 1 else bad = bad + 1 end
end
return {v[1] or '', ARGV[3], v[2] or '1', v[3] or '', v[4] or '', v[5] or '', okn, bad}
