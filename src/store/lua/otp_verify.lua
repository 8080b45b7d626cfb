-- OTP verification: at most `limit` attempts per session and per client IP in any window, the
-- right code included, so five wrong codes lock the session for the rest of the window.
-- KEYS: widget index, IP rate-limit key.
-- ARGV: widget id, session id, candidate hash, window ms, limit, verified ttl ms, attempt id, origin
-- -> {'NOWIDGET' | 'ORIGIN' | 'SUSPENDED'} | {'NOSESSION'} | {'LOCKED', count, reset ms}
--    | {'WRONG', attemptsLeft} | {'EXPIRED', attemptsLeft} | {'OK', expiresAt ms}
-- uses: ratelimit session widget
local g, err = widget_gate(KEYS[1], ARGV[1], ARGV[8])
if not g then return {err} end
local pre = 'sb:{t:' .. g.tid .. '}:'
local h = redis.call('GET', pre .. 'sessid:' .. ARGV[2])
if not h then return {'NOSESSION'} end
local skey = pre .. 'session:' .. h
local s = sess_get(skey)
if not s or s.wid ~= ARGV[1] or s.mode ~= 'otp' then return {'NOSESSION'} end
local now = rl_now()
local window, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local keys = {pre .. 'rate:otp:' .. ARGV[2], KEYS[2]}
local used, times = 0, {}
for i, k in ipairs(keys) do
  local ok, n, reset, s = rl_check(k, now, window, limit)
  if not ok then return {'LOCKED', n, reset} end
  if i == 1 then used = n end
  times[i] = s
end
for i, k in ipairs(keys) do rl_add(k, times[i], now, window, limit) end
local left = limit - used - 1
if s.code == '' then return {'WRONG', left} end
if tonumber(s.codeExpires) < now then return {'EXPIRED', left} end
if s.code ~= ARGV[3] then return {'WRONG', left} end
local ttl = tonumber(ARGV[6])
sess_put(skey, ARGV[6], s.id, s.wid, s.mode, '1', s.conv, s.createdAt, now + ttl, s.phone, '', '', now)
redis.call('PEXPIRE', pre .. 'sessid:' .. ARGV[2], ttl)
return {'OK', now + ttl}
