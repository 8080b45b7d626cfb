/* Lua functions shared by several scripts, pasted in front of their bodies (Redis scripts cannot
 * call each other). Every function takes the call context `cx`: {now (ms), ts (seed 001
 * "YYYY-MM-DD HH:MM:SS"), rfc (RFC 3339), inst (instance id), eid (event id stem)}. */
#ifndef SWITCHBOARD_LUA_LIB_H
#define SWITCHBOARD_LUA_LIB_H

/* sb_emit(cx, tid, event, data JSON, event id) -> {{deliveryId, url}, ...}: fan-out of one
 * event to the tenant's subscribers (docs/deliveries.md). A disabled endpoint's delivery goes
 * straight to its dead letters; a paced subscription waits in its pacing line. */
#define SB_LUA_EMIT                                                                                                    \
    "local function sb_emit(cx, tid, event, data, eid)\n"                                                              \
    "  local tp = 'sb:{t:' .. tid .. '}:'\n"                                                                           \
    "  local raw = redis.call('GET', tp .. 'subs')\n"                                                                  \
    "  if not raw then return {} end\n"                                                                                \
    "  local subs = cjson.decode(raw)\n"                                                                               \
    "  local apikey = redis.call('HGET', tp .. 'whsecret', 'apiKey') or ''\n"                                          \
    "  local now = cx.now\n"                                                                                           \
    "  local out = {}\n"                                                                                               \
    "  for url, s in pairs(subs) do\n"                                                                                 \
    "    local match = false\n"                                                                                        \
    "    for _, e in ipairs(s.events) do if e == event then match = true; break end end\n"                             \
    "    if match then\n"                                                                                              \
    "      local enabled = redis.call('HGET', tp .. 'ep:' .. s.ep, 'enabled') ~= '0'\n"                                \
    "      local body\n"                                                                                               \
    "      if s.format == 'olay' then\n"                                                                               \
    "        body = '{\"olay\":' .. cjson.encode(event) .. ',\"zaman\":\"' .. cx.rfc .. '\",\"veri\":' .. data .. "    \
    "'}'\n"                                                                                                            \
    "      else\n"                                                                                                     \
    "        body = '{\"event_type\":' .. cjson.encode(event) .. ',\"timestamp\":\"' .. cx.ts ..\n"                    \
    "          '\",\"instance_id\":' .. cjson.encode(cx.inst) .. ',\"data\":' .. data .. ',\"api_key\":' ..\n"         \
    "          cjson.encode(apikey) .. '}'\n"                                                                          \
    "      end\n"                                                                                                      \
    "      local id = 'msg_' .. eid .. '_' .. s.ep\n"                                                                  \
    "      local d = {id = id, t = tid, k = 'event', ev = event, url = url, ep = s.ep, body = body,\n"                 \
    "                 to = s.timeoutMs or 3000, n = 0, ca = now}\n"                                                    \
    "      if s.paced then d.pk = tid .. ':' .. s.ep end\n"                                                            \
    "      local dj = cjson.encode(d)\n"                                                                               \
    "      if not enabled then\n"                                                                                      \
    "        local dead = cjson.encode({id = id, delivery = d, endpointId = s.ep, url = url, event = event,\n"         \
    "          attempts = 0, status = 0, failedAt = now, error = 'endpoint disabled'})\n"                              \
    "        redis.call('HSET', tp .. 'dead', id, dead)\n"                                                             \
    "        redis.call('ZADD', tp .. 'dead:idx', now, id)\n"                                                          \
    "        redis.call('INCR', 'sb:q:dead')\n"                                                                        \
    "      elseif d.pk then\n"                                                                                         \
    "        redis.call('RPUSH', 'sb:pace:' .. d.pk .. ':q', dj)\n"                                                    \
    "        local nxt = tonumber(redis.call('GET', 'sb:pace:' .. d.pk .. ':next') or '0')\n"                          \
    "        redis.call('ZADD', 'sb:pace:due', 'NX', math.max(now, nxt), d.pk)\n"                                      \
    "      else\n"                                                                                                     \
    "        redis.call('XADD', 'sb:q:fresh', '*', 'd', dj)\n"                                                         \
    "      end\n"                                                                                                      \
    "      out[#out + 1] = {id, url}\n"                                                                                \
    "    end\n"                                                                                                        \
    "  end\n"                                                                                                          \
    "  return out\n"                                                                                                   \
    "end\n"

