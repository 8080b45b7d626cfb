-- The exact rolling-window limiter (docs/ratelimit.md): one string per key, the times of the
-- last admissions on Redis's own clock, newest first, space-separated, never more than `limit`
-- of them, so every instance agrees and no window ever holds more than `limit` admissions. The
-- key expires with the window. A fresh subject costs one call: SET NX GET creates it with its
-- TTL, or hands back the times already there (nothing written); an admission rewrites the times
-- in the window with the new one in front, a refusal writes nothing.
--   rl_now()                               -> ms
--   rl_check(key, now, window, limit)      -> ok, count in the window, reset ms, the times read
--                                             (nothing written)
--   rl_add(key, times, now, window, limit) records an admission on top of rl_check's times
--   rl_admit(key, now, window, limit[, now_s, window_s]) -> ok, count (with this one when
--                                             admitted), reset ms
-- A key written by an earlier build (a list, newest first) is converted in place with its TTL
-- the first time it is met (rl_legacy); any other failure (a key of another type: WRONGTYPE, an
-- OOM refusal) fails the call with Redis's error.
-- Times are written with string.format('%d'): Lua's own number-to-string is a slow
-- printf("%.14g").
local function rl_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function rl_scan(s, now, window, limit)
  local n, oldest, last = 0, nil, 0
  for t, e in string.gmatch(s, '(%d+)()') do
    t = tonumber(t)
    if n >= limit or t <= now - window then break end
    n, oldest, last = n + 1, t, e - 1
  end
  return n, oldest and (oldest + window - now) or window, last
end
local function rl_legacy(key, err, window_s)
  if redis.call('TYPE', key).ok ~= 'list' then error(err) end
  local l = redis.call('LRANGE', key, 0, -1)
  local ttl = redis.call('PTTL', key)
  redis.call('DEL', key)
  local s = table.concat(l, ' ')
  if s ~= '' then redis.call('SET', key, s, 'PX', ttl > 0 and ttl or window_s) end
  return s
end
local function rl_get(key, window)
  local s = redis.pcall('GET', key)
  if type(s) == 'table' then s = rl_legacy(key, s, string.format('%d', window)) end
  return s or ''
end
local function rl_put(key, s, last, now_s, window_s)
  redis.call('SET', key, last > 0 and (now_s .. ' ' .. string.sub(s, 1, last)) or now_s, 'PX', window_s)
end
local function rl_check(key, now, window, limit)
  local s = rl_get(key, window)
  local n, reset = rl_scan(s, now, window, limit)
  return n < limit, n, reset, s
end
local function rl_add(key, s, now, window, limit)
  local _, _, last = rl_scan(s, now, window, limit - 1)
  rl_put(key, s, last, string.format('%d', now), string.format('%d', window))
end
local function rl_admit(key, now, window, limit, now_s, window_s)
  now_s, window_s = now_s or string.format('%d', now), window_s or string.format('%d', window)
  local s = redis.pcall('SET', key, now_s, 'PX', window_s, 'NX', 'GET')
  if type(s) == 'table' then s = rl_legacy(key, s, window_s) end
  if not s then return true, 1, window end
  local n, reset, last = rl_scan(s, now, window, limit)
  if n >= limit then return false, n, reset end
  rl_put(key, s, last, now_s, window_s)
  return true, n + 1, reset
end
