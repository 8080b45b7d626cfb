-- Reads messages of a conversation with seq > from, internal notes left out (the customer's
-- side reads this): {current seq, more (0/1), message, ...}.
local function conv_read(ck, from, lim)
  local out = {tonumber(redis.call('HGET', ck, 'seq') or '0'), 0}
  while true do
    local items = redis.call('ZRANGEBYSCORE', ck .. ':msgs', '(' .. from, '+inf', 'WITHSCORES', 'LIMIT', 0, lim + 1)
    if #items == 0 then return out end
    for i = 1, #items, 2 do
      from = items[i + 1]
      if not string.find(items[i], '"direction":"internal"', 1, true) then
        if #out - 2 == lim then out[2] = 1; return out end
        out[#out + 1] = items[i]
      end
    end
  end
end
