/* Lua scripts of conversations (docs/conversations.md) and of the widget's session routes
 * (docs/widget.md): each request is one script, one round trip. */
#include "lua_lib.h"
#include "switchboard/store.h"

/* widget_auth(idx, widgetId, origin, token hash) -> {tid, agent, sid, conv} or nil, error:
 * 'NOWIDGET' | 'ORIGIN' | 'NOSESSION' (unknown, expired, other widget) | 'UNVERIFIED'. */
#define LUA_WIDGET_AUTH                                                                                                \
    SB_LUA_WIDGET SB_LUA_SESSION                                                                                       \
        "local function widget_auth(idx, wid, origin, tokhash)\n"                                                      \
        "  local g, err = widget_gate(idx, wid, origin)\n"                                                             \
        "  if not g then return nil, err end\n"                                                                        \
        "  if tokhash == '' then return nil, 'NOSESSION' end\n"                                                        \
        "  local s = sess_get('sb:{t:' .. g.tid .. '}:session:' .. tokhash)\n"                                         \
        "  if not s or s.wid ~= wid then return nil, 'NOSESSION' end\n"                                                \
        "  if s.verified ~= '1' and (g.otp or s.mode == 'otp') then return nil, 'UNVERIFIED' end\n"                    \
        "  return {tid = g.tid, agent = g.agent, sid = s.id, conv = s.conv}\n"                                         \
        "end\n"

/* Reads messages of a conversation with seq > from, internal notes left out (the customer's
 * side reads this): {current seq, more (0/1), message, ...}. */
#define LUA_CONV_READ                                                                                                  \
    "local function conv_read(ck, from, lim)\n"                                                                        \
    "  local out = {tonumber(redis.call('HGET', ck, 'seq') or '0'), 0}\n"                                              \
    "  while true do\n"                                                                                                \
    "    local items = redis.call('ZRANGEBYSCORE', ck .. ':msgs', '(' .. from, '+inf', 'WITHSCORES', 'LIMIT', 0, lim " \
    "+ 1)\n"                                                                                                           \
    "    if #items == 0 then return out end\n"                                                                         \
    "    for i = 1, #items, 2 do\n"                                                                                    \
    "      from = items[i + 1]\n"                                                                                      \
    "      if not string.find(items[i], '\"direction\":\"internal\"', 1, true) then\n"                                 \
    "        if #out - 2 == lim then out[2] = 1; return out end\n"                                                     \
    "        out[#out + 1] = items[i]\n"                                                                               \
    "      end\n"                                                                                                      \
    "    end\n"                                                                                                        \
    "  end\n"                                                                                                          \
    "end\n"

/* A customer message from the widget, limited per session. KEYS: widget index.
 * ARGV: cx JSON, widget id, origin, token hash, message id, mtail, etail, new conversation id,
 *       limit key prefix (the session id follows), window ms, limit
 * -> {error} | {'LIMIT', count, reset ms} | {'OK', tenant id, message JSON, count, reset ms} */
sb_script_t sb_script_widget_message = {
    "widget_message",
    SB_LUA_EMIT SB_LUA_CONV SB_LUA_RATELIMIT LUA_WIDGET_AUTH
    "local cx = cjson.decode(ARGV[1])\n"
    "local a, err = widget_auth(KEYS[1], ARGV[2], ARGV[3], ARGV[4])\n"
    "if not a then return {err} end\n"
    "local ok, n, reset = rl_admit(ARGV[9] .. a.sid, rl_now(), tonumber(ARGV[10]), tonumber(ARGV[11]))\n"
    "if not ok then return {'LIMIT', n, reset} end\n"
    "local agent = a.agent\n"
    "local cid, c = conv_open(cx, a.tid, 'widget', ARGV[2], a.sid, a.conv ~= '' and a.conv or ARGV[8], agent)\n"
    "local sender = '{\"type\":\"customer\",\"id\":\"' .. a.sid .. '\"}'\n"
    "local seq, mj, data = conv_append(cx, a.tid, cid, c, 'message_received', sender, ARGV[6], ARGV[7], ARGV[5], "
    "'m')\n"
    "conv_agent(cx, a.tid, cid, agent, ARGV[5], data)\n"
    "return {'OK', a.tid, mj, n, reset}\n",
    ""};

