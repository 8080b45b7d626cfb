/* Lua scripts of the widget routes (SPEC 4): one round trip per request. */
#include "lua_lib.h"
#include "switchboard/store.h"

/* Widget config, and the gate of widget routes that answer before their own script runs.
 * KEYS: widget index. ARGV: widget id, origin ('' = none)
 * -> {'NOWIDGET' | 'ORIGIN' | 'SUSPENDED'} or {'OK', widget JSON, agent JSON or ''} */
sb_script_t sb_script_widget_config = {"widget_config",
                                       SB_LUA_WIDGET
                                       "local g, err = widget_gate(KEYS[1], ARGV[1], ARGV[2])\n"
                                       "if not g then return {err} end\n"
                                       "local w = redis.call('HGET', 'sb:{t:' .. g.tid .. '}:widgets', ARGV[1])\n"
                                       "if not w then return {'NOWIDGET'} end\n"
                                       "local agent = ''\n"
                                       "if g.agent ~= '' then\n"
                                       "  agent = redis.call('HGET', 'sb:{t:' .. g.tid .. '}:agents', g.agent) or ''\n"
                                       "end\n"
                                       "return {'OK', w, agent}\n",
                                       ""};

/* Anonymous session start: origin check, exact rolling-window rate limit, session write.
 * Batched: per call KEYS: widget index, rate-limit key.
 * ARGV: widget id, origin ('' = none), window ms, limit, token hash, session id, ttl ms,
 *       conversation id (the session's conversation, created by its first message)
 * -> 'NOWIDGET' | 'ORIGIN' | 'OTP' | 'LIMIT <count> <reset ms>'
 *    | 'OK <count> <reset ms> <expiresAt ms> <tenant id>'
 * Each call answers one string: Redis converts a returned Lua table into a reply field by field
 * (about 0.8 us a call, measured), a string in one piece. The calls of one run share its clock
 * reading and each widget's gate (they happen at one instant), and what is made from them is
 * formatted once: the session key's prefix per widget, the expiry per TTL. The session is
 * written in sess_put's format (SB_LUA_SESSION) with those preformatted parts. */
sb_script_t sb_script_session_start = {
    "session_start",
    SB_LUA_RATELIMIT SB_LUA_WIDGET
    "local now, now_s, gates, exps = nil, nil, {}, {}\n"
    "local function item(k, a, n)\n"
    "  local wid, origin = ARGV[a + 1], ARGV[a + 2]\n"
    "  local gw = gates[wid]\n"
    "  if not gw then gw = {}; gates[wid] = gw end\n"
    "  local g = gw[origin]\n"
    "  if not g then\n"
    "    local err\n"
    "    g, err = widget_gate(KEYS[k + 1], wid, origin)\n"
    "    if g then g.sp = 'sb:{t:' .. g.tid .. '}:session:' end\n"
    "    g = g or err\n"
    "    gw[origin] = g\n"
    "  end\n"
    "  if type(g) == 'string' then return g end\n"
    "  if g.otp then return 'OTP' end\n"
    "  if not now then now = rl_now(); now_s = string.format('%d', now) end\n"
    "  local window = ARGV[a + 3]\n"
    "  local ok, c, reset = rl_admit(KEYS[k + 2], now, tonumber(window), tonumber(ARGV[a + 4]), now_s, window)\n"
    "  if not ok then return string.format('LIMIT %d %d', c, reset) end\n"
    "  local ttl = ARGV[a + 7]\n"
    "  local e = exps[ttl]\n"
    "  if not e then\n"
    "    local x = string.format('%d', now + tonumber(ttl))\n"
    "    e = {'|' .. x .. '||||', ' ' .. x .. ' '}\n"
    "    exps[ttl] = e\n"
    "  end\n"
    "  redis.call('SET', g.sp .. ARGV[a + 5], ARGV[a + 6] .. '|' .. wid .. '|anonymous|0|' .. ARGV[a + 8] .. '|' ..\n"
    "    now_s .. e[1], 'PX', ttl)\n"
    "  return string.format('OK %d %d', c, reset) .. e[2] .. g.tid\n"
    "end\n" SB_LUA_BATCH(2),
    "", 2};

/* OTP session start: like session_start, plus the SMS delivery that carries the code, queued in
 * the same script (the session never exists without its code on the way).
 * KEYS: rate-limit key, fresh stream, webhook secret.
 * ARGV: widget id, tenant id, window ms, limit, token hash, session id, ttl ms (pending),
 *       phone, code hash, code ttl ms, delivery JSON, new secret, new apiKey, conversation id
 * -> {'LIMIT', count, reset ms} | {'OK', count, reset ms, expiresAt ms} */
sb_script_t sb_script_otp_start = {
    "otp_start",
    SB_LUA_RATELIMIT SB_LUA_SESSION
    "local now = rl_now()\n"
    "local ok, n, reset = rl_admit(KEYS[1], now, tonumber(ARGV[3]), tonumber(ARGV[4]))\n"
    "if not ok then return {'LIMIT', n, reset} end\n"
    "local pre = 'sb:{t:' .. ARGV[2] .. '}:'\n"
    "local ttl = tonumber(ARGV[7])\n"
    "sess_put(pre .. 'session:' .. ARGV[5], ARGV[7], ARGV[6], ARGV[1], 'otp', '0', ARGV[14], now, now + ttl,\n"
    "  ARGV[8], ARGV[9], now + tonumber(ARGV[10]), '')\n"
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
 * ARGV: widget id, session id, candidate hash, window ms, limit, verified ttl ms, attempt id, origin
 * -> {'NOWIDGET' | 'ORIGIN' | 'SUSPENDED'} | {'NOSESSION'} | {'LOCKED', count, reset ms}
 *    | {'WRONG', attemptsLeft} | {'EXPIRED', attemptsLeft} | {'OK', expiresAt ms} */
sb_script_t sb_script_otp_verify = {
    "otp_verify",
    SB_LUA_RATELIMIT SB_LUA_SESSION SB_LUA_WIDGET
    "local g, err = widget_gate(KEYS[1], ARGV[1], ARGV[8])\n"
    "if not g then return {err} end\n"
    "local pre = 'sb:{t:' .. g.tid .. '}:'\n"
    "local h = redis.call('GET', pre .. 'sessid:' .. ARGV[2])\n"
    "if not h then return {'NOSESSION'} end\n"
    "local skey = pre .. 'session:' .. h\n"
    "local s = sess_get(skey)\n"
    "if not s or s.wid ~= ARGV[1] or s.mode ~= 'otp' then return {'NOSESSION'} end\n"
    "local now = rl_now()\n"
    "local window, limit = tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local keys = {pre .. 'rate:otp:' .. ARGV[2], KEYS[2]}\n"
    "local used, times = 0, {}\n"
    "for i, k in ipairs(keys) do\n"
    "  local ok, n, reset, s = rl_check(k, now, window, limit)\n"
    "  if not ok then return {'LOCKED', n, reset} end\n"
    "  if i == 1 then used = n end\n"
    "  times[i] = s\n"
    "end\n"
    "for i, k in ipairs(keys) do rl_add(k, times[i], now, window, limit) end\n"
    "local left = limit - used - 1\n"
    "if s.code == '' then return {'WRONG', left} end\n"
    "if tonumber(s.codeExpires) < now then return {'EXPIRED', left} end\n"
    "if s.code ~= ARGV[3] then return {'WRONG', left} end\n"
    "local ttl = tonumber(ARGV[6])\n"
    "sess_put(skey, ARGV[6], s.id, s.wid, s.mode, '1', s.conv, s.createdAt, now + ttl, s.phone, '', '', now)\n"
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
