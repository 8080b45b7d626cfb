-- The incoming webhook's management (docs/incoming.md): read it (created on first use), change
-- its settings, give it a new token (the old one stops at once), purge what its lines hold.
-- ARGV: tenant id, mode (get | put | regen | purge), a new token and its SHA-256 (hex; used when
--   one is made), cx JSON, the settings (put, validated by the C side: {enabled?, purge?, rl?,
--   ret?, gmin?, gmax?, accounts?: {channel id: {enabled?, minGapMs?, maxGapMs?} | false}}) or
--   {channelId?} (purge)
-- -> {'NOTENANT'} | {'NOACCOUNT', channel id} | {'BADGAP', field} | {'OK', state JSON}
-- uses: incoming
local tid = ARGV[1]
local tp = 'sb:{t:' .. tid .. '}:'
if redis.call('EXISTS', tp .. 'tenant') == 0 then return {'NOTENANT'} end
local cx = cjson.decode(ARGV[5])
local wk = tp .. 'inwh'
local mode = ARGV[2]
local th = redis.call('HGET', wk, 'th')
if not th or mode == 'regen' then
  if th then redis.call('HDEL', 'sb:idx:inwh', th) end
  redis.call('HSET', wk, 'token', ARGV[3], 'th', ARGV[4], 'updatedAt', cx.rfc)
  redis.call('HSETNX', wk, 'enabled', '1')
  redis.call('HSETNX', wk, 'createdAt', cx.rfc)
  redis.call('HSET', 'sb:idx:inwh', ARGV[4], tid)
end

-- the tenant's WhatsApp accounts, oldest first
local accounts, byid = {}, {}
local all = redis.call('HGETALL', tp .. 'channels')
for i = 1, #all, 2 do
  if string.find(all[i + 1], '"whatsapp"', 1, true) then
    local ok, r = pcall(cjson.decode, all[i + 1])
    if ok and type(r) == 'table' and r.type == 'whatsapp' then
      local cfg = type(r.config) == 'table' and r.config or {}
      local a = {channelId = all[i], phone = type(cfg.displayPhone) == 'string' and cfg.displayPhone or '',
        created = r.createdAt or ''}
      accounts[#accounts + 1] = a
      byid[all[i]] = a
    end
  end
end
table.sort(accounts, function(x, y) return x.created < y.created end)

local purged, refunded = 0, 0
local function purge(ids)
  local p, r = inwh_purge(tid, ids, cx.rfc)
  purged, refunded = purged + p, refunded + r
end
local function all_ids()
  local ids = {}
  for _, a in ipairs(accounts) do ids[#ids + 1] = a.channelId end
  return ids
end

if mode == 'put' then
  local s = cjson.decode(ARGV[6])
  local w = redis.call('HMGET', wk, 'gmin', 'gmax')
  local gmin, gmax = s.gmin or tonumber(w[1]) or 1500, s.gmax or tonumber(w[2]) or 2500
  if gmin > gmax then return {'BADGAP', 'pacing'} end
  if type(s.accounts) == 'table' then
    for id, v in pairs(s.accounts) do
      if not byid[id] then return {'NOACCOUNT', id} end
      if type(v) == 'table' then
        local cur = redis.call('HGET', wk, 'a:' .. id)
        cur = cur and cjson.decode(cur) or {}
        for _, f in ipairs({'enabled', 'minGapMs', 'maxGapMs'}) do
          if v[f] ~= nil then cur[f] = v[f] end
        end
        if (cur.minGapMs == nil) ~= (cur.maxGapMs == nil) then
          cur.minGapMs, cur.maxGapMs = cur.minGapMs or gmin, cur.maxGapMs or gmax
        end
        if cur.minGapMs and cur.minGapMs > cur.maxGapMs then return {'BADGAP', 'accounts.' .. id} end
        v.merged = cjson.encode(cur)
      end
    end
    for id, v in pairs(s.accounts) do
      if type(v) == 'table' then
        redis.call('HSET', wk, 'a:' .. id, v.merged)
        if v.enabled == false and s.purge then purge({id}) end
      else
        redis.call('HDEL', wk, 'a:' .. id)
      end
    end
  end
  if s.enabled ~= nil then redis.call('HSET', wk, 'enabled', s.enabled and '1' or '0') end
  if s.rl then redis.call('HSET', wk, 'rl', s.rl) end
  if s.ret then redis.call('HSET', wk, 'ret', s.ret) end
  if s.gmin then redis.call('HSET', wk, 'gmin', s.gmin, 'gmax', s.gmax) end
  if s.enabled == false and s.purge then purge(all_ids()) end
  redis.call('HSET', wk, 'updatedAt', cx.rfc)
elseif mode == 'purge' then
  local s = cjson.decode(ARGV[6])
  if s.channelId then
    if not byid[s.channelId] then return {'NOACCOUNT', s.channelId} end
    purge({s.channelId})
  else
    purge(all_ids())
  end
end

local w = redis.call('HMGET', wk, 'token', 'enabled', 'createdAt', 'updatedAt', 'rl', 'ret', 'gmin', 'gmax')
local gmin, gmax = tonumber(w[7]) or 1500, tonumber(w[8]) or 2500
local out = {token = w[1], enabled = w[2] ~= '0', createdAt = w[3], updatedAt = w[4],
  rateLimit = {perMinute = tonumber(w[5]) or 600}, retentionHours = tonumber(w[6]) or 24,
  pacing = {minGapMs = gmin, maxGapMs = gmax}, accounts = {}, purged = purged, refunded = refunded}
for i, a in ipairs(accounts) do
  local set = redis.call('HGET', wk, 'a:' .. a.channelId)
  set = set and cjson.decode(set) or {}
  out.accounts[i] = {channelId = a.channelId, phone = a.phone, enabled = set.enabled ~= false,
    minGapMs = set.minGapMs or gmin, maxGapMs = set.maxGapMs or gmax,
    queued = redis.call('LLEN', 'sb:pace:' .. INWH_LINE(tid, a.channelId) .. ':q')}
end
return {'OK', cjson.encode(out)}
