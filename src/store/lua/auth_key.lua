-- KEYS: byhash, tenant. ARGV: sha256 hex of the presented key. -> {keyId, status} or {}
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return {} end
local status = redis.call('HGET', KEYS[2], 'status')
if not status then return {} end
return {id, status}
