-- Anonymous session start: origin check, exact rolling-window rate limit, session write.
-- Batched: per call KEYS: widget index, rate-limit key.
-- ARGV: widget id, origin ('' = none), window ms, limit, token hash, session id, ttl ms,
--       conversation id (the session's conversation, created by its first message)
-- -> 'NOWIDGET' | 'ORIGIN' | 'OTP' | 'LIMIT <count> <reset ms>'
--    | 'OK <count> <reset ms> <expiresAt ms> <tenant id>'
-- Each call answers one string: Redis converts a returned Lua table into a reply field by field
-- (about 0.8 us a call, measured), a string in one piece. The calls of one run share its clock
-- reading and each widget's gate (they happen at one instant), and what is made from them is
-- formatted once: the session key's prefix per widget, the expiry per TTL. The session is
-- written in sess_put's format (lib/session.lua) with those preformatted parts.
-- uses: ratelimit widget
-- batch: 2
local now, now_s, gates, exps = nil, nil, {}, {}
local function item(k, a, n)
  local wid, origin = ARGV[a + 1], ARGV[a + 2]
  local gw = gates[wid]
  if not gw then gw = {}; gates[wid] = gw end
  local g = gw[origin]
  if not g then
    local err
    g, err = widget_gate(KEYS[k + 1], wid, origin)
    if g then g.sp = 'sb:{t:' .. g.tid .. '}:session:' end
    g = g or err
    gw[origin] = g
  end
  if type(g) == 'string' then return g end
  if g.otp then return 'OTP' end
  if not now then now = rl_now(); now_s = string.format('%d', now) end
  local window = ARGV[a + 3]
  local ok, c, reset = rl_admit(KEYS[k + 2], now, tonumber(window), tonumber(ARGV[a + 4]), now_s, window)
  if not ok then return string.format('LIMIT %d %d', c, reset) end
  local ttl = ARGV[a + 7]
  local e = exps[ttl]
  if not e then
    local x = string.format('%d', now + tonumber(ttl))
    e = {'|' .. x .. '||||', ' ' .. x .. ' '}
    exps[ttl] = e
  end
  redis.call('SET', g.sp .. ARGV[a + 5], ARGV[a + 6] .. '|' .. wid .. '|anonymous|0|' .. ARGV[a + 8] .. '|' ..
    now_s .. e[1], 'PX', ttl)
  return string.format('OK %d %d', c, reset) .. e[2] .. g.tid
end
