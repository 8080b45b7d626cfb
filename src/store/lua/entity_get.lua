-- KEYS: tenant, collection -> false (no tenant) or the stored JSON (or '' when absent)
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HGET', KEYS[2], ARGV[1]) or ''
