-- OTP session start: like session_start, plus the SMS delivery that carries the code, queued in
-- the same script (the session never exists without its code on the way).
-- KEYS: rate-limit key, fresh stream, webhook secret.
-- ARGV: widget id, tenant id, window ms, limit, token hash, session id, ttl ms (pending),
--       phone, code hash, code ttl ms, delivery JSON, new secret, new apiKey, conversation id
-- -> {'LIMIT', count, reset ms} | {'OK', count, reset ms, expiresAt ms}
-- uses: ratelimit session
local now = rl_now()
local ok, n, reset = rl_admit(KEYS[1], now, tonumber(ARGV[3]), tonumber(ARGV[4]))
if not ok then return {'LIMIT', n, reset} end
local pre = 'sb:{t:' .. ARGV[2] .. '}:'
local ttl = tonumber(ARGV[7])
sess_put(pre .. 'session:' .. ARGV[5], ARGV[7], ARGV[6], ARGV[1], 'otp', '0', ARGV[14], now, now + ttl,
  ARGV[8], ARGV[9], now + tonumber(ARGV[10]), '')
redis.call('SET', pre .. 'sessid:' .. ARGV[6], ARGV[5], 'PX', ttl)
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[3], 'secret', ARGV[12], 'apiKey', ARGV[13])
end
redis.call('XADD', KEYS[2], '*', 'd', ARGV[11])
return {'OK', n, reset, now + ttl}
