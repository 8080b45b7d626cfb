-- KEYS: tenant, collection -> false (no tenant) or HVALS
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HVALS', KEYS[2])
