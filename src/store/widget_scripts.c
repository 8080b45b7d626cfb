/* Lua scripts of the widget routes (SPEC 4): one round trip per request. */
#include "lua_lib.h"
#include "switchboard/store.h"

/* Widget config. KEYS: widget index. ARGV: widget id
 * -> false (unknown) or {widget JSON, agent JSON or ''} */
sb_script_t sb_script_widget_config = {"widget_config",
                                       "local tid = redis.call('HGET', KEYS[1], ARGV[1])\n"
                                       "if not tid then return false end\n"
                                       "local w = redis.call('HGET', 'sb:{t:' .. tid .. '}:widgets', ARGV[1])\n"
                                       "if not w then return false end\n"
                                       "local agent = ''\n"
                                       "local ok, o = pcall(cjson.decode, w)\n"
                                       "if ok and type(o) == 'table' and type(o.agentId) == 'string' then\n"
                                       "  agent = redis.call('HGET', 'sb:{t:' .. tid .. '}:agents', o.agentId) or ''\n"
                                       "end\n"
                                       "return {w, agent}\n",
                                       ""};

/* Anonymous session start: origin check, exact rolling-window rate limit, session write.
 * KEYS: widget index, rate-limit key.
 * ARGV: widget id, origin ('' = none), window ms, limit, token hash, session id, ttl ms,
 *       conversation id (the session's conversation, created by its first message)
 * -> {'NOWIDGET'} | {'ORIGIN'} | {'OTP'} | {'LIMIT', count, reset ms} | {'OK', count, reset ms, tenant}
 * The limiter is a sorted set of admission times; Redis's own clock, so every instance agrees. */
sb_script_t sb_script_session_start = {
    "session_start",
    SB_LUA_RATELIMIT
    "local tid = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not tid then return {'NOWIDGET'} end\n"
    "local w = redis.call('HGET', 'sb:{t:' .. tid .. '}:widgets', ARGV[1])\n"
    "if not w then return {'NOWIDGET'} end\n"
    "local o = cjson.decode(w)\n"
    "local origins = o.allowedOrigins\n"
    "if type(origins) == 'table' and #origins > 0 then\n"
    "  local okorigin = false\n"
    "  for _, a in ipairs(origins) do if a == ARGV[2] then okorigin = true end end\n"
    "  if not okorigin then return {'ORIGIN'} end\n"
    "end\n"
    "if o.otpRequired == true then return {'OTP'} end\n"
    "local now = rl_now()\n"
    "local ok, n, reset = rl_admit(KEYS[2], now, tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
    "if not ok then return {'LIMIT', n, reset} end\n"
    "local skey = 'sb:{t:' .. tid .. '}:sess:' .. ARGV[5]\n"
    "redis.call('HSET', skey, 'id', ARGV[6], 'widgetId', ARGV[1], 'mode', 'anonymous', 'verified', '0',\n"
    "  'createdAt', now, 'expiresAt', now + tonumber(ARGV[7]), 'conv', ARGV[8])\n"
    "redis.call('PEXPIRE', skey, tonumber(ARGV[7]))\n"
    "return {'OK', n, reset, tid, now + tonumber(ARGV[7])}\n",
    ""};

/* OTP session start: like session_start, plus the SMS delivery that carries the code, queued in
 * the same script (the session never exists without its code on the way).
 * KEYS: rate-limit key, fresh stream, webhook secret.
 * ARGV: widget id, tenant id, window ms, limit, token hash, session id, ttl ms (pending),
 *       phone, code hash, code ttl ms, delivery JSON, new secret, new apiKey, conversation id
 * -> {'LIMIT', count, reset ms} | {'OK', count, reset ms, expiresAt ms} */
