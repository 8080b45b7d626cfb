-- widget_gate(idx, widget id, origin) -> {tid, otp (bool), agent ('' = none)} or nil, 'NOWIDGET' |
-- 'ORIGIN' | 'SUSPENDED' (the tenant is; after the origin check, so a foreign page learns nothing
-- of the tenant). Every public widget route passes it first. The widget index holds per widget
-- 'tid|otp 0/1|agent id|origin origin ...' (written with the widget, docs/keys.md), so the public
-- routes read one field and decode no JSON. An index entry of a bare tenant id (written before the
-- gate existed) is completed from the widget record. Origins hold no spaces (validated); an origin
-- with one never matches.
local function widget_gate(idx, wid, origin)
  local g = redis.call('HGET', idx, wid)
  if not g then return nil, 'NOWIDGET' end
  local tid, otp, agent, origins = string.match(g, '^([^|]*)|([01])|([^|]*)|(.*)$')
  if not tid then
    tid = g
    local w = redis.call('HGET', 'sb:{t:' .. tid .. '}:widgets', wid)
    if not w then return nil, 'NOWIDGET' end
    local o = cjson.decode(w)
    otp = o.otpRequired == true and '1' or '0'
    agent = type(o.agentId) == 'string' and o.agentId or ''
    origins = type(o.allowedOrigins) == 'table' and table.concat(o.allowedOrigins, ' ') or ''
  end
  if origins ~= '' and (origin == '' or string.find(origin, ' ', 1, true) or
      not string.find(' ' .. origins .. ' ', ' ' .. origin .. ' ', 1, true)) then
    return nil, 'ORIGIN'
  end
  local status = redis.call('HGET', 'sb:{t:' .. tid .. '}:tenant', 'status')
  if status ~= 'active' then return nil, status and 'SUSPENDED' or 'NOWIDGET' end
  return {tid = tid, otp = otp == '1', agent = agent}
end
