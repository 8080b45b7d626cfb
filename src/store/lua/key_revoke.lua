-- KEYS: tenant, apikeys, byhash. ARGV: keyId
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return 'NOTFOUND' end
local ok, o = pcall(cjson.decode, cur)
if ok and type(o) == 'table' and o.hash then redis.call('HDEL', KEYS[3], o.hash) end
redis.call('HDEL', KEYS[2], ARGV[1])
return 'OK'
