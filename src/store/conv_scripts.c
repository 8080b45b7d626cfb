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

/* Reads messages of a conversation with seq > from: {current seq, more (0/1), message, ...}. */
#define LUA_CONV_READ                                                                                                  \
    "local function conv_read(ck, from, lim)\n"                                                                        \
    "  local cur = tonumber(redis.call('HGET', ck, 'seq') or '0')\n"                                                   \
    "  local items = redis.call('ZRANGEBYSCORE', ck .. ':msgs', '(' .. from, '+inf', 'LIMIT', 0, lim + 1)\n"           \
    "  local more = 0\n"                                                                                               \
    "  if #items > lim then more = 1; items[#items] = nil end\n"                                                       \
    "  local out = {cur, more}\n"                                                                                      \
    "  for _, m in ipairs(items) do out[#out + 1] = m end\n"                                                           \
    "  return out\n"                                                                                                   \
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

/* An outbound message (operator through the API, or the agent's answer).
 * ARGV: cx JSON, tenant id, conversation id, message id, sender JSON, mtail, etail, once key
 * ('' = none: otherwise a second call with the same key changes nothing)
 * -> {'NOCONV'} | {'DUP'} | {'OK', message JSON} */
sb_script_t sb_script_conv_reply = {
    "conv_reply",
    SB_LUA_EMIT SB_LUA_CONV
    "local cx = cjson.decode(ARGV[1])\n"
    "local tp = 'sb:{t:' .. ARGV[2] .. '}:'\n"
    "local h = redis.call('HMGET', tp .. 'conv:' .. ARGV[3], 'channel', 'channelId', 'chatId', 'status', 'agentId')\n"
    "if not h[1] then return {'NOCONV'} end\n"
    "if ARGV[8] ~= '' and not redis.call('SET', tp .. 'once:' .. ARGV[8], '1', 'NX', 'EX', 604800) then\n"
    "  return {'DUP'}\n"
    "end\n"
    "local c = {channel = h[1], channelId = h[2], chatId = h[3], status = h[4], agentId = h[5]}\n"
    "local seq, mj = conv_append(cx, ARGV[2], ARGV[3], c, 'message_sent', ARGV[5], ARGV[6], ARGV[7], ARGV[4], 'r')\n"
    "return {'OK', mj}\n",
    ""};

/* ARGV: cx JSON, tenant id, conversation id -> {'NOCONV'} | {'OK', HGETALL of the conversation} */
sb_script_t sb_script_conv_close = {
    "conv_close",
    SB_LUA_EMIT SB_LUA_CONV "local cx = cjson.decode(ARGV[1])\n"
                            "local tp = 'sb:{t:' .. ARGV[2] .. '}:'\n"
                            "local ck = tp .. 'conv:' .. ARGV[3]\n"
                            "local h = redis.call('HMGET', ck, 'channel', 'channelId', 'chatId', 'status')\n"
                            "if not h[1] then return {'NOCONV'} end\n"
                            "if h[4] ~= 'closed' then\n"
                            "  local c = {channel = h[1], channelId = h[2], chatId = h[3], status = 'closed'}\n"
                            "  redis.call('HSET', ck, 'status', 'closed', 'updatedAt', cx.rfc, 'closedAt', cx.rfc)\n"
                            "  conv_index(tp, ARGV[3], 'closed', cx.now)\n"
                            "  conv_event(cx, ARGV[2], ARGV[3], c, 'dialog_closed', 'x')\n"
                            "end\n"
                            "return {'OK', redis.call('HGETALL', ck)}\n",
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
