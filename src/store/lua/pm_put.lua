-- Creates or updates a proactive message (docs/proactive.md). The C side validated and encoded the
-- record; this script checks the agent, writes the record and its indexes, and, when the trigger,
-- the agent or enabled changed, moves the firings not yet sent: an event trigger's firings of the
-- same event and an idle trigger's are moved to their new delay, all others dropped; a schedule
-- gets its next occurrence (a one-time schedule that has fired does not fire again).
-- ARGV: cx JSON, tenant id, id, 'create' | 'update', record JSON {agentId, trigger, payload, enabled,
--       kind, ev?, d?, u?, idle?, max?, cron?, tz?, next?, cbody, ebody, tx, rm, unfit}, max per agent
-- -> {'NOTFOUND'} | {'NOAGENT'} | {'FULL'} | {'OK', HGETALL of the record}
-- uses: proactive
local cx = cjson.decode(ARGV[1])
local tid, id = ARGV[2], ARGV[3]
local tp = 'sb:{t:' .. tid .. '}:'
local pk = tp .. 'pm:' .. id
local r = cjson.decode(ARGV[5])
local old
if ARGV[4] == 'update' then
  local o = redis.call('HMGET', pk, 'agentId', 'trigger', 'enabled', 'ev', 'created')
  if not o[1] then return {'NOTFOUND'} end
  old = {agentId = o[1], trigger = o[2], enabled = o[3], ev = o[4], created = o[5]}
end
if redis.call('HEXISTS', tp .. 'agents', r.agentId) == 0 then return {'NOAGENT'} end
local ak = tp .. 'pms:a:' .. r.agentId
if (not old or old.agentId ~= r.agentId) and redis.call('ZCARD', ak) >= tonumber(ARGV[6]) then return {'FULL'} end
local enabled = r.enabled and '1' or '0'
redis.call('HSET', pk, 'id', id, 'agentId', r.agentId, 'trigger', r.trigger, 'payload', r.payload, 'enabled', enabled,
  'updatedAt', cx.rfc, 'kind', r.kind, 'ev', r.ev or '', 'd', r.d or 0, 'u', r.u and '1' or '0', 'idle', r.idle or 0,
  'max', r.max or 0, 'cron', r.cron or '', 'tz', r.tz or '', 'cbody', r.cbody, 'ebody', r.ebody, 'tx', r.tx,
  'rm', r.rm, 'unfit', r.unfit)
local created = old and tonumber(old.created) or cx.now
if not old then
  redis.call('HSET', pk, 'createdAt', cx.rfc, 'created', cx.now, 'fireCount', 0, 'lastFiredAt', '', 'nextFireAt', '')
  redis.call('ZADD', tp .. 'pms', cx.now, id)
elseif old.agentId ~= r.agentId then
  redis.call('ZREM', tp .. 'pms:a:' .. old.agentId, id)
end
redis.call('ZADD', ak, created, id)
if not old or old.trigger ~= r.trigger or old.agentId ~= r.agentId or old.enabled ~= enabled then
  local ik = pk .. ':due'
  local pend = redis.call('ZRANGE', ik, 0, -1, 'WITHSCORES')
  for j = 1, #pend, 2 do
    local m, base = pend[j], tonumber(pend[j + 1])
    local k = string.sub(m, 1, 1)
    local same = enabled == '1' and old and old.agentId == r.agentId
    if same and k == 'e' and r.kind == 'event' and old.ev == r.ev then
      redis.call('ZADD', 'sb:pm:due', base + r.d, m)
    elseif same and k == 'i' and r.kind == 'idle' then
      redis.call('ZADD', 'sb:pm:due', base + r.idle, m)
    else
      pm_undue(tp, id, m)
    end
  end
  redis.call('HDEL', pk, 'scan')
  local nxt = ''
  if r.kind == 'schedule' and enabled == '1' and r.next then
    local done = redis.call('HGET', pk, 'atDone')
    if r.cron or done ~= tostring(r.next) then
      nxt = tostring(r.next)
      pm_due(tp, id, 's|' .. tid .. '|' .. id .. '|' .. nxt, r.next, r.next)
    end
  end
  redis.call('HSET', pk, 'nextFireAt', nxt)
  pm_retrig(tp, r.agentId)
  if old and old.agentId ~= r.agentId then pm_retrig(tp, old.agentId) end
end
return {'OK', redis.call('HGETALL', pk)}
