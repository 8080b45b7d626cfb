-- An activation of the incoming webhook (docs/incoming.md "The two steps"): the token, whether
-- the webhook is enabled, the URL's rate limit (a GCRA on Redis's clock: exact across
-- instances), the body's verdict (the C side validated it), the sending account and the
-- recipient (a chat by id or name must exist now), the credits held, and the send queued as an
-- item of the inbound stream (kept by its id in tp..'inwh:q' too, where it holds the credits
-- and answers for the send record), all at once. The queue's consumer stores it as the
-- conversation's message, writes its record, index entry and log entry, and puts it on the
-- account's line (inwh_store). A refusal writes only its log entry (none for an unknown token).
-- Batched: per call KEYS: inbound stream. ARGV: SHA-256 of the token (hex), client IP, the body's first 4,096
--   bytes (UTF-8), the body's verdict ('' good, else "<status> <message>"), recipient kind
--   (chat_id | jid | phone | chat_name), recipient (conversation id | digits | name), account
--   phone (digits, '' none), message id, cost, text, file URL ('' none), file name
-- -> {HTTP status, answer JSON, Retry-After seconds}
-- The calls of one run share its clock reading, and each token's webhook and each account
-- choice are read once per run (nothing else can change them while it runs); the credits, the
-- rate limit, the queue items and the refusals' log entries are kept per webhook in Lua as the
-- calls go, in order, and written once for the run by finish().
-- uses: incoming
-- batch: 1
local NOTFOUND = {404, '{"status":404,"data":{},"message":"Webhook not found"}', 0}
local now, rfc, us, hooks, accounts, used, calls = nil, nil, nil, {}, {}, {}, 0

