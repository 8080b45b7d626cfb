/* Lua scripts of the channels' inbound webhooks (docs/channels.md). */
#include "lua_lib.h"
#include "switchboard/store.h"

/* A binding. KEYS: channel index. ARGV: index field -> false or {tenant id, channel id, channel JSON}.
 * A suspended tenant's bindings are not found: its platforms get the answer of an unknown one
 * (and keep retrying, until the operator resumes the tenant or removes the webhook). */
sb_script_t sb_script_binding_get = {"binding_get",
                                     "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
                                     "if not v then return false end\n"
                                     "local tid, cid = string.match(v, '^([^:|]+):([^|]+)$')\n"
                                     "if not tid then return false end\n"
                                     "if redis.call('HGET', 'sb:{t:' .. tid .. '}:tenant', 'status') ~= 'active' then\n"
                                     "  return false\n"
                                     "end\n"
                                     "local j = redis.call('HGET', 'sb:{t:' .. tid .. '}:channels', cid)\n"
                                     "if not j then return false end\n"
                                     "return {tid, cid, j}\n",
                                     ""};

/* Dedup claim and enqueue, one atomic step: an event id is never claimed without its item
 * queued, nor queued twice. Batched: per call KEYS: inbound stream. ARGV: claim ttl s, then
 * (claim key, item JSON) pairs -> how many items were new. */
sb_script_t sb_script_inbound_accept = {"inbound_accept",
                                        "local function item(k, a, n)\n"
                                        "  local c, ttl = 0, ARGV[a + 1]\n"
                                        "  for i = a + 2, a + n - 1, 2 do\n"
                                        "    if redis.call('SET', ARGV[i], '1', 'NX', 'EX', ttl) then\n"
                                        "      redis.call('XADD', KEYS[k + 1], '*', 'd', ARGV[i + 1])\n"
                                        "      c = c + 1\n"
                                        "    end\n"
                                        "  end\n"
                                        "  return c\n"
                                        "end\n" SB_LUA_BATCH(1),
                                        "", 1};

/* The inbound lease (docs/channels.md "Order"): one consumer at a time, cluster-wide, stores
 * inbound messages, so a chat's messages are stored in the order they were queued.
 * KEYS: lease. ARGV: consumer, ttl ms ('0': give it up) -> 2 taken (it was free: whatever a
 * former holder left pending is to be taken over), 1 renewed, 0 another consumer holds it */
sb_script_t sb_script_inbound_lease = {"inbound_lease",
                                       "local cur = redis.call('GET', KEYS[1])\n"
                                       "if ARGV[2] == '0' then\n"
                                       "  if cur == ARGV[1] then redis.call('DEL', KEYS[1]) end\n"
                                       "  return 0\n"
                                       "end\n"
                                       "if cur and cur ~= ARGV[1] then return 0 end\n"
                                       "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
                                       "return cur and 1 or 2\n",
                                       ""};

/* A new holder's first step: every entry pending under any consumer (former holders, fenced off
 * by channel_inbound), oldest first, becomes its own. KEYS: inbound stream. ARGV: group,
 * consumer, most entries -> entries as XREADGROUP gives them */
sb_script_t sb_script_inbound_takeover = {
    "inbound_takeover",
    "local out, cursor = {}, '0-0'\n"
    "repeat\n"
    "  local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, cursor, 'COUNT', 100)\n"
    "  cursor = r[1]\n"
    "  for _, x in ipairs(r[2]) do\n"
    "    if type(x) == 'table' and type(x[2]) == 'table' then out[#out + 1] = x end\n"
    "  end\n"
    "until cursor == '0-0' or #out >= tonumber(ARGV[3])\n"
    "return out\n",
    ""};

/* One queued inbound message becomes a conversation message: open or reopen the conversation,
 * append, emit, queue the agent's delivery, and acknowledge the queue entry, all at once (an
 * entry taken over after its script ran is only acknowledged: the once key). Only the holder of
 * the inbound lease may: another consumer's entry stays pending for the holder to take over.
 * KEYS: inbound stream, inbound lease. ARGV: cx JSON, entry id, tenant id, channel type, channel id, chat id,
 *       new conversation id, agent id, sender JSON, mtail, etail, message id, reply address ('' = none:
 *       Teams' serviceUrl, kept on the conversation for its replies), Slack thread ('' = none: the
 *       message's thread_ts; the conversation's replies go to the thread of its latest message),
 *       consumer
 * -> {'NOTOWNER'} | {'GONE'} (tenant deleted) | {'DUP'} | {'OK', conversation id, seq} */
sb_script_t sb_script_channel_inbound = {
    "channel_inbound",
    SB_LUA_EMIT SB_LUA_CONV
    "if redis.call('GET', KEYS[2]) ~= ARGV[15] then return {'NOTOWNER'} end\n"
    "local function done() redis.call('XACK', KEYS[1], 'sb', ARGV[2]); redis.call('XDEL', KEYS[1], ARGV[2]) end\n"
    "local tp = 'sb:{t:' .. ARGV[3] .. '}:'\n"
    "if redis.call('EXISTS', tp .. 'tenant') == 0 then done() return {'GONE'} end\n"
    "if not redis.call('SET', tp .. 'once:in:' .. ARGV[2], '1', 'NX', 'EX', 604800) then done() return {'DUP'} end\n"
    "local cx = cjson.decode(ARGV[1])\n"
    "local cid, c = conv_open(cx, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])\n"
    "if ARGV[13] ~= '' then redis.call('HSET', tp .. 'conv:' .. cid, 'serviceUrl', ARGV[13]) end\n"
    "if ARGV[4] == 'slack' then\n"
    "  if ARGV[14] ~= '' then redis.call('HSET', tp .. 'conv:' .. cid, 'thread', ARGV[14])\n"
    "  else redis.call('HDEL', tp .. 'conv:' .. cid, 'thread') end\n"
    "end\n"
    "local seq, mj, data = conv_append(cx, ARGV[3], cid, c, 'message_received', ARGV[9], ARGV[10], ARGV[11], "
    "ARGV[12], 'm')\n"
    "conv_agent(cx, ARGV[3], cid, ARGV[8], ARGV[12], data)\n"
    "done()\n"
    "return {'OK', cid, seq}\n",
    ""};

/* Before a platform send. KEYS: the tenant's channels, the send's endpoint, the tenant.
 * ARGV: channel id -> {channel JSON or '', enabled '0'/'1', tenant exists 0/1} */
sb_script_t sb_script_send_prepare = {
    "send_prepare",
    "return {redis.call('HGET', KEYS[1], ARGV[1]) or '',\n"
    "  redis.call('HGET', KEYS[2], 'enabled') or '1', redis.call('EXISTS', KEYS[3])}\n",
    ""};
