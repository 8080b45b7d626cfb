-- KEYS: dead letters, dead index. ARGV: offset, count -> {total, json, json, ...} newest first
local total = redis.call('ZCARD', KEYS[2])
local ids = redis.call('ZREVRANGE', KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1)
local out = {total}
for _, id in ipairs(ids) do out[#out + 1] = redis.call('HGET', KEYS[1], id) or '' end
return out
