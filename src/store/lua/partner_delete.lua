-- DELETE /api/admin/partners/{id}: the record and its key's index entry, so the key stops at
-- once. KEYS: partner record, partners index, partner key index. ARGV: id -> 1, or 0 (none).
local h = redis.call('HGET', KEYS[1], 'keyHash')
if not h then return 0 end
redis.call('HDEL', KEYS[3], h)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
