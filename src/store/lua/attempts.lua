-- KEYS: endpoint, attempt log -> false (unknown endpoint) or the log, newest first
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('LRANGE', KEYS[2], 0, 99)