/* Conversations (docs/conversations.md). A conversation is the hash tp..'conv:'..cid; its
 * open ones are also in the global 'sb:convs:idle' by last activity ('<tid>:<cid>'), for the
 * idle-timeout close; its
 * messages a sorted set by seq (tp..'conv:'..cid..':msgs'); seq counts every event of the
 * conversation. Messages are JSON put together from pieces the C side validated and encoded:
 * sender JSON, mtail (the message's other members) and etail (the event data's other members).
 *   conv_open(cx, tid, channel, channelId, chatId, new cid, agentId) -> cid, c
 *   conv_event(cx, tid, cid, c, event, suffix)                         -> seq (c.reason: data.reason)
 *   conv_append(cx, tid, cid, c, event, sender, mtail, etail, mid, suffix) -> seq, message, data
 *     (event nil: the message is stored and nothing is emitted yet)
 *   conv_shut(cx, tid, cid, reason, suffix) -> conversation key (nil: none): closes, dialog_closed once
 *   conv_agent(cx, tid, cid, agentId, mid, data): the message_received delivery to the agent */
#define SB_LUA_CONV                                                                                                    \
    "local function conv_data(cid, c, seq)\n"                                                                          \
    "  return '{\"seq\":' .. seq .. ',\"conversation_id\":\"' .. cid .. '\",\"channel\":' .. cjson.encode(c.channel) " \
    "..\n"                                                                                                             \
    "    ',\"channel_id\":' .. cjson.encode(c.channelId) .. ',\"chat_id\":' .. cjson.encode(c.chatId)\n"               \
    "end\n"                                                                                                            \
    "local function conv_index(tp, cid, status, now)\n"                                                                \
    "  redis.call('ZADD', tp .. 'convs', now, cid)\n"                                                                  \
    "  redis.call('ZREM', tp .. 'convs:' .. (status == 'open' and 'closed' or 'open'), cid)\n"                         \
    "  redis.call('ZADD', tp .. 'convs:' .. status, now, cid)\n"                                                       \
    "  local idle = string.sub(tp, 7, -3) .. ':' .. cid\n"                                                             \
    "  if status == 'open' then redis.call('ZADD', 'sb:convs:idle', now, idle)\n"                                      \
    "  else redis.call('ZREM', 'sb:convs:idle', idle) end\n"                                                           \
    "end\n"                                                                                                            \
    "local function conv_event(cx, tid, cid, c, event, suffix)\n"                                                      \
    "  local tp = 'sb:{t:' .. tid .. '}:'\n"                                                                           \
    "  local seq = redis.call('HINCRBY', tp .. 'conv:' .. cid, 'seq', 1)\n"                                            \
    "  local data = conv_data(cid, c, seq) .. ',\"status\":' .. cjson.encode(c.status)\n"                              \
    "  if c.reason then data = data .. ',\"reason\":' .. cjson.encode(c.reason) end\n"                                 \
    "  data = data .. '}'\n"                                                                                           \
    "  sb_emit(cx, tid, event, data, cx.eid .. suffix)\n"                                                              \
    "  return seq\n"                                                                                                   \
    "end\n"                                                                                                            \
    "local function conv_open(cx, tid, channel, chid, chat, newcid, agent)\n"                                          \
    "  local tp = 'sb:{t:' .. tid .. '}:'\n"                                                                           \
    "  local xk = tp .. 'convx:' .. channel .. ':' .. chid .. ':' .. chat\n"                                           \
    "  local cid = redis.call('GET', xk)\n"                                                                            \
    "  local c\n"                                                                                                      \
    "  if not cid then\n"                                                                                              \
    "    cid = newcid\n"                                                                                               \
    "    redis.call('SET', xk, cid)\n"                                                                                 \
    "    c = {channel = channel, channelId = chid, chatId = chat, status = 'open', agentId = agent}\n"                 \
    "    redis.call('HSET', tp .. 'conv:' .. cid, 'id', cid, 'channel', channel, 'channelId', chid, 'chatId', chat,\n" \
    "      'status', 'open', 'seq', 0, 'createdAt', cx.rfc, 'updatedAt', cx.rfc, 'agentId', agent)\n"                  \
    "    conv_index(tp, cid, 'open', cx.now)\n"                                                                        \
    "    conv_event(cx, tid, cid, c, 'dialog_created', 'c')\n"                                                         \
    "  else\n"                                                                                                         \
    "    local h = redis.call('HMGET', tp .. 'conv:' .. cid, 'channel', 'channelId', 'chatId', 'status')\n"            \
    "    c = {channel = h[1], channelId = h[2], chatId = h[3], status = h[4], agentId = agent}\n"                      \
    "    if c.status == 'closed' then\n"                                                                               \
    "      c.status = 'open'\n"                                                                                        \
    "      redis.call('HSET', tp .. 'conv:' .. cid, 'status', 'open', 'updatedAt', cx.rfc, 'agentId', agent)\n"        \
    "      conv_index(tp, cid, 'open', cx.now)\n"                                                                      \
    "      conv_event(cx, tid, cid, c, 'dialog_reopened', 'o')\n"                                                      \
    "    end\n"                                                                                                        \
    "  end\n"                                                                                                          \
    "  return cid, c\n"                                                                                                \
    "end\n"                                                                                                            \
    "local function conv_append(cx, tid, cid, c, event, sender, mtail, etail, mid, suffix)\n"                          \
    "  local tp = 'sb:{t:' .. tid .. '}:'\n"                                                                           \
    "  local ck = tp .. 'conv:' .. cid\n"                                                                              \
    "  local seq = redis.call('HINCRBY', ck, 'seq', 1)\n"                                                              \
    "  local mj = '{\"seq\":' .. seq .. ',\"conversationId\":\"' .. cid .. '\",\"sender\":' .. sender .. ',' .. "      \
    "mtail .. '}'\n"                                                                                                   \
    "  redis.call('ZADD', ck .. ':msgs', seq, mj)\n"                                                                   \
    "  redis.call('HSET', ck .. ':mids', mid, seq)\n"                                                                  \
    "  redis.call('HSET', ck, 'updatedAt', cx.rfc, 'lastMessageAt', cx.rfc)\n"                                         \
    "  conv_index(tp, cid, c.status, cx.now)\n"                                                                        \
    "  local data = conv_data(cid, c, seq) .. ',\"sender\":' .. sender .. ',' .. etail .. '}'\n"                       \
    "  if event then sb_emit(cx, tid, event, data, cx.eid .. suffix) end\n"                                            \
    "  redis.call('PUBLISH', tp .. 'live:' .. cid, mj)\n"                                                              \
    "  return seq, mj, data\n"                                                                                         \
    "end\n"                                                                                                            \
    "local function conv_shut(cx, tid, cid, reason, suffix)\n"                                                         \
    "  local tp = 'sb:{t:' .. tid .. '}:'\n"                                                                           \
    "  local ck = tp .. 'conv:' .. cid\n"                                                                              \
    "  local h = redis.call('HMGET', ck, 'channel', 'channelId', 'chatId', 'status')\n"                                \
    "  if not h[1] then return nil end\n"                                                                              \
    "  if h[4] ~= 'closed' then\n"                                                                                     \
    "    local c = {channel = h[1], channelId = h[2], chatId = h[3], status = 'closed', reason = reason}\n"            \
    "    redis.call('HSET', ck, 'status', 'closed', 'updatedAt', cx.rfc, 'closedAt', cx.rfc)\n"                        \
    "    conv_index(tp, cid, 'closed', cx.now)\n"                                                                      \
    "    conv_event(cx, tid, cid, c, 'dialog_closed', suffix)\n"                                                       \
    "  end\n"                                                                                                          \
    "  return ck\n"                                                                                                    \
    "end\n"                                                                                                            \
    "local function conv_agent(cx, tid, cid, agent, mid, data)\n"                                                      \
    "  if type(agent) ~= 'string' or agent == '' then return end\n"                                                    \
    "  local tp = 'sb:{t:' .. tid .. '}:'\n"                                                                           \
    "  local a = redis.call('HGET', tp .. 'agents', agent)\n"                                                          \
    "  if not a then return end\n"                                                                                     \
    "  local o = cjson.decode(a)\n"                                                                                    \
    "  if type(o.webhookUrl) ~= 'string' or type(o.endpointId) ~= 'string' then return end\n"                          \
    "  local apikey = redis.call('HGET', tp .. 'whsecret', 'apiKey') or ''\n"                                          \
    "  local body = '{\"event_type\":\"message_received\",\"timestamp\":\"' .. cx.ts .. '\",\"instance_id\":' ..\n"    \
    "    cjson.encode(cx.inst) .. ',\"data\":' .. data .. ',\"api_key\":' .. cjson.encode(apikey) .. '}'\n"            \
    "  local d = {id = 'ag_' .. mid, t = tid, k = 'agent', ev = 'message_received', url = o.webhookUrl,\n"             \
    "             ep = o.endpointId, body = body, to = 3000, n = 0, ca = cx.now, ag = agent, cid = cid}\n"             \
    "  redis.call('XADD', 'sb:q:fresh', '*', 'd', cjson.encode(d))\n"                                                  \
    "end\n"

