-- ARGV: tenant prefix, status ('' all, open, closed), offset, count
-- -> {total, {HGETALL}, ...} newest activity first
local z = ARGV[1] .. 'convs' .. (ARGV[2] ~= '' and (':' .. ARGV[2]) or '')
local off, n = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {redis.call('ZCARD', z)}
for _, cid in ipairs(redis.call('ZREVRANGE', z, off, off + n - 1)) do
  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. 'conv:' .. cid)
end
return out
