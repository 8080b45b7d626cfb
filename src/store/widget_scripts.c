/* Lua scripts of the widget routes (SPEC 4): one round trip per request. */
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
 * ARGV: widget id, origin ('' = none), window ms, limit, token hash, session id, ttl ms
 * -> {'NOWIDGET'} | {'ORIGIN'} | {'OTP'} | {'LIMIT', count, reset ms} | {'OK', count, reset ms, tenant}
 * The limiter is a sorted set of admission times; Redis's own clock, so every instance agrees. */
sb_script_t sb_script_session_start = {
    "session_start",
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
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local window, limit = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)\n"
    "local n = redis.call('ZCARD', KEYS[2])\n"
    "if n >= limit then\n"
    "  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')\n"
    "  return {'LIMIT', n, tonumber(first[2]) + window - now}\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], now, ARGV[6])\n"
    "redis.call('PEXPIRE', KEYS[2], window)\n"
    "local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')\n"
    "local skey = 'sb:{t:' .. tid .. '}:sess:' .. ARGV[5]\n"
    "redis.call('HSET', skey, 'id', ARGV[6], 'widgetId', ARGV[1], 'mode', 'anonymous', 'verified', '0',\n"
    "  'createdAt', now, 'expiresAt', now + tonumber(ARGV[7]))\n"
    "redis.call('PEXPIRE', skey, tonumber(ARGV[7]))\n"
    "return {'OK', n + 1, tonumber(first[2]) + window - now, tid, now + tonumber(ARGV[7])}\n",
    ""};
