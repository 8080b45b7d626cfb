-- POST /api/admin/partners (docs/apichat.md). KEYS: partner record, partners index (sorted set
-- by creation), partners sequence, partner key index (SHA-256 hex of a key -> partner id).
-- ARGV: id, name, createdAt, key hash, tenant key prefix "sb:{t:", suffix "}:tenant",
-- tenant id, tenant id, ... -> 'OK', 'CONFLICT', or 'NOTENANT <i>' (0-based index of the first
-- tenant id without a tenant). Only the key's hash is stored, as for tenant API keys.
-- uses: partner
if redis.call('EXISTS', KEYS[1]) == 1 then return 'CONFLICT' end
local bad = partner_unknown_tenant(7, ARGV[5], ARGV[6])
if bad then return 'NOTENANT ' .. bad end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'createdAt', ARGV[3], 'updatedAt', ARGV[3],
  'keyHash', ARGV[4])
partner_set_tenants(KEYS[1], 7)
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[1])
return 'OK'