/* The session's messages. KEYS: widget index.
 * ARGV: widget id, origin, token hash, after ('' from the start, 'now' none: only the current
 * seq, a seq or a message id), limit
 * -> {error} | {'BADAFTER'} | {'OK', tenant id, conversation id or '', current seq, more, message...} */
sb_script_t sb_script_widget_read = {"widget_read",
                                     LUA_WIDGET_AUTH LUA_CONV_READ
                                     "local a, err = widget_auth(KEYS[1], ARGV[1], ARGV[2], ARGV[3])\n"
                                     "if not a then return {err} end\n"
                                     "local cid = a.conv\n"
                                     "if cid == '' then return {'OK', a.tid, '', 0, 0} end\n"
                                     "local ck = 'sb:{t:' .. a.tid .. '}:conv:' .. cid\n"
                                     "local exists = redis.call('EXISTS', ck) == 1\n"
                                     "local after, from = ARGV[4], 0\n"
                                     "if after == 'now' then\n"
                                     "  return {'OK', a.tid, cid, tonumber(redis.call('HGET', ck, 'seq') or '0'), 0}\n"
                                     "elseif string.find(after, '^%d+$') then\n"
                                     "  from = tonumber(after)\n"
                                     "elseif after ~= '' then\n"
                                     "  local s = redis.call('HGET', ck .. ':mids', after)\n"
                                     "  if not s then return {'BADAFTER'} end\n"
                                     "  from = tonumber(s)\n"
                                     "end\n"
                                     "local r = conv_read(ck, from, tonumber(ARGV[5]))\n"
                                     "local out = {'OK', a.tid, exists and cid or ''}\n"
                                     "for _, v in ipairs(r) do out[#out + 1] = v end\n"
                                     "return out\n",
                                     ""};

/* Messages after a seq, for an open event stream. ARGV: conversation key, from, limit
 * -> {current seq, more, message...} */
sb_script_t sb_script_conv_since = {"conv_since",
                                    LUA_CONV_READ "return conv_read(ARGV[1], tonumber(ARGV[2]), "
                                                  "tonumber(ARGV[3]))\n",
                                    ""};

/* An outbound message (operator through the API, or the agent's answer). In a widget
 * conversation it is stored and emitted (message_sent) at once. In a platform conversation it is
 * stored with "status":"queued" and its send through the platform's API joins the sending
 * account's pacing line (FIFO, one send in flight per account, docs/channels.md); message_sent
 * follows once the platform accepted it (conv_sent).
 * ARGV: cx JSON, tenant id, conversation id, message id, sender JSON, mtail, etail, once key
 * ('' = none: otherwise a second call with the same key changes nothing), text for the platform
 * -> {'NOCONV'} | {'DUP'} | {'OK', message JSON} */
