-- KEYS: dead letters, dead index, fresh stream. ARGV: id -> 'OK' | 'NOTFOUND'
-- uses: requeue
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 'NOTFOUND' end
requeue(KEYS[3], cjson.decode(v).delivery)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DECR', 'sb:q:dead')
redis.call('ZREM', KEYS[2], ARGV[1])
return 'OK'
