-- An activation of the incoming webhook (docs/incoming.md), all at once: the token, whether the
-- webhook is enabled, the URL's rate limit (a GCRA on Redis's clock: exact across instances),
-- the body's verdict (the C side validated it), the sending account and the recipient's
-- conversation (opened for a phone or a JID), the credits held, the message stored and its send
-- queued on the account's incoming line, its send record, and the activation log. A refusal
-- writes only its log entry (none for an unknown token).
-- ARGV: cx JSON, SHA-256 of the token (hex), client IP, the body's first 4,096 bytes (UTF-8),
--   the body's verdict ('' good, else "<status> <message>"), recipient kind (chat_id | jid |
--   phone | chat_name), recipient (conversation id | digits | name), account phone (digits, ''
--   none), message id, new conversation id, cost, sender JSON, mtail, etail, text for the
--   platform, file URL ('' none), file name
-- -> {HTTP status, answer JSON, Retry-After seconds}
-- uses: emit proactive conv reply incoming
local cx = cjson.decode(ARGV[1])
local tid = redis.call('HGET', 'sb:idx:inwh', ARGV[2])
local NOTFOUND = {404, '{"status":404,"data":{},"message":"Webhook not found"}', 0}
if not tid then return NOTFOUND end
local tp = 'sb:{t:' .. tid .. '}:'
local w = redis.call('HMGET', tp .. 'inwh', 'th', 'enabled', 'rl', 'ret')
if w[1] ~= ARGV[2] then return NOTFOUND end

local function log(status, answer)
  local e = '{"at":"' .. cx.rfc .. '","ip":' .. cjson.encode(ARGV[3]) .. ',"status":' .. status .. ',"body":' ..
    cjson.encode(ARGV[4]) .. ',"answer":' .. answer .. '}'
  redis.call('LPUSH', tp .. 'inwh:log', e)
  redis.call('LTRIM', tp .. 'inwh:log', 0, 99)
end
local function fail(status, message, retry)
  local a = '{"status":' .. status .. ',"data":{},"message":' .. cjson.encode(message) .. '}'
  log(status, a)
  return {status, a, retry or 0}
end

if w[2] == '0' then return fail(403, 'Webhook disabled') end
-- the URL's rate limit: perMinute an emission interval apart, bursts up to perMinute
local per = tonumber(w[3]) or 600
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local iv = 60000 / per
local rk = tp .. 'inwh:rl'
local tat = math.max(tonumber(redis.call('GET', rk) or '0') or 0, now)
if tat - now > 60000 - iv then
  return fail(429, 'Too many requests: at most ' .. per .. ' per minute',
    math.max(1, math.ceil((tat - now - (60000 - iv)) / 1000)))
end
redis.call('SET', rk, string.format('%.3f', tat + iv), 'PX', math.ceil(tat + iv - now) + 1000)

if ARGV[5] ~= '' then
  local st, msg = string.match(ARGV[5], '^(%d+) (.*)$')
  return fail(tonumber(st), msg)
end

-- the sending account
local function digits(s) return type(s) == 'string' and (string.gsub(s, '%D', '')) or '' end
local function account(chid, rec)
  if not rec then return nil end
  local ok, r = pcall(cjson.decode, rec)
  if not ok or type(r) ~= 'table' or r.type ~= 'whatsapp' then return nil end
  local cfg = type(r.config) == 'table' and r.config or {}
  local s = redis.call('HGET', tp .. 'inwh', 'a:' .. chid)
  local set = s and cjson.decode(s) or {}
  return {id = chid, phone = digits(cfg.displayPhone), enabled = set.enabled ~= false,
    agent = type(r.agentId) == 'string' and r.agentId or '', created = r.createdAt or ''}
end
local function disabled(a)
  return fail(403, 'the WhatsApp account +' .. a.phone .. ' is disabled for the incoming webhook')
