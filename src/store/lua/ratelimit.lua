-- The stand-alone limiter. KEYS: limit key. ARGV: window ms, limit
-- -> {admitted 1/0, count, reset ms}
-- uses: ratelimit
local ok, n, reset = rl_admit(KEYS[1], rl_now(), tonumber(ARGV[1]), tonumber(ARGV[2]))
return {ok and 1 or 0, n, reset}
