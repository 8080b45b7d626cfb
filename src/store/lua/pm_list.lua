-- One page of a tenant's proactive messages, oldest first (docs/proactive.md).
-- ARGV: tenant id, agent id ('' = all), offset, count -> {total, HGETALL, ...}
local tp = 'sb:{t:' .. ARGV[1] .. '}:'
local ik = ARGV[2] ~= '' and tp .. 'pms:a:' .. ARGV[2] or tp .. 'pms'
local off = tonumber(ARGV[3])
local out = {redis.call('ZCARD', ik)}
for _, id in ipairs(redis.call('ZRANGE', ik, off, off + tonumber(ARGV[4]) - 1)) do
  out[#out + 1] = redis.call('HGETALL', tp .. 'pm:' .. id)
end
return out
