-- POST /api/proactive-messages/{id}/fire: one firing now, into one conversation of the message's
-- agent (each call sends once). ARGV: cx JSON, tenant id, proactive message id, conversation id
-- -> {'NOTFOUND'} | {'DISABLED'} | {'NOCONV'} | {'AGENT'} | {'UNFIT', field, detail} | {'OK', message JSON}
-- uses: emit proactive conv reply pm_send
local cx = cjson.decode(ARGV[1])
local tp = 'sb:{t:' .. ARGV[2] .. '}:'
local pm = pm_load(tp, ARGV[3])
if not pm then return {'NOTFOUND'} end
if pm.enabled ~= '1' then return {'DISABLED'} end
local h = redis.call('HMGET', tp .. 'conv:' .. ARGV[4], unpack(REPLY_FIELDS))
if not h[1] then return {'NOCONV'} end
if h[5] ~= pm.agentId then return {'AGENT'} end
if pm.unfit ~= '' then
  local bad = cjson.decode(pm.unfit)[h[1]]
  if bad then return {'UNFIT', bad.field, bad.detail} end
end
return {'OK', pm_send(cx, ARGV[2], ARGV[3], pm, ARGV[4], h, '', pm_uuid(cx.eid, 0), 'p')}
