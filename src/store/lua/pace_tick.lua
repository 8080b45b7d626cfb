-- Pacing: for every key whose turn has come, the oldest waiting delivery goes to the fresh stream.
--  - A paced subscription (key <tid>:<endpoint>, docs/deliveries.md "Pacing"): its next turn is a
--    jittered gap later.
--  - A platform chat's line (key {t:<tid>}:send:<channelId>:<chat>, docs/channels.md "Platform
--    send limits"): one send out at a time, the line held (90 s, longer than any attempt and its
--    takeover) until the send's outcome releases it (finish), no sooner than the chat's gap after
--    the send left (kept in :sent). And the account's rate: a send takes the account's next free
--    slot (:acct field tat, 1 / perAccountPerSecond apart; not before its field hold, set by finish
--    when the platform asked the whole account to wait); a line whose slot lies ahead is reserved
--    that slot (:res) and comes back then, so the chats of a busy account go in the order their
--    turns came. The rates are the binding's config.sendLimits, else the platform's (ARGV 4).
--  - A line of the older account-wide layout (key send:<tid>:<channelId>) is held likewise and
--    released by finish a --pace-ms gap later.
--  - An account's incoming line (chat '~in': the incoming webhook, docs/incoming.md): one FIFO
--    line for all the webhook's sends of the account; its gap is drawn from the account's window
--    [minGapMs, maxGapMs] (sb:{t:<tid>}:inwh), and a message queued past its retention (entry
--    member xa) expires at the head of the line instead of going out, its credits given back.
-- KEYS: pace due set, fresh stream. ARGV: now ms, pace prefix, max, the platforms' limits
-- ("<platform>:<per chat>:<per group>:<per account> ..." in messages/s, src/channels/limits.c),
-- gap ms, gap ms, ...
-- uses: incoming
local now = tonumber(ARGV[1])
local P = ARGV[2]
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local defaults

-- A chat line's gaps (ms): the chat's and the account's.
local function gaps(tid, ch, chat, item)
  if not defaults then
    defaults = {}
    for pf, c, g, a in string.gmatch(ARGV[4], '([^: ]+):([^: ]+):([^: ]+):([^: ]+)') do
      defaults[pf] = {tonumber(c), tonumber(g), tonumber(a)}
    end
  end
  local lim = defaults[string.match(item, '"pf":"(%a+)"') or ''] or {1, 0, 10}
  local per_chat, per_group, per_acct = lim[1], lim[2], lim[3]
  local rec = redis.call('HGET', 'sb:{t:' .. tid .. '}:channels', ch)
  if rec then
    local ok, r = pcall(cjson.decode, rec)
    local sl = ok and type(r) == 'table' and type(r.config) == 'table' and r.config.sendLimits
    if type(sl) == 'table' then
      if type(sl.perChatPerSecond) == 'number' and sl.perChatPerSecond > 0 then per_chat = sl.perChatPerSecond end
      if type(sl.perAccountPerSecond) == 'number' and sl.perAccountPerSecond > 0 then
        per_acct = sl.perAccountPerSecond
      end
    end
  end
  -- a Telegram group or channel (a negative chat id) keeps its own limit
  if per_group > 0 and per_group < per_chat and string.sub(chat, 1, 1) == '-' then per_chat = per_group end
  return 1000 / per_chat, 1000 / per_acct
end

-- An incoming line's gap (ms): uniform in the account's window (the default 1,500..2,500).
local function in_gap(tid, ch, seed)
  local h = redis.call('HMGET', 'sb:{t:' .. tid .. '}:inwh', 'gmin', 'gmax', 'a:' .. ch)
  local lo, hi = tonumber(h[1]) or 1500, tonumber(h[2]) or 2500
  if h[3] then
    local ok, a = pcall(cjson.decode, h[3])
    if ok and type(a) == 'table' and type(a.minGapMs) == 'number' and type(a.maxGapMs) == 'number' then
      lo, hi = a.minGapMs, a.maxGapMs
    end
  end
  if hi < lo then hi = lo end
  return lo + math.floor((hi - lo + 1) * tonumber(string.sub(redis.sha1hex(seed), 1, 8), 16) / 4294967296)
end

-- Drops the expired messages at the head of an incoming line -> the head left (nil: none).
local function in_expire(tid, q, item)
  local rfc
  for _ = 1, 100 do
    local xa = item and tonumber(string.match(item, '"xa":(%d+)') or '')
    if not xa or xa > now then return item end
    redis.call('LPOP', q)
    rfc = rfc or rfc_of(now)
    inwh_drop(tid, item, 'expired', 'expired: still queued after the retention period', rfc)
    item = redis.call('LINDEX', q, 0)
  end
  return item
end

local n = 0
for i, k in ipairs(keys) do
  local q = P .. k .. ':q'
  local tid, ch, chat = string.match(k, '^{t:([^}]+)}:send:([^:]+):(.+)$')
  if tid then
    local item = redis.call('LINDEX', q, 0)
    if chat == '~in' then item = in_expire(tid, q, item) end
    local rk = P .. k .. ':res'
    local res = tonumber(redis.call('GET', rk) or '')
    if not item then
      redis.call('ZREM', KEYS[1], k)
      redis.call('DEL', rk)
    elseif res and res > now then
      redis.call('ZADD', KEYS[1], res, k)
    else
      local cgap, agap = gaps(tid, ch, chat, item)
      if chat == '~in' then cgap = in_gap(tid, ch, k .. now .. item) end
      local ak = P .. '{t:' .. tid .. '}:send:' .. ch .. ':acct'
      local a = redis.call('HMGET', ak, 'tat', 'hold')
      local tat, hold = tonumber(a[1]) or 0, tonumber(a[2]) or 0
      local at = now
      if not res or now < hold then -- no slot yet (or the platform's hold came after it): the next one
        at = math.max(now, tat, hold)
        redis.call('HSET', ak, 'tat', at + agap)
        redis.call('PEXPIRE', ak, math.ceil(math.max(at + agap, hold) - now) + 60000)
      end
      if at > now then
        redis.call('SET', rk, at, 'PX', math.ceil(at - now) + 60000)
        redis.call('ZADD', KEYS[1], at, k)
      else
        redis.call('DEL', rk)
        redis.call('LPOP', q)
        redis.call('XADD', KEYS[2], '*', 'd', item)
        n = n + 1
        redis.call('SET', P .. k .. ':next', now + 90000, 'PX', 150000)
        redis.call('SET', P .. k .. ':sent', now .. ' ' .. cgap, 'PX', 150000)
        if redis.call('LLEN', q) > 0 then redis.call('ZADD', KEYS[1], now + 90000, k)
        else redis.call('ZREM', KEYS[1], k) end
      end
    end
  else
    local item = redis.call('LPOP', q)
    if item then
      redis.call('XADD', KEYS[2], '*', 'd', item)
      n = n + 1
      local gap = tonumber(ARGV[4 + i] or ARGV[5])
      if string.find(item, '"k":"send"', 1, true) then gap = 90000 end
      redis.call('SET', P .. k .. ':next', now + gap, 'PX', gap + 60000)
      if redis.call('LLEN', q) > 0 then redis.call('ZADD', KEYS[1], now + gap, k)
      else redis.call('ZREM', KEYS[1], k) end
    else
      redis.call('ZREM', KEYS[1], k)
    end
  end
end
return n
