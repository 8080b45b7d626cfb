-- The incoming "send" webhook (docs/incoming.md): its messages' credits, records and queue.
-- A message of the webhook holds its cost in tp..'inwh:held' (id -> credits) from the activation
-- until it is settled, once: sent (the cost moves from held to used) or failed, expired or purged
-- (the cost goes back to the balance, when the tenant has one).
--   INWH_LINE(tid, channel id) -> the pacing key of the account's incoming line
--   inwh_log_entry(order, rfc, ip, body excerpt, status, answer JSON) -> an activation log
--     entry: "<order> <JSON>", the order 18 digits (the accepting run's clock in microseconds,
--     then the call's place in the run). The log (tp..'inwh:alog') is a sorted set of entries
--     all scored 0, so ordered by the entries' text: by their order
--   INWH_LOG_KEEP: the entries it keeps, the last ones by order
--   rfc_of(ms) -> RFC 3339 UTC with milliseconds
--   msg_status(tp, cid, seq, status, platform id, error): rewrites the status members of a
--     conversation's message (the last ones: conv_out put them there)
--   inwh_settle(tp, id, status, platform id, error, rfc) -> 1 if this settled the message's credits
--   inwh_drop(tid, entry JSON, status, error, rfc): a queued send that will not go out
--   inwh_purge(tid, channel ids, rfc) -> purged, refunded: drops what the accounts' lines hold,
--     and bumps each account's purge count (tp..'inwh' 'pg:'..channel id): an activation not
--     yet stored carries the count it saw, and is dropped as purged when it is stored after it
-- An accepted activation the queue has not stored yet is its queue item in tp..'inwh:q'
-- (message id -> item JSON, docs/incoming.md "The two steps"), which holds its credits until
-- inwh_store moves them to tp..'inwh:held' and writes its record:
--   inwh_fields(tp, item[, conversation id, its chat id, seq]) -> the record of an item, as
--     HSET arguments: queued, stored in that conversation when given
--   inwh_record(tp, id) -> the send record as HGETALL answers it: stored, else that of a queued
--     item, else {}
--   inwh_log(tp, order, rfc, ip, body excerpt, status, answer JSON): an entry joins the log
--   inwh_index(tp, ms, id): a record joins the send index (at least the last 1,000 records:
--     trimmed back to 1,000 past 1,100, the records trimmed off deleted)
local INWH_LOG_KEEP = 100
local function inwh_log_entry(ord, rfc, ip, body, status, answer)
  return ord .. ' {"at":"' .. rfc .. '","ip":' .. cjson.encode(ip) .. ',"status":' .. status .. ',"body":' ..
    cjson.encode(body) .. ',"answer":' .. answer .. '}'
end
local function INWH_LINE(tid, chid) return '{t:' .. tid .. '}:send:' .. chid .. ':~in' end
local function rfc_of(ms)
  local s = math.floor(ms / 1000)
  local days, sod = math.floor(s / 86400), s % 86400
  -- civil date of a day count (H. Hinnant's algorithm)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(sod / 3600),
    math.floor(sod / 60) % 60, sod % 60, ms % 1000)
end
local function msg_status(tp, cid, seq, status, pmid, err)
  local mk = tp .. 'conv:' .. cid .. ':msgs'
  local m = redis.call('ZRANGEBYSCORE', mk, seq, seq)[1]
  local at, from = nil, 1
  while m do
    local j = string.find(m, ',"status":"', from, true)
    if not j then break end
    at, from = j, j + 1
  end
  if not at then return end
  local add = ',"status":' .. cjson.encode(status)
  if pmid ~= '' then add = add .. ',"platformMessageId":' .. cjson.encode(pmid) end
  if err ~= '' then add = add .. ',"error":' .. cjson.encode(err) end
  redis.call('ZREMRANGEBYSCORE', mk, seq, seq)
  redis.call('ZADD', mk, seq, string.sub(m, 1, at - 1) .. add .. '}')
end
local function inwh_settle(tp, id, status, pmid, err, rfc)
  local moved = 0
  local cr = tonumber(redis.call('HGET', tp .. 'inwh:held', id) or '')
  if cr then
    redis.call('HDEL', tp .. 'inwh:held', id)
    local ck = tp .. 'credits'
    redis.call('HINCRBY', ck, 'held', -cr)
    if status == 'sent' then
      redis.call('HINCRBY', ck, 'used', cr)
    elseif redis.call('HEXISTS', ck, 'balance') == 1 then
      redis.call('HINCRBY', ck, 'balance', cr)
    end
    moved = 1
  end
  local rk = tp .. 'inwh:s:' .. id
  if redis.call('EXISTS', rk) == 1 then
    redis.call('HSET', rk, 'status', status, 'updatedAt', rfc)
    if pmid ~= '' then redis.call('HSET', rk, 'platformMessageId', pmid) end
    if err ~= '' then redis.call('HSET', rk, 'error', err) end
  end
  return moved
end
local function inwh_drop(tid, item, status, err, rfc)
  local ok, d = pcall(cjson.decode, item)
  if not ok or type(d) ~= 'table' or type(d.iw) ~= 'string' then return 0 end
  local tp = 'sb:{t:' .. tid .. '}:'
  if d.cid and d.seq then msg_status(tp, d.cid, d.seq, status, '', err) end
  return inwh_settle(tp, d.iw, status, '', err, rfc)
end
local function inwh_purge(tid, chids, rfc)
  local purged, refunded = 0, 0
  local tp = 'sb:{t:' .. tid .. '}:'
  for _, chid in ipairs(chids) do
    redis.call('HINCRBY', tp .. 'inwh', 'pg:' .. chid, 1)
    local q = 'sb:pace:' .. INWH_LINE(tid, chid) .. ':q'
    local items = redis.call('LRANGE', q, 0, -1)
    redis.call('DEL', q)
    for _, item in ipairs(items) do
      local cr = tonumber(string.match(item, '"cr":(%d+)') or '0')
      if inwh_drop(tid, item, 'purged', 'purged: the queue was emptied', rfc) == 1 then
        refunded = refunded + cr
      end
      purged = purged + 1
    end
  end
  return purged, refunded
end
local function inwh_fields(tp, d, cid, chat, seq)
  cid = cid or d.cid
  local to = d.to
  if d.cid then to = chat or redis.call('HGET', tp .. 'conv:' .. d.cid, 'chatId') or '' end
  local f = {'messageId', 'wa_backend:' .. d.mid, 'status', 'queued', 'to', '+' .. to,
    'accountPhone', '+' .. d.ph, 'channelId', d.ch, 'credits', tostring(d.cr), 'createdAt', d.at, 'updatedAt', d.at}
  if cid then f[#f + 1], f[#f + 2] = 'conversationId', cid end
  if seq then f[#f + 1], f[#f + 2] = 'seq', tostring(seq) end
  return f
end
local function inwh_record(tp, id)
  local r = redis.call('HGETALL', tp .. 'inwh:s:' .. id)
  if #r > 0 then return r end
  local item = redis.call('HGET', tp .. 'inwh:q', id)
  if not item then return r end
  local ok, d = pcall(cjson.decode, item)
  if not ok or type(d) ~= 'table' then return r end
  return inwh_fields(tp, d)
end
local function inwh_log(tp, ord, rfc, ip, body, status, answer)
  redis.call('ZADD', tp .. 'inwh:alog', 0, inwh_log_entry(ord, rfc, ip, body, status, answer))
  redis.call('ZREMRANGEBYRANK', tp .. 'inwh:alog', 0, -INWH_LOG_KEEP - 1)
end
local function inwh_index(tp, ms, id)
  local sk = tp .. 'inwh:sends'
  redis.call('ZADD', sk, ms, id)
  local over = redis.call('ZCARD', sk) - 1000
  if over > 100 then
    local gone = redis.call('ZPOPMIN', sk, over)
    local keys = {}
    for i = 1, #gone, 2 do keys[#keys + 1] = tp .. 'inwh:s:' .. gone[i] end
    redis.call('DEL', unpack(keys))
  end
end