end
local kind, to = ARGV[6], ARGV[7]
local acct, cid, h
if kind == 'chat_id' or kind == 'chat_name' then
  if kind == 'chat_id' then
    cid = to
  else
    local found = {}
    for _, c in ipairs(redis.call('SMEMBERS', tp .. 'cname:' .. redis.sha1hex(to))) do
      if redis.call('HGET', tp .. 'conv:' .. c, 'contactName') == to then found[#found + 1] = c end
    end
    if #found == 0 then return fail(404, 'no chat named ' .. cjson.encode(to)) end
    if #found > 1 then
      return fail(409, #found .. ' chats are named ' .. cjson.encode(to) .. ': use chat_id or phone')
    end
    cid = found[1]
  end
  h = redis.call('HMGET', tp .. 'conv:' .. cid, unpack(REPLY_FIELDS))
  if h[1] ~= 'whatsapp' then return fail(404, 'chat not found') end
  acct = account(h[2], redis.call('HGET', tp .. 'channels', h[2]))
  if not acct then return fail(404, 'chat not found') end
  if not acct.enabled then return disabled(acct) end
else
  local all = redis.call('HGETALL', tp .. 'channels')
  for i = 1, #all, 2 do
    if string.find(all[i + 1], '"whatsapp"', 1, true) then
      local a = account(all[i], all[i + 1])
      if a and ARGV[8] ~= '' and a.phone == ARGV[8] then
        acct = a
        break
      elseif a and ARGV[8] == '' and a.enabled and (not acct or a.created > acct.created) then
        acct = a
      end
    end
  end
  if not acct and ARGV[8] ~= '' then return fail(400, 'no WhatsApp account with phone +' .. ARGV[8]) end
  if not acct then return fail(400, 'this workspace has no WhatsApp account enabled for the incoming webhook') end
  if not acct.enabled then return disabled(acct) end
end

-- the credits, held in this script (none held: no quota)
local cost = tonumber(ARGV[11])
local ck = tp .. 'credits'
local bal = tonumber(redis.call('HGET', ck, 'balance') or '')
if bal and bal < cost then
  return fail(402, 'not enough credits: ' .. bal .. ' left, this message needs ' .. cost)
end

if not cid then
  cid = conv_open(cx, tid, 'whatsapp', acct.id, to, ARGV[10], acct.agent)
  h = redis.call('HMGET', tp .. 'conv:' .. cid, unpack(REPLY_FIELDS))
end
if bal then redis.call('HINCRBY', ck, 'balance', -cost) end
redis.call('HINCRBY', ck, 'held', cost)
local mid = ARGV[9]
redis.call('HSET', tp .. 'inwh:held', mid, cost)
local ret = tonumber(w[4]) or 24
local fields = {iw = mid, cr = cost, xa = now + ret * 3600000}
if ARGV[16] ~= '' then
  fields.fu = ARGV[16]
  fields.fn = ARGV[17]
end
local mj = conv_out(cx, tid, cid, h, ARGV[12], ARGV[13], ARGV[14], mid, ARGV[15], '', 'r',
  {line = INWH_LINE(tid, acct.id), fields = fields})
local seq = string.match(mj, '^{"seq":(%d+)')
redis.call('HSET', tp .. 'inwh:s:' .. mid, 'messageId', 'wa_backend:' .. mid, 'status', 'queued', 'conversationId', cid,
  'seq', seq, 'to', '+' .. (h[3] or ''), 'accountPhone', '+' .. acct.phone, 'channelId', acct.id, 'credits', cost,
  'createdAt', cx.rfc, 'updatedAt', cx.rfc)
local sk = tp .. 'inwh:sends'
redis.call('ZADD', sk, now, mid)
local over = redis.call('ZCARD', sk) - 1000
if over > 0 then
  local gone = redis.call('ZPOPMIN', sk, over)
  for i = 1, #gone, 2 do redis.call('DEL', tp .. 'inwh:s:' .. gone[i]) end
end
local a = '{"status":"success","data":{"message_id":"wa_backend:' .. mid .. '"}}'
log(200, a)
return {200, a, 0}
