-- The scheduler's step (docs/proactive.md "Scheduler"): takes up to max due firings of
-- 'sb:pm:due' and fires each, checks, message, event and send queueing, all in this one script,
-- so a firing happens once whichever instance runs it. A schedule occurrence ('s|') fans out into
-- one firing per open conversation of its agent, a ZSCAN chunk of the tenant's open conversations
-- per step; a cron occurrence, once fanned out, is leased (its score moved lease ms on) and
-- returned, for the caller to compute the next occurrence and swap the two (pm_next). more is 1
-- when a fan-out is under way, for the caller to run the next step at once.
-- ARGV: cx JSON, now ms, max, lease ms
-- -> {fired, taken, more, {member, cron, time zone, occurrence ms}...}
-- uses: emit proactive conv reply pm_send
local cx = cjson.decode(ARGV[1])
local now, lease = tonumber(ARGV[2]), tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', 'sb:pm:due', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local fired, more = 0, 0
local leases = {}

-- a schedule occurrence: one chunk of the fan-out
local function fan_out(m, tid, tp, pmid, pm, at)
  local pk = tp .. 'pm:' .. pmid
  local cur = '0'
  local scan = redis.call('HGET', pk, 'scan')
  if scan then
    local a, c = string.match(scan, '^(%d+):(%d+)$')
    if a == at then cur = c end
  end
  local r = redis.call('ZSCAN', tp .. 'convs:open', cur, 'COUNT', 500)
  local t = tonumber(at)
  for j = 1, #r[2], 2 do
    local cid = r[2][j]
    if redis.call('HGET', tp .. 'conv:' .. cid, 'agentId') == pm.agentId then
      pm_due(tp, pmid, 'c|' .. tid .. '|' .. pmid .. '|' .. at .. '|' .. cid, t, t)
    end
  end
  if r[1] ~= '0' then
    redis.call('HSET', pk, 'scan', at .. ':' .. r[1])
    more = 1
    return
  end
  redis.call('HDEL', pk, 'scan')
  if pm.cron ~= '' then
    redis.call('ZADD', 'sb:pm:due', now + lease, m)
    leases[#leases + 1] = {m, pm.cron, pm.tz, at}
  else
    pm_undue(tp, pmid, m)
    redis.call('HSET', pk, 'nextFireAt', '', 'atDone', at)
  end
end

-- a firing into one conversation: 'e|tid|pm|cid|seq', 'i|tid|pm|cid', 'c|tid|pm|at|cid'
local function fire(i, m, k, p, tid, tp, pmid, pm)
  local cid = k == 'c' and p[5] or p[4]
  local h = redis.call('HMGET', tp .. 'conv:' .. cid, 'channel', 'channelId', 'chatId', 'status', 'agentId',
    'serviceUrl', 'thread', 'outSeq', 'lastMs', 'inSeq')
  if not h[1] or h[5] ~= pm.agentId then return end
  local once, nk
  if k == 'e' and pm.kind == 'event' then
    local want = pm.ev == 'dialog_closed' and 'closed' or 'open'
    if h[4] ~= want then return end
    if pm.u == '1' and tonumber(h[8] or '0') > tonumber(p[5]) then return end -- answered meanwhile
    once = 'e:' .. pmid .. ':' .. cid .. ':' .. p[5]
  elseif k == 'i' and pm.kind == 'idle' then
    if h[4] ~= 'open' then return end
    local quiet = tonumber(h[9] or '0') + tonumber(pm.idle)
    if quiet > now then -- a message since: not quiet yet
      redis.call('ZADD', 'sb:pm:due', quiet, m)
      return 'later'
    end
    local max = tonumber(pm.max)
    nk = tp .. 'conv:' .. cid .. ':pm' -- firings per proactive message, for maxFires
    if max > 0 and tonumber(redis.call('HGET', nk, pmid) or '0') >= max then return end
    once = 'i:' .. pmid .. ':' .. cid .. ':' .. (h[10] or '0') -- once per quiet period
  elseif k == 'c' and pm.kind == 'schedule' then
    if h[4] ~= 'open' then return end
    once = 's:' .. pmid .. ':' .. p[4] .. ':' .. cid
  else
    return
  end
  if pm.unfit ~= '' and cjson.decode(pm.unfit)[h[1]] then return end -- the platform cannot show it
  if pm_send(cx, tid, pmid, pm, cid, h, once, pm_uuid(cx.eid, i), 'p' .. i) then
    fired = fired + 1
    if nk then redis.call('HINCRBY', nk, pmid, 1) end
  end
end

for i, m in ipairs(due) do
  local p = {}
  for s in string.gmatch(m, '[^|]+') do p[#p + 1] = s end
  local k, tid, pmid = p[1], p[2], p[3]
  local tp = 'sb:{t:' .. tid .. '}:'
  local pm = pm_load(tp, pmid)
  if not pm or pm.enabled ~= '1' then
    pm_undue(tp, pmid, m)
  elseif k == 's' then
    fan_out(m, tid, tp, pmid, pm, p[4])
  elseif fire(i, m, k, p, tid, tp, pmid, pm) ~= 'later' then
    pm_undue(tp, pmid, m)
  end
end
return {fired, #due, more, unpack(leases)}
