-- The incoming webhook's send records (docs/incoming.md): a page of them, newest first, or one.
-- A send the queue has not stored yet answers from its queue item (inwh_record).
-- ARGV: tenant id, offset, count -> {total, {record as HGETALL}, ...}
--   | tenant id, message id -> {record as HGETALL} ({} unknown)
-- uses: incoming
local tp = 'sb:{t:' .. ARGV[1] .. '}:'
if #ARGV == 2 then return inwh_record(tp, ARGV[2]) end
local sk = tp .. 'inwh:sends'
local out = {redis.call('ZCARD', sk)}
local off = tonumber(ARGV[2])
for _, id in ipairs(redis.call('ZREVRANGE', sk, off, off + tonumber(ARGV[3]) - 1)) do
  out[#out + 1] = inwh_record(tp, id)
end
return out
