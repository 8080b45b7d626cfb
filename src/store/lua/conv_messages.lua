-- ARGV: conversation key, offset, count -> {exists 0/1, total, message...} oldest first
if redis.call('EXISTS', ARGV[1]) == 0 then return {0, 0} end
local off, n = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {1, redis.call('ZCARD', ARGV[1] .. ':msgs')}
for _, m in ipairs(redis.call('ZRANGE', ARGV[1] .. ':msgs', off, off + n - 1)) do out[#out + 1] = m end
return out
