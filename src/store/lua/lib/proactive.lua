-- Proactive messages' firings (docs/proactive.md). A due firing is a member of the global sorted
-- set 'sb:pm:due' by due time (ms); each is also indexed under its message (tp..'pm:'..id..':due',
-- by the time it counts from: the event, the latest message, the occurrence) so that a change of
-- the trigger moves or drops exactly its firings. An agent's event and idle triggers are one JSON
-- list in tp..'pm:trig' (field: the agent id), [{id, ev, d} | {id, idle}], kept by pm_put and
-- pm_delete.
--   pm_due(tp, pmid, member, due, base): schedules a firing (a member already there moves)
--   pm_undue(tp, pmid, member): removes one
--   pm_on(cx, tid, cid, agentId, event, seq): schedules the agent's triggers of that event
local function pm_due(tp, pmid, m, due, base)
  redis.call('ZADD', 'sb:pm:due', due, m)
  redis.call('ZADD', tp .. 'pm:' .. pmid .. ':due', base, m)
end
local function pm_undue(tp, pmid, m)
  redis.call('ZREM', 'sb:pm:due', m)
  redis.call('ZREM', tp .. 'pm:' .. pmid .. ':due', m)
end
local function pm_on(cx, tid, cid, agent, event, seq)
  if type(agent) ~= 'string' or agent == '' then return end
  local tp = 'sb:{t:' .. tid .. '}:'
  local raw = redis.call('HGET', tp .. 'pm:trig', agent)
  if not raw then return end
  for _, t in ipairs(cjson.decode(raw)) do
    if t.ev == event then
      pm_due(tp, t.id, 'e|' .. tid .. '|' .. t.id .. '|' .. cid .. '|' .. seq, cx.now + t.d, cx.now)
    elseif t.idle and event == 'message_received' then
      pm_due(tp, t.id, 'i|' .. tid .. '|' .. t.id .. '|' .. cid, cx.now + t.idle, cx.now)
    end
  end
end
-- pm_retrig(tp, agentId): rebuilds the agent's list of enabled event and idle triggers
local function pm_retrig(tp, agent)
  local list = {}
  for _, id in ipairs(redis.call('ZRANGE', tp .. 'pms:a:' .. agent, 0, -1)) do
    local f = redis.call('HMGET', tp .. 'pm:' .. id, 'enabled', 'kind', 'ev', 'd', 'idle')
    if f[1] == '1' and f[2] == 'event' then list[#list + 1] = {id = id, ev = f[3], d = tonumber(f[4])}
    elseif f[1] == '1' and f[2] == 'idle' then list[#list + 1] = {id = id, idle = tonumber(f[5])} end
  end
  if #list == 0 then redis.call('HDEL', tp .. 'pm:trig', agent)
  else redis.call('HSET', tp .. 'pm:trig', agent, cjson.encode(list)) end
end
