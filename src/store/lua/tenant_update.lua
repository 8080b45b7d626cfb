-- KEYS: tenant. ARGV: name|'' , status|'', updatedAt -> tenant fields or nil
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[3])
return redis.call('HMGET', KEYS[1], 'id', 'name', 'status', 'createdAt', 'updatedAt')