/* The exact rolling-window limiter (docs/ratelimit.md): one string per key, the times of the
 * last admissions on Redis's own clock, newest first, space-separated, never more than `limit`
 * of them, so every instance agrees and no window ever holds more than `limit` admissions. The
 * key expires with the window. A fresh subject costs one call: SET NX GET creates it with its
 * TTL, or hands back the times already there (nothing written); an admission rewrites the times
 * in the window with the new one in front, a refusal writes nothing.
 *   rl_now()                               -> ms
 *   rl_check(key, now, window, limit)      -> ok, count in the window, reset ms, the times read
 *                                             (nothing written)
 *   rl_add(key, times, now, window, limit) records an admission on top of rl_check's times
 *   rl_admit(key, now, window, limit[, now_s, window_s]) -> ok, count (with this one when
 *                                             admitted), reset ms
 * A key written by an earlier build (a list, newest first) is converted in place with its TTL
 * the first time it is met (rl_legacy); any other failure (a key of another type: WRONGTYPE, an
 * OOM refusal) fails the call with Redis's error.
 * Times are written with string.format('%d'): Lua's own number-to-string is a slow
 * printf("%.14g"). */
#define SB_LUA_RATELIMIT                                                                                               \
    "local function rl_now()\n"                                                                                        \
    "  local t = redis.call('TIME')\n"                                                                                 \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                                             \
    "end\n"                                                                                                            \
    "local function rl_scan(s, now, window, limit)\n"                                                                  \
    "  local n, oldest, last = 0, nil, 0\n"                                                                            \
    "  for t, e in string.gmatch(s, '(%d+)()') do\n"                                                                   \
    "    t = tonumber(t)\n"                                                                                            \
    "    if n >= limit or t <= now - window then break end\n"                                                          \
    "    n, oldest, last = n + 1, t, e - 1\n"                                                                          \
    "  end\n"                                                                                                          \
    "  return n, oldest and (oldest + window - now) or window, last\n"                                                 \
    "end\n"                                                                                                            \
    "local function rl_legacy(key, err, window_s)\n"                                                                   \
    "  if redis.call('TYPE', key).ok ~= 'list' then error(err) end\n"                                                  \
    "  local l = redis.call('LRANGE', key, 0, -1)\n"                                                                   \
    "  local ttl = redis.call('PTTL', key)\n"                                                                          \
    "  redis.call('DEL', key)\n"                                                                                       \
    "  local s = table.concat(l, ' ')\n"                                                                               \
    "  if s ~= '' then redis.call('SET', key, s, 'PX', ttl > 0 and ttl or window_s) end\n"                             \
    "  return s\n"                                                                                                     \
    "end\n"                                                                                                            \
    "local function rl_get(key, window)\n"                                                                             \
    "  local s = redis.pcall('GET', key)\n"                                                                            \
    "  if type(s) == 'table' then s = rl_legacy(key, s, string.format('%d', window)) end\n"                            \
    "  return s or ''\n"                                                                                               \
    "end\n"                                                                                                            \
    "local function rl_put(key, s, last, now_s, window_s)\n"                                                           \
    "  redis.call('SET', key, last > 0 and (now_s .. ' ' .. string.sub(s, 1, last)) or now_s, 'PX', window_s)\n"       \
    "end\n"                                                                                                            \
    "local function rl_check(key, now, window, limit)\n"                                                               \
    "  local s = rl_get(key, window)\n"                                                                                \
    "  local n, reset = rl_scan(s, now, window, limit)\n"                                                              \
    "  return n < limit, n, reset, s\n"                                                                                \
    "end\n"                                                                                                            \
    "local function rl_add(key, s, now, window, limit)\n"                                                              \
    "  local _, _, last = rl_scan(s, now, window, limit - 1)\n"                                                        \
    "  rl_put(key, s, last, string.format('%d', now), string.format('%d', window))\n"                                  \
    "end\n"                                                                                                            \
    "local function rl_admit(key, now, window, limit, now_s, window_s)\n"                                              \
    "  now_s, window_s = now_s or string.format('%d', now), window_s or string.format('%d', window)\n"                 \
    "  local s = redis.pcall('SET', key, now_s, 'PX', window_s, 'NX', 'GET')\n"                                        \
    "  if type(s) == 'table' then s = rl_legacy(key, s, window_s) end\n"                                               \
    "  if not s then return true, 1, window end\n"                                                                     \
    "  local n, reset, last = rl_scan(s, now, window, limit)\n"                                                        \
    "  if n >= limit then return false, n, reset end\n"                                                                \
    "  rl_put(key, s, last, now_s, window_s)\n"                                                                        \
    "  return true, n + 1, reset\n"                                                                                    \
    "end\n"

