-- The incoming "send" webhook (docs/incoming.md): its messages' credits, records and queue.
-- A message of the webhook holds its cost in tp..'inwh:held' (id -> credits) from the activation
-- until it is settled, once: sent (the cost moves from held to used) or failed, expired or purged
-- (the cost goes back to the balance, when the tenant has one).
--   INWH_LINE(tid, channel id) -> the pacing key of the account's incoming line
--   rfc_of(ms) -> RFC 3339 UTC with milliseconds
--   msg_status(tp, cid, seq, status, platform id, error): rewrites the status members of a
--     conversation's message (the last ones: conv_out put them there)
--   inwh_settle(tp, id, status, platform id, error, rfc) -> 1 if this settled the message's credits
--   inwh_drop(tid, entry JSON, status, error, rfc): a queued send that will not go out
--   inwh_purge(tid, channel ids, rfc) -> purged, refunded: drops what the accounts' lines hold
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
