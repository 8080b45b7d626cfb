-- A new lease holder's first step (lane_lease.lua): every entry pending under any consumer
-- (former holders, fenced off by the lane's own script, e.g. channel_inbound), oldest first,
-- becomes its own. KEYS: the lane's stream. ARGV: group,
-- consumer, most entries -> entries as XREADGROUP gives them
local out, cursor = {}, '0-0'
repeat
  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, cursor, 'COUNT', 100)
  cursor = r[1]
  for _, x in ipairs(r[2]) do
    if type(x) == 'table' and type(x[2]) == 'table' then out[#out + 1] = x end
  end
until cursor == '0-0' or #out >= tonumber(ARGV[3])
return out
