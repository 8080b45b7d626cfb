-- widget_auth(idx, widgetId, origin, token hash) -> {tid, agent, sid, conv} or nil, error:
-- 'NOWIDGET' | 'ORIGIN' | 'NOSESSION' (unknown, expired, other widget) | 'UNVERIFIED'.
-- uses: widget session
local function widget_auth(idx, wid, origin, tokhash)
  local g, err = widget_gate(idx, wid, origin)
  if not g then return nil, err end
  if tokhash == '' then return nil, 'NOSESSION' end
  local s = sess_get('sb:{t:' .. g.tid .. '}:session:' .. tokhash)
  if not s or s.wid ~= wid then return nil, 'NOSESSION' end
  if s.verified ~= '1' and (g.otp or s.mode == 'otp') then return nil, 'UNVERIFIED' end
  return {tid = g.tid, agent = g.agent, sid = s.id, conv = s.conv}
end
