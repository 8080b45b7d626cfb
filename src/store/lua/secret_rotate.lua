-- KEYS: whsecret. ARGV: new secret, new apiKey (used if none), previousUntil ms
local cur = redis.call('HGET', KEYS[1], 'secret')
if cur then redis.call('HSET', KEYS[1], 'previous', cur, 'previousUntil', ARGV[3]) end
redis.call('HSET', KEYS[1], 'secret', ARGV[1])
redis.call('HSETNX', KEYS[1], 'apiKey', ARGV[2])
return redis.call('HMGET', KEYS[1], 'secret', 'apiKey')
