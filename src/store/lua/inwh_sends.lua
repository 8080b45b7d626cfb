-- A page of the incoming webhook's send records, newest first (docs/incoming.md).
-- ARGV: tenant id, offset, count -> {total, {record as HGETALL}, ...}
local tp = 'sb:{t:' .. ARGV[1] .. '}:'
local sk = tp .. 'inwh:sends'
local out = {redis.call('ZCARD', sk)}
local off = tonumber(ARGV[2])
for _, id in ipairs(redis.call('ZREVRANGE', sk, off, off + tonumber(ARGV[3]) - 1)) do
  out[#out + 1] = redis.call('HGETALL', tp .. 'inwh:s:' .. id)
end
return out
