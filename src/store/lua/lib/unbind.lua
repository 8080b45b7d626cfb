-- unbind(index, channel JSON): removes a channel's index fields (bindingKeys, and the single
-- bindingKey of records written before secondary fields existed).
local function unbind(idx, v)
  local ok, o = pcall(cjson.decode, v)
  if not ok or type(o) ~= 'table' then return end
  if type(o.bindingKey) == 'string' then redis.call('HDEL', idx, o.bindingKey) end
  if type(o.bindingKeys) == 'table' then
    for _, k in ipairs(o.bindingKeys) do if type(k) == 'string' then redis.call('HDEL', idx, k) end end
  end
end