/* widget_gate(idx, widget id, origin) -> {tid, otp (bool), agent ('' = none)} or nil, 'NOWIDGET' |
 * 'ORIGIN' | 'SUSPENDED' (the tenant is; after the origin check, so a foreign page learns
 * nothing of the tenant). Every public widget route passes it first. The widget index holds per widget 'tid|otp 0/1|agent id|origin origin ...' (written
 * with the widget, docs/keys.md), so the public routes read one field and decode no JSON. An
 * index entry of a bare tenant id (written before the gate existed) is completed from the
 * widget record. Origins hold no spaces (validated); an origin with one never matches. */
#define SB_LUA_WIDGET                                                                                                  \
    "local function widget_gate(idx, wid, origin)\n"                                                                   \
    "  local g = redis.call('HGET', idx, wid)\n"                                                                       \
    "  if not g then return nil, 'NOWIDGET' end\n"                                                                     \
    "  local tid, otp, agent, origins = string.match(g, '^([^|]*)|([01])|([^|]*)|(.*)$')\n"                            \
    "  if not tid then\n"                                                                                              \
    "    tid = g\n"                                                                                                    \
    "    local w = redis.call('HGET', 'sb:{t:' .. tid .. '}:widgets', wid)\n"                                          \
    "    if not w then return nil, 'NOWIDGET' end\n"                                                                   \
    "    local o = cjson.decode(w)\n"                                                                                  \
    "    otp = o.otpRequired == true and '1' or '0'\n"                                                                 \
    "    agent = type(o.agentId) == 'string' and o.agentId or ''\n"                                                    \
    "    origins = type(o.allowedOrigins) == 'table' and table.concat(o.allowedOrigins, ' ') or ''\n"                  \
    "  end\n"                                                                                                          \
    "  if origins ~= '' and (origin == '' or string.find(origin, ' ', 1, true) or\n"                                   \
    "      not string.find(' ' .. origins .. ' ', ' ' .. origin .. ' ', 1, true)) then\n"                              \
    "    return nil, 'ORIGIN'\n"                                                                                       \
    "  end\n"                                                                                                          \
    "  local status = redis.call('HGET', 'sb:{t:' .. tid .. '}:tenant', 'status')\n"                                  \
    "  if status ~= 'active' then return nil, status and 'SUSPENDED' or 'NOWIDGET' end\n"                             \
    "  return {tid = tid, otp = otp == '1', agent = agent}\n"                                                          \
    "end\n"