local function digits(s) return type(s) == 'string' and (string.gsub(s, '%D', '')) or '' end
-- the webhook of a token: {tid, tp, enabled, per, ret, tat, bal, hd, q, logs} or false
local function hook(th)
  local w = hooks[th]
  if w ~= nil then return w end
  w = false
  local tid = redis.call('HGET', 'sb:idx:inwh', th)
  if tid then
    local tp = 'sb:{t:' .. tid .. '}:'
    local f = redis.call('HMGET', tp .. 'inwh', 'th', 'enabled', 'rl', 'ret')
    if f[1] == th then
      w = {tid = tid, tp = tp, enabled = f[2] ~= '0', per = tonumber(f[3]) or 600, ret = tonumber(f[4]) or 24,
        hd = 0, q = {}, logs = {}}
      used[#used + 1] = w
    end
  end
  hooks[th] = w
  return w
end
-- a refusal, with its log entry
local function fail(w, ord, ip, body, status, message, retry)
  local a = '{"status":' .. status .. ',"data":{},"message":' .. cjson.encode(message) .. '}'
  w.logs[#w.logs + 1], w.logs[#w.logs + 2] = 0, inwh_log_entry(ord, rfc, ip, body, status, a)
  return {status, a, retry or 0}
end
local function account(w, chid, rec)
  if not rec then return nil end
  local ok, r = pcall(cjson.decode, rec)
  if not ok or type(r) ~= 'table' or r.type ~= 'whatsapp' then return nil end
  local cfg = type(r.config) == 'table' and r.config or {}
  local s = redis.call('HMGET', w.tp .. 'inwh', 'a:' .. chid, 'pg:' .. chid)
  local set = s[1] and cjson.decode(s[1]) or {}
  return {id = chid, phone = digits(cfg.displayPhone), enabled = set.enabled ~= false, pg = s[2] or '0',
    agent = type(r.agentId) == 'string' and r.agentId or '', created = r.createdAt or ''}
end
-- the account of a jid or phone send: the one with that phone, else the newest enabled one
local function choose(w, phone)
  local key = w.tid .. ' ' .. phone
  local acct = accounts[key]
  if acct ~= nil then return acct end
  acct = false
  local all = redis.call('HGETALL', w.tp .. 'channels')
  for i = 1, #all, 2 do
    if string.find(all[i + 1], '"whatsapp"', 1, true) then
      local a = account(w, all[i], all[i + 1])
      if a and phone ~= '' and a.phone == phone then
        acct = a
        break
      elseif a and phone == '' and a.enabled and (not acct or a.created > acct.created) then
        acct = a
      end
    end
  end
  accounts[key] = acct
  return acct
end

local function item(k, a, n)
  local th, ip, body, verdict, kind, to, phone, mid, cost, tx, fu, fn = unpack(ARGV, a + 1, a + 12)
  local w = hook(th)
  if not w then return NOTFOUND end
  local tp = w.tp
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    rfc, us = rfc_of(now), t[1] .. string.format('%06d', tonumber(t[2]))
  end
  -- the activation's place in the log's order: the run's clock, then the call's place in it
  calls = calls + 1
  local ord = us .. string.format('%02d', calls)
  if not w.enabled then return fail(w, ord, ip, body, 403, 'Webhook disabled') end
  -- the URL's rate limit: perMinute an emission interval apart, bursts up to perMinute
  local iv = 60000 / w.per
  if not w.tat then w.tat = tonumber(redis.call('GET', tp .. 'inwh:rl') or '0') or 0 end
  local tat = math.max(w.tat, now)
  if tat - now > 60000 - iv then
    return fail(w, ord, ip, body, 429, 'Too many requests: at most ' .. w.per .. ' per minute',
      math.max(1, math.ceil((tat - now - (60000 - iv)) / 1000)))
  end
  w.tat, w.moved = tat + iv, true

  if verdict ~= '' then
    local st, msg = string.match(verdict, '^(%d+) (.*)$')
    return fail(w, ord, ip, body, tonumber(st), msg)
  end

  -- the sending account, and the chat of a chat_id or chat_name
  local acct, cid, h
  if kind == 'chat_id' or kind == 'chat_name' then
    if kind == 'chat_id' then
      cid = to
    else
      local found = {}
      for _, c in ipairs(redis.call('SMEMBERS', tp .. 'cname:' .. redis.sha1hex(to))) do
        if redis.call('HGET', tp .. 'conv:' .. c, 'contactName') == to then found[#found + 1] = c end
      end
      if #found == 0 then return fail(w, ord, ip, body, 404, 'no chat named ' .. cjson.encode(to)) end
      if #found > 1 then
        return fail(w, ord, ip, body, 409, #found .. ' chats are named ' .. cjson.encode(to) .. ': use chat_id or phone')
      end
      cid = found[1]
    end
    h = redis.call('HMGET', tp .. 'conv:' .. cid, 'channel', 'channelId', 'chatId')
    if h[1] ~= 'whatsapp' then return fail(w, ord, ip, body, 404, 'chat not found') end
    -- the chat's account, read once per run like choose()'s
    local key = w.tid .. '#' .. (h[2] or '')
    acct = accounts[key]
    if acct == nil then
      acct = account(w, h[2], h[2] and redis.call('HGET', tp .. 'channels', h[2])) or false
      accounts[key] = acct
    end
    if not acct then return fail(w, ord, ip, body, 404, 'chat not found') end
  else
    acct = choose(w, phone)
    if not acct and phone ~= '' then return fail(w, ord, ip, body, 400, 'no WhatsApp account with phone +' .. phone) end
    if not acct then
      return fail(w, ord, ip, body, 400, 'this workspace has no WhatsApp account enabled for the incoming webhook')
    end
  end
  if not acct.enabled then
    return fail(w, ord, ip, body, 403, 'the WhatsApp account +' .. acct.phone .. ' is disabled for the incoming webhook')
  end

  -- the credits, held in this script (none held: no quota)
  cost = tonumber(cost)
  if w.bal == nil then w.bal = tonumber(redis.call('HGET', tp .. 'credits', 'balance') or '') or false end
  if w.bal and w.bal < cost then
    return fail(w, ord, ip, body, 402, 'not enough credits: ' .. w.bal .. ' left, this message needs ' .. cost)
  end

  -- the item the queue's consumer stores (inwh_store), written out by hand (cjson.encode of a
  -- table costs more): "k" first, since the inbound lane tells the items by their start
  -- (api.h); pg: the account's purge count now. Until it is stored, the item is also the
  -- send's record and holds its credits (tp..'inwh:q', lib/incoming.lua).
  local q = cjson.encode
  if not acct.js then
    acct.js = '{"k":"iw","t":' .. q(w.tid) .. ',"ch":' .. q(acct.id) .. ',"ag":' .. q(acct.agent) ..
      ',"pg":' .. q(acct.pg) .. ',"ph":"' .. acct.phone .. '"'
  end
  local it = acct.js .. ',"mid":"' .. mid .. '","cr":' .. cost .. ',"at":"' .. rfc .. '","ts":' ..
    string.format('%d', now) .. ',"xa":' .. string.format('%d', now + w.ret * 3600000) .. ',"tx":' .. q(tx)
  if cid then it = it .. ',"cid":' .. q(cid) else it = it .. ',"to":' .. q(to) end
  if fu ~= '' then it = it .. ',"fu":' .. q(fu) .. ',"fn":' .. q(fn) end
  -- for the activation log, which inwh_store writes for an accepted activation
  it = it .. ',"lo":"' .. ord .. '","ip":' .. q(ip) .. ',"lb":' .. q(body) .. '}'
  redis.call('XADD', KEYS[k + 1], '*', 'd', it)
  -- counted once queued: a call that fails before holds nothing
  if w.bal then w.bal = w.bal - cost end
  w.hd = w.hd + cost
  w.q[#w.q + 1], w.q[#w.q + 2] = mid, it
  return {200, '{"status":"success","data":{"message_id":"wa_backend:' .. mid .. '"}}', 0}
end

-- what the run's calls gathered, one command per key and webhook
local function finish()
  for _, w in ipairs(used) do
    local tp = w.tp
    if w.moved then
      redis.call('SET', tp .. 'inwh:rl', string.format('%.3f', w.tat), 'PX', math.ceil(w.tat - now) + 1000)
    end
    if w.hd > 0 then
      if w.bal then redis.call('HINCRBY', tp .. 'credits', 'balance', -w.hd) end
      redis.call('HINCRBY', tp .. 'credits', 'held', w.hd)
    end
    if #w.q > 0 then redis.call('HSET', tp .. 'inwh:q', unpack(w.q)) end
    if #w.logs > 0 then
      redis.call('ZADD', tp .. 'inwh:alog', unpack(w.logs))
      redis.call('ZREMRANGEBYRANK', tp .. 'inwh:alog', 0, -INWH_LOG_KEEP - 1)
    end
  end
end