sb_script_t sb_script_conv_reply = {
    "conv_reply",
    SB_LUA_EMIT SB_LUA_CONV
    "local cx = cjson.decode(ARGV[1])\n"
    "local tp = 'sb:{t:' .. ARGV[2] .. '}:'\n"
    "local h = redis.call('HMGET', tp .. 'conv:' .. ARGV[3], 'channel', 'channelId', 'chatId', 'status', 'agentId',\n"
    "  'serviceUrl', 'thread')\n"
    "if not h[1] then return {'NOCONV'} end\n"
    "if ARGV[8] ~= '' and not redis.call('SET', tp .. 'once:' .. ARGV[8], '1', 'NX', 'EX', 604800) then\n"
    "  return {'DUP'}\n"
    "end\n"
    "local c = {channel = h[1], channelId = h[2], chatId = h[3], status = h[4], agentId = h[5]}\n"
    "if c.channel == 'widget' then\n"
    "  local seq, mj = conv_append(cx, ARGV[2], ARGV[3], c, 'message_sent', ARGV[5], ARGV[6], ARGV[7], ARGV[4], 'r')\n"
    "  return {'OK', mj}\n"
    "end\n"
    "local seq, mj, data = conv_append(cx, ARGV[2], ARGV[3], c, nil, ARGV[5], ARGV[6] .. ',\"status\":\"queued\"',\n"
    "  ARGV[7], ARGV[4], 'r')\n"
    "local pk = 'send:' .. ARGV[2] .. ':' .. c.channelId\n"
    "local d = {id = 'snd_' .. ARGV[4], t = ARGV[2], k = 'send', ev = 'message_sent', pf = c.channel,\n"
    "  ch = c.channelId, chat = c.chatId, svc = h[6] or '', th = h[7] or '', cid = ARGV[3], mid = ARGV[4], seq = seq,\n"
    "  tx = ARGV[9],\n"
    "  ed = data, url = 'send:' .. c.channel, ep = string.sub(redis.sha1hex(pk), 1, 16), body = '',\n"
    "  to = 10000, n = 0, ca = cx.now, pk = pk}\n"
    "redis.call('RPUSH', 'sb:pace:' .. pk .. ':q', cjson.encode(d))\n"
    "local nxt = tonumber(redis.call('GET', 'sb:pace:' .. pk .. ':next') or '0')\n"
    "redis.call('ZADD', 'sb:pace:due', 'NX', math.max(cx.now, nxt), pk)\n"
    "return {'OK', mj}\n",
    ""};

/* The platform's verdict on a send: the message's status becomes 'sent' (with the platform's
 * message id) or 'failed' (with the error), and message_sent is emitted for a sent one, once.
 * The status members are the message's last (conv_reply put them there); they are rewritten.
 * ARGV: cx JSON, tenant id, conversation id, seq, platform message id, event data JSON, once key ('' none),
 *       'sent' | 'failed', error -> {'OK'} | {'DUP'} */
sb_script_t sb_script_conv_sent = {
    "conv_sent",
    SB_LUA_EMIT
    "local cx = cjson.decode(ARGV[1])\n"
    "local tp = 'sb:{t:' .. ARGV[2] .. '}:'\n"
    "if ARGV[7] ~= '' and not redis.call('SET', tp .. 'once:' .. ARGV[7], '1', 'NX', 'EX', 604800) then\n"
    "  return {'DUP'}\n"
    "end\n"
    "local mk = tp .. 'conv:' .. ARGV[3] .. ':msgs'\n"
    "local m = redis.call('ZRANGEBYSCORE', mk, ARGV[4], ARGV[4])[1]\n"
    "local at, from = nil, 1\n"
    "while m do\n"
    "  local j = string.find(m, ',\"status\":\"', from, true)\n"
    "  if not j then break end\n"
    "  at, from = j, j + 1\n"
    "end\n"
    "if at then\n"
    "  local add = ',\"status\":' .. cjson.encode(ARGV[8])\n"
    "  if ARGV[5] ~= '' then add = add .. ',\"platformMessageId\":' .. cjson.encode(ARGV[5]) end\n"
    "  if ARGV[9] ~= '' then add = add .. ',\"error\":' .. cjson.encode(ARGV[9]) end\n"
    "  redis.call('ZREMRANGEBYSCORE', mk, ARGV[4], ARGV[4])\n"
    "  redis.call('ZADD', mk, ARGV[4], string.sub(m, 1, at - 1) .. add .. '}')\n"
    "end\n"
    "if ARGV[8] == 'sent' then\n"
    "  local data = string.sub(ARGV[6], 1, -2) .. ',\"platform_message_id\":' .. cjson.encode(ARGV[5]) .. '}'\n"
    "  sb_emit(cx, ARGV[2], 'message_sent', data, cx.eid .. 's')\n"
    "end\n"
    "return {'OK'}\n",
    ""};