sb_script_t sb_script_otp_start = {
    "otp_start",
    SB_LUA_RATELIMIT "local now = rl_now()\n"
                     "local ok, n, reset = rl_admit(KEYS[1], now, tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
                     "if not ok then return {'LIMIT', n, reset} end\n"
                     "local pre = 'sb:{t:' .. ARGV[2] .. '}:'\n"
                     "local skey = pre .. 'sess:' .. ARGV[5]\n"
                     "local ttl = tonumber(ARGV[7])\n"
                     "redis.call('HSET', skey, 'id', ARGV[6], 'widgetId', ARGV[1], 'mode', 'otp', 'verified', '0',\n"
                     "  'createdAt', now, 'expiresAt', now + ttl, 'phone', ARGV[8], 'code', ARGV[9],\n"
                     "  'codeExpires', now + tonumber(ARGV[10]), 'conv', ARGV[14])\n"
                     "redis.call('PEXPIRE', skey, ttl)\n"
                     "redis.call('SET', pre .. 'sessid:' .. ARGV[6], ARGV[5], 'PX', ttl)\n"
                     "if redis.call('EXISTS', KEYS[3]) == 0 then\n"
                     "  redis.call('HSET', KEYS[3], 'secret', ARGV[12], 'apiKey', ARGV[13])\n"
                     "end\n"
                     "redis.call('XADD', KEYS[2], '*', 'd', ARGV[11])\n"
                     "return {'OK', n, reset, now + ttl}\n",
    ""};

/* OTP verification: at most `limit` attempts per session and per client IP in any window, the
 * right code included, so five wrong codes lock the session for the rest of the window.
 * KEYS: widget index, IP rate-limit key.
 * ARGV: widget id, session id, candidate hash, window ms, limit, verified ttl ms, attempt id
 * -> {'NOSESSION'} | {'LOCKED', reset ms} | {'WRONG', attemptsLeft} | {'EXPIRED', attemptsLeft}
 *    | {'OK', expiresAt ms} */
sb_script_t sb_script_otp_verify = {
    "otp_verify",
    SB_LUA_RATELIMIT "local tid = redis.call('HGET', KEYS[1], ARGV[1])\n"
                     "if not tid then return {'NOSESSION'} end\n"
                     "local pre = 'sb:{t:' .. tid .. '}:'\n"
                     "local h = redis.call('GET', pre .. 'sessid:' .. ARGV[2])\n"
                     "if not h then return {'NOSESSION'} end\n"
                     "local skey = pre .. 'sess:' .. h\n"
                     "local s = redis.call('HMGET', skey, 'widgetId', 'mode', 'code', 'codeExpires')\n"
                     "if s[1] ~= ARGV[1] or s[2] ~= 'otp' then return {'NOSESSION'} end\n"
                     "local now = rl_now()\n"
                     "local window, limit = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
                     "local keys = {pre .. 'rate:otp:' .. ARGV[2], KEYS[2]}\n"
                     "local used = 0\n"
                     "for i, k in ipairs(keys) do\n"
                     "  local ok, n, reset = rl_check(k, now, window, limit)\n"
                     "  if not ok then return {'LOCKED', reset} end\n"
                     "  if i == 1 then used = n end\n"
                     "end\n"
                     "for _, k in ipairs(keys) do rl_add(k, now, window, limit) end\n"
                     "local left = limit - used - 1\n"
                     "if not s[3] then return {'WRONG', left} end\n"
                     "if tonumber(s[4]) < now then return {'EXPIRED', left} end\n"
                     "if s[3] ~= ARGV[3] then return {'WRONG', left} end\n"
                     "local ttl = tonumber(ARGV[6])\n"
                     "redis.call('HDEL', skey, 'code', 'codeExpires')\n"
                     "redis.call('HSET', skey, 'verified', '1', 'verifiedAt', now, 'expiresAt', now + ttl)\n"
                     "redis.call('PEXPIRE', skey, ttl)\n"
                     "redis.call('PEXPIRE', pre .. 'sessid:' .. ARGV[2], ttl)\n"
                     "return {'OK', now + ttl}\n",
    ""};

/* The stand-alone limiter. KEYS: limit key. ARGV: window ms, limit
 * -> {admitted 1/0, count, reset ms} */
sb_script_t sb_script_ratelimit = {"ratelimit",
                                   SB_LUA_RATELIMIT
                                   "local ok, n, reset = rl_admit(KEYS[1], rl_now(), tonumber(ARGV[1]), "
                                   "tonumber(ARGV[2]))\n"
                                   "return {ok and 1 or 0, n, reset}\n",
                                   ""};
