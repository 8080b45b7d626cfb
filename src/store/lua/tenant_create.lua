-- KEYS: tenant, tenants index, apikeys, byhash, tenant sequence.
-- ARGV: id, name, createdAt, apiSecret, keyId, keyJson, keyHash
-- The index is scored by a sequence, so listing order is creation order even within a ms.
if redis.call('EXISTS', KEYS[1]) == 1 then return 'CONFLICT' end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'status', 'active', 'createdAt', ARGV[3],
  'updatedAt', ARGV[3], 'apiSecret', ARGV[4])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])
redis.call('HSET', KEYS[4], ARGV[7], ARGV[5])
return 'OK'