/* ARGV: cx JSON, tenant id, conversation id -> {'NOCONV'} | {'OK', HGETALL of the conversation} */
sb_script_t sb_script_conv_close = {"conv_close",
                                    SB_LUA_EMIT SB_LUA_CONV
                                    "local ck = conv_shut(cjson.decode(ARGV[1]), ARGV[2], ARGV[3], nil, 'x')\n"
                                    "if not ck then return {'NOCONV'} end\n"
                                    "return {'OK', redis.call('HGETALL', ck)}\n",
                                    ""};

/* The idle-timeout close: open conversations without activity since the cutoff are closed
 * (dialog_closed with reason "idle"). ARGV: cx JSON, cutoff ms, max -> how many were closed */
sb_script_t sb_script_conv_idle = {"conv_idle",
                                   SB_LUA_EMIT SB_LUA_CONV
                                   "local cx = cjson.decode(ARGV[1])\n"
                                   "local n = 0\n"
                                   "for i, m in ipairs(redis.call('ZRANGEBYSCORE', 'sb:convs:idle', '-inf', ARGV[2], "
                                   "'LIMIT', 0, tonumber(ARGV[3]))) do\n"
                                   "  redis.call('ZREM', 'sb:convs:idle', m)\n"
                                   "  local tid, cid = string.match(m, '^([^:]+):(.+)$')\n"
                                   "  if tid and conv_shut(cx, tid, cid, 'idle', 'x' .. i) then n = n + 1 end\n"
                                   "end\n"
                                   "return n\n",
                                   ""};

/* An internal note (a command's answer): stored with the conversation's messages, seen through
 * the native API only (no event, no live publish; the widget's reads skip it).
 * ARGV: cx JSON, tenant id, conversation id, message id, sender JSON, mtail
 * -> {'NOCONV'} | {'OK', message JSON} */
sb_script_t sb_script_conv_note = {
    "conv_note",
    "local cx = cjson.decode(ARGV[1])\n"
    "local ck = 'sb:{t:' .. ARGV[2] .. '}:conv:' .. ARGV[3]\n"
    "if redis.call('EXISTS', ck) == 0 then return {'NOCONV'} end\n"
    "local seq = redis.call('HINCRBY', ck, 'seq', 1)\n"
    "local mj = '{\"seq\":' .. seq .. ',\"conversationId\":\"' .. ARGV[3] .. '\",\"sender\":' .. ARGV[5] .. ',' ..\n"
    "  ARGV[6] .. '}'\n"
    "redis.call('ZADD', ck .. ':msgs', seq, mj)\n"
    "redis.call('HSET', ck .. ':mids', ARGV[4], seq)\n"
    "redis.call('HSET', ck, 'updatedAt', cx.rfc)\n"
    "return {'OK', mj}\n",
    ""};

/* ARGV: tenant prefix, status ('' all, open, closed), offset, count
 * -> {total, {HGETALL}, ...} newest activity first */
sb_script_t sb_script_conv_list = {"conv_list",
                                   "local z = ARGV[1] .. 'convs' .. (ARGV[2] ~= '' and (':' .. ARGV[2]) or '')\n"
                                   "local off, n = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
                                   "local out = {redis.call('ZCARD', z)}\n"
                                   "for _, cid in ipairs(redis.call('ZREVRANGE', z, off, off + n - 1)) do\n"
                                   "  out[#out + 1] = redis.call('HGETALL', ARGV[1] .. 'conv:' .. cid)\n"
                                   "end\n"
                                   "return out\n",
                                   ""};

/* ARGV: conversation key, offset, count -> {exists 0/1, total, message...} oldest first */
sb_script_t sb_script_conv_messages = {
    "conv_messages",
    "if redis.call('EXISTS', ARGV[1]) == 0 then return {0, 0} end\n"
    "local off, n = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local out = {1, redis.call('ZCARD', ARGV[1] .. ':msgs')}\n"
    "for _, m in ipairs(redis.call('ZRANGE', ARGV[1] .. ':msgs', off, off + n - 1)) do out[#out + 1] = m end\n"
    "return out\n",
    ""};