/* A widget session is one string with a TTL (docs/keys.md):
 * 'id|widgetId|mode|verified 0/1|conv|createdAt|expiresAt|phone|code hash|codeExpires|verifiedAt'.
 * sess_get(key) -> table or nil; sess_put(key, ttl ms, the fields in that order) writes it with
 * its TTL (no table to build on the hot path). Times are kept as the strings they were written
 * as: a number is formatted only when it is made. */
#define SB_LUA_SESSION                                                                                                 \
    "local function sess_get(key)\n"                                                                                   \
    "  local v = redis.call('GET', key)\n"                                                                             \
    "  if not v then return nil end\n"                                                                                 \
    "  local f = {string.match(v, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|'\n"       \
    "    .. '([^|]*)|([^|]*)$')}\n"                                                                                    \
    "  if not f[1] then return nil end\n"                                                                              \
    "  return {id = f[1], wid = f[2], mode = f[3], verified = f[4], conv = f[5], createdAt = f[6],\n"                  \
    "    expiresAt = f[7], phone = f[8], code = f[9], codeExpires = f[10], verifiedAt = f[11]}\n"                      \
    "end\n"                                                                                                            \
    "local function sess_ms(v) return type(v) == 'number' and string.format('%d', v) or v end\n"                       \
    "local function sess_put(key, ttl, id, wid, mode, verified, conv, created, expires, phone, code, codeexp, vat)\n"  \
    "  redis.call('SET', key, id .. '|' .. wid .. '|' .. mode .. '|' .. verified .. '|' .. conv .. '|' ..\n"           \
    "    sess_ms(created) .. '|' .. sess_ms(expires) .. '|' .. phone .. '|' .. code .. '|' .. sess_ms(codeexp) ..\n"   \
    "    '|' .. sess_ms(vat), 'PX', ttl)\n"                                                                            \
    "end\n"

/* The frame of a batched script (store.h, sb_script_t.batch_keys = K): the script first defines
 * item(k, a, n), which serves one call: its keys are KEYS[k + 1 .. k + K], its arguments
 * ARGV[a + 1 .. a + n] (ARGV[a] is n), and it returns that call's reply, never nil. The calls
 * run in the order they were made; an error in one (a failed redis.call or a Lua error) becomes
 * that call's error reply and the next call runs. */
#define SB_LUA_BATCH(K)                                                                                                \
    "local out, a = {}, 1\n"                                                                                           \
    "for i = 0, #KEYS / " #K " - 1 do\n"                                                                               \
    "  local n = tonumber(ARGV[a])\n"                                                                                  \
    "  local ok, r = pcall(item, i * " #K ", a, n)\n"                                                                  \
    "  if not ok then r = type(r) == 'table' and r.err and r or redis.error_reply(tostring(r)) end\n"                  \
    "  out[i + 1] = r\n"                                                                                               \
    "  a = a + n + 1\n"                                                                                                \
    "end\n"                                                                                                            \
    "return out\n"

#endif
