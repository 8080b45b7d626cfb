-- KEYS: tenant, apikeys, byhash. ARGV: keyId, keyJson, keyHash
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
return 'OK'
