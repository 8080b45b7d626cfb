-- KEYS: whsecret. ARGV: new secret, new apiKey, now ms -> {secret, apiKey, previous, previousUntil}
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'apiKey', ARGV[2])
end
local v = redis.call('HMGET', KEYS[1], 'secret', 'apiKey', 'previous', 'previousUntil')
if not v[4] or tonumber(v[4]) <= tonumber(ARGV[3]) then v[3] = ''; v[4] = '0' end
return {v[1], v[2], v[3], v[4]}
