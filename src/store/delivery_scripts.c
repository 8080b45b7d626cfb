/* Lua scripts of the delivery engine (docs/deliveries.md). Each state change of a delivery is
 * one script: fan-out into the queue, the outcome of an attempt together with its
 * acknowledgement, moving due retries, pacing dispatch and reclaiming entries of dead
 * consumers. Queue keys are global; tenant keys are built inside the scripts from prefixes the
 * C side passes (single-primary Redis; see docs/keys.md). */
#include "lua_lib.h"
#include "switchboard/store.h"

/* KEYS: subs, whsecret. ARGV: subscriptions JSON (normalized), new secret, new apiKey,
 * endpoint key prefix "sb:{t:<tid>}:ep:" */
sb_script_t sb_script_subs_put = {"subs_put",
                                  "redis.call('SET', KEYS[1], ARGV[1])\n"
                                  "if redis.call('EXISTS', KEYS[2]) == 0 then\n"
                                  "  redis.call('HSET', KEYS[2], 'secret', ARGV[2], 'apiKey', ARGV[3])\n"
                                  "end\n"
                                  "for url, s in pairs(cjson.decode(ARGV[1])) do\n"
                                  "  local k = ARGV[4] .. s.ep\n"
                                  "  redis.call('HSETNX', k, 'url', url)\n"
                                  "  redis.call('HSETNX', k, 'enabled', '1')\n"
                                  "end\n"
                                  "return 'OK'\n",
                                  ""};

/* KEYS: whsecret. ARGV: new secret, new apiKey, now ms -> {secret, apiKey, previous, previousUntil} */
sb_script_t sb_script_secret_get = {
    "secret_get",
    "if redis.call('EXISTS', KEYS[1]) == 0 then\n"
    "  redis.call('HSET', KEYS[1], 'secret', ARGV[1], 'apiKey', ARGV[2])\n"
    "end\n"
    "local v = redis.call('HMGET', KEYS[1], 'secret', 'apiKey', 'previous', 'previousUntil')\n"
    "if not v[4] or tonumber(v[4]) <= tonumber(ARGV[3]) then v[3] = ''; v[4] = '0' end\n"
    "return {v[1], v[2], v[3], v[4]}\n",
    ""};

/* KEYS: whsecret. ARGV: new secret, new apiKey (used if none), previousUntil ms */
sb_script_t sb_script_secret_rotate = {
    "secret_rotate",
    "local cur = redis.call('HGET', KEYS[1], 'secret')\n"
    "if cur then redis.call('HSET', KEYS[1], 'previous', cur, 'previousUntil', ARGV[3]) end\n"
    "redis.call('HSET', KEYS[1], 'secret', ARGV[1])\n"
    "redis.call('HSETNX', KEYS[1], 'apiKey', ARGV[2])\n"
    "return redis.call('HMGET', KEYS[1], 'secret', 'apiKey')\n",
    ""};

/* Fan-out of one event to the tenant's subscribers (sb_emit in lua_lib.h).
 * ARGV: cx JSON, tenant id, event, data JSON -> {{deliveryId, url}, ...} */
sb_script_t sb_script_emit = {"emit",
                              SB_LUA_EMIT "local cx = cjson.decode(ARGV[1])\n"
                                          "return sb_emit(cx, ARGV[2], ARGV[3], ARGV[4], cx.eid)\n",
                              ""};

/* Before an attempt. KEYS: whsecret, endpoint, agents. ARGV: now ms, agent id ('' = the tenant's
 * webhook secret signs) -> {secret, previous, enabled}; an empty secret: tenant or agent gone */
sb_script_t sb_script_prepare = {"prepare",
                                 "local enabled = redis.call('HGET', KEYS[2], 'enabled') or '1'\n"
                                 "if ARGV[2] ~= '' then\n"
                                 "  local a = redis.call('HGET', KEYS[3], ARGV[2])\n"
                                 "  local ok, o = pcall(cjson.decode, a or '')\n"
                                 "  if not ok or type(o) ~= 'table' or type(o.secret) ~= 'string' then\n"
                                 "    return {'', '', enabled}\n"
                                 "  end\n"
                                 "  return {o.secret, '', enabled}\n"
                                 "end\n"
                                 "local v = redis.call('HMGET', KEYS[1], 'secret', 'previous', 'previousUntil')\n"
                                 "local prev = ''\n"
                                 "if v[3] and tonumber(v[3]) > tonumber(ARGV[1]) then prev = v[2] end\n"
                                 "return {v[1] or '', prev, enabled}\n",
                                 ""};

/* The outcome of an attempt, recorded and acknowledged together.
 * KEYS: lane stream, endpoint, attempt log, delay set, dead letters, dead index, receive counts.
 * ARGV: entry id, group, outcome (success|retry|dead|gone|skip|drop), attempt JSON ('' = none), now ms,
 *       disable-after ms, retry JSON, retry due ms, dead JSON, delivery id, status, url, pacing key of
 *       a platform send ('' = none), gap ms
 * A platform send holds its account's pacing line while it is out (pace_tick): its outcome
 * releases the line a gap later, and its retry goes back to the head of the line, due at the
 * retry time, so the account's messages leave in order.
 * -> {final outcome, 1 if the endpoint was disabled now} */
sb_script_t sb_script_finish = {
    "finish",
    "if ARGV[1] ~= '' then\n"
    "  redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])\n"
    "  redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "  redis.call('HDEL', KEYS[7], ARGV[1])\n"
    "end\n"
    "local outcome = ARGV[3]\n"
    "if outcome == 'drop' then return {'drop', 0} end\n"
    "local disabled = 0\n"
    "if ARGV[4] ~= '' then\n"
    "  redis.call('LPUSH', KEYS[3], ARGV[4])\n"
    "  redis.call('LTRIM', KEYS[3], 0, 99)\n"
    "  redis.call('HSET', KEYS[2], 'url', ARGV[12], 'lastStatus', ARGV[11], 'lastAttemptAt', ARGV[5])\n"
    "end\n"
    "if outcome == 'skip' then\n"
    "  outcome = 'dead'\n"
    "elseif outcome == 'success' then\n"
    "  redis.call('HDEL', KEYS[2], 'failingSince')\n"
    "else\n"
    "  redis.call('HSETNX', KEYS[2], 'failingSince', ARGV[5])\n"
    "  local since = tonumber(redis.call('HGET', KEYS[2], 'failingSince'))\n"
    "  if outcome == 'gone' or tonumber(ARGV[5]) - since >= tonumber(ARGV[6]) then\n"
    "    if redis.call('HGET', KEYS[2], 'enabled') ~= '0' then\n"
    "      redis.call('HSET', KEYS[2], 'enabled', '0', 'disabledAt', ARGV[5])\n"
    "      disabled = 1\n"
    "    end\n"
    "    outcome = 'dead'\n"
    "  end\n"
    "end\n"
    "local pq = ARGV[13] ~= '' and ('sb:pace:' .. ARGV[13]) or nil\n"
    "if outcome == 'retry' and pq then\n"
    "  redis.call('LPUSH', pq .. ':q', ARGV[7])\n"
    "  redis.call('SET', pq .. ':next', ARGV[8], 'PX', tonumber(ARGV[8]) - tonumber(ARGV[5]) + 60000)\n"
    "  redis.call('ZADD', 'sb:pace:due', ARGV[8], ARGV[13])\n"
    "  return {outcome, disabled}\n"
    "elseif pq then\n"
    "  local nxt = tonumber(ARGV[5]) + tonumber(ARGV[14])\n"
    "  redis.call('SET', pq .. ':next', nxt, 'PX', tonumber(ARGV[14]) + 60000)\n"
    "  if redis.call('LLEN', pq .. ':q') > 0 then redis.call('ZADD', 'sb:pace:due', nxt, ARGV[13])\n"
    "  else redis.call('ZREM', 'sb:pace:due', ARGV[13]) end\n"
    "end\n"
    "if outcome == 'retry' then\n"
    "  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[7])\n"
    "elseif outcome == 'dead' then\n"
    "  if redis.call('HSET', KEYS[5], ARGV[10], ARGV[9]) == 1 then redis.call('INCR', 'sb:q:dead') end\n"
    "  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[10])\n"
    "end\n"
    "return {outcome, disabled}\n",
    ""};

/* An attempt that was not queued (commands). KEYS: endpoint, attempt log.
 * ARGV: attempt JSON, now ms, status, url, ok (1/0) */
sb_script_t sb_script_record_attempt = {
    "record_attempt",
    "redis.call('LPUSH', KEYS[2], ARGV[1])\n"
    "redis.call('LTRIM', KEYS[2], 0, 99)\n"
    "redis.call('HSET', KEYS[1], 'url', ARGV[4], 'lastStatus', ARGV[3], 'lastAttemptAt', ARGV[2])\n"
    "redis.call('HSETNX', KEYS[1], 'enabled', '1')\n"
    "if ARGV[5] == '1' then redis.call('HDEL', KEYS[1], 'failingSince')\n"
    "else redis.call('HSETNX', KEYS[1], 'failingSince', ARGV[2]) end\n"
    "return 1\n",
    ""};

/* Due retries back into the queue: one script, so nothing is moved twice or lost.
 * KEYS: delay set, retry stream, pace due set. ARGV: now ms, max, pace prefix */
sb_script_t sb_script_promote = {
    "promote",
    "local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, m in ipairs(items) do\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "  local ok, d = pcall(cjson.decode, m)\n"
    "  if ok and type(d) == 'table' and d.pk then\n"
    "    redis.call('RPUSH', ARGV[3] .. d.pk .. ':q', m)\n"
    "    local nxt = tonumber(redis.call('GET', ARGV[3] .. d.pk .. ':next') or '0')\n"
    "    redis.call('ZADD', KEYS[3], 'NX', math.max(tonumber(ARGV[1]), nxt), d.pk)\n"
    "  else\n"
    "    redis.call('XADD', KEYS[2], '*', 'd', m)\n"
    "  end\n"
    "end\n"
    "return #items\n",
    ""};

/* Pacing: for every key whose turn has come, the oldest waiting delivery goes to the queue and
 * the key's next turn is set a jittered gap later. A platform send holds its line instead (90 s,
 * longer than any attempt and its takeover) until its outcome releases it (finish).
 * KEYS: pace due set, fresh stream. ARGV: now ms, pace prefix, max, gap ms, gap ms, ... */
sb_script_t sb_script_pace_tick = {
    "pace_tick",
    "local now = tonumber(ARGV[1])\n"
    "local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "local n = 0\n"
    "for i, k in ipairs(keys) do\n"
    "  local q = ARGV[2] .. k .. ':q'\n"
    "  local item = redis.call('LPOP', q)\n"
    "  if item then\n"
    "    redis.call('XADD', KEYS[2], '*', 'd', item)\n"
    "    n = n + 1\n"
    "    local gap = tonumber(ARGV[3 + i] or ARGV[4])\n"
    "    if string.find(item, '\"k\":\"send\"', 1, true) then gap = 90000 end\n"
    "    redis.call('SET', ARGV[2] .. k .. ':next', now + gap, 'PX', gap + 60000)\n"
    "    if redis.call('LLEN', q) > 0 then redis.call('ZADD', KEYS[1], now + gap, k)\n"
    "    else redis.call('ZREM', KEYS[1], k) end\n"
    "  else\n"
    "    redis.call('ZREM', KEYS[1], k)\n"
    "  end\n"
    "end\n"
    "return n\n",
    ""};

/* Takes over entries of consumers whose instance is gone (no heartbeat) at once, and entries
 * of live consumers idle past the visibility timeout; an entry taken over too often is
 * dead-lettered (poison).
 * KEYS: stream, receive counts. ARGV: group, self, heartbeat prefix, visibility ms, count,
 * poison limit, now ms -> {{id, {'d', json}}, ...} */
sb_script_t sb_script_reclaim = {
    "reclaim",
    "local claimed = {}\n"
    "local ok, infos = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])\n"
    "if not ok then return {} end\n"
    "for _, c in ipairs(infos) do\n"
    "  local name, pending\n"
    "  for i = 1, #c, 2 do\n"
    "    if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] end\n"
    "  end\n"
    "  if name and name ~= ARGV[2] and redis.call('EXISTS', ARGV[3] .. name) == 0 then\n"
    "    if pending > 0 then\n"
    "      local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[5]), name)\n"
    "      for _, e in ipairs(p) do\n"
    "        for _, x in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, e[1])) do\n"
    "          claimed[#claimed + 1] = x\n"
    "        end\n"
    "      end\n"
    "    else\n"
    "      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[4]), '0-0', 'COUNT', "
    "tonumber(ARGV[5]))\n"
    "for _, x in ipairs(r[2]) do claimed[#claimed + 1] = x end\n"
    "local out = {}\n"
    "for _, x in ipairs(claimed) do\n"
    "  local id = x[1]\n"
    "  local n = redis.call('HINCRBY', KEYS[2], id, 1)\n"
    "  if n > tonumber(ARGV[6]) then\n"
    "    local dj = type(x[2]) == 'table' and x[2][2] or nil\n"
    "    local okd, d = pcall(cjson.decode, dj or '')\n"
    "    if okd and type(d) == 'table' and d.t and d.id then\n"
    "      local dead = cjson.encode({id = d.id, delivery = d, endpointId = d.ep, url = d.url, event = d.ev,\n"
    "        attempts = d.n, failedAt = tonumber(ARGV[7]), error = 'taken over ' .. n .. ' times without an "
    "outcome'})\n"
    "      if redis.call('HSET', 'sb:{t:' .. d.t .. '}:dead', d.id, dead) == 1 then redis.call('INCR', 'sb:q:dead') "
    "end\n"
    "      redis.call('ZADD', 'sb:{t:' .. d.t .. '}:dead:idx', ARGV[7], d.id)\n"
    "    end\n"
    "    redis.call('XACK', KEYS[1], ARGV[1], id)\n"
    "    redis.call('XDEL', KEYS[1], id)\n"
    "    redis.call('HDEL', KEYS[2], id)\n"
    "  elseif type(x[2]) == 'table' then\n"
    "    out[#out + 1] = x\n"
    "  end\n"
    "end\n"
    "return out\n",
    ""};

/* The subscribers' endpoints, then those of the tenant's platform sends that were tried
 * (docs/channels.md). KEYS: subs. ARGV: endpoint key prefix ->
 * {{url, ep, enabled, failingSince, lastStatus, lastAttemptAt, successes, failures}, ...} */
sb_script_t sb_script_endpoints = {
    "endpoints",
    "local out = {}\n"
    "local function one(url, ep)\n"
    "  local k = ARGV[1] .. ep\n"
    "  local v = redis.call('HMGET', k, 'enabled', 'failingSince', 'lastStatus', 'lastAttemptAt', 'url')\n"
    "  local okn, bad = 0, 0\n"
    "  for _, a in ipairs(redis.call('LRANGE', k .. ':attempts', 0, 99)) do\n"
    "    if string.find(a, '\"ok\":true', 1, true) then okn = okn + 1 else bad = bad + 1 end\n"
    "  end\n"
    "  out[#out + 1] = {url or v[5], ep, v[1] or '1', v[2] or '', v[3] or '', v[4] or '', okn, bad}\n"
    "end\n"
    "local raw = redis.call('GET', KEYS[1])\n"
    "if raw then for url, s in pairs(cjson.decode(raw)) do one(url, s.ep) end end\n"
    "local tid = string.match(ARGV[1], '^sb:{t:(.-)}:')\n"
    "for _, ch in ipairs(redis.call('HKEYS', 'sb:{t:' .. tid .. '}:channels')) do\n"
    "  local ep = string.sub(redis.sha1hex('send:' .. tid .. ':' .. ch), 1, 16)\n"
    "  if redis.call('HEXISTS', ARGV[1] .. ep, 'url') == 1 then one(nil, ep) end\n"
    "end\n"
    "return out\n",
    ""};

/* KEYS: endpoint. ARGV: enabled (1/0), now ms, endpoint id -> the endpoint as `endpoints` lists it,
 * or false when unknown */
sb_script_t sb_script_endpoint_enable = {
    "endpoint_enable",
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
    "redis.call('HSET', KEYS[1], 'enabled', ARGV[1])\n"
    "if ARGV[1] == '1' then redis.call('HDEL', KEYS[1], 'failingSince', 'disabledAt')\n"
    "else redis.call('HSET', KEYS[1], 'disabledAt', ARGV[2]) end\n"
    "local v = redis.call('HMGET', KEYS[1], 'url', 'enabled', 'failingSince', 'lastStatus', 'lastAttemptAt')\n"
    "local okn, bad = 0, 0\n"
    "for _, a in ipairs(redis.call('LRANGE', KEYS[1] .. ':attempts', 0, 99)) do\n"
    "  if string.find(a, '\"ok\":true', 1, true) then okn = okn + 1 else bad = bad + 1 end\n"
    "end\n"
    "return {v[1] or '', ARGV[3], v[2] or '1', v[3] or '', v[4] or '', v[5] or '', okn, bad}\n",
    ""};

/* KEYS: dead letters, dead index. ARGV: offset, count -> {total, json, json, ...} newest first */
sb_script_t sb_script_dead_list = {
    "dead_list",
    "local total = redis.call('ZCARD', KEYS[2])\n"
    "local ids = redis.call('ZREVRANGE', KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1)\n"
    "local out = {total}\n"
    "for _, id in ipairs(ids) do out[#out + 1] = redis.call('HGET', KEYS[1], id) or '' end\n"
    "return out\n",
    ""};

/* A dead letter queued again as a fresh delivery: a platform send rejoins its account's pacing
 * line (order, one send out at a time); anything else goes straight to the stream. */
#define LUA_REQUEUE                                                                                                    \
    "local function requeue(stream, d)\n"                                                                              \
    "  d.n = 0\n"                                                                                                      \
    "  if d.k == 'send' and type(d.pk) == 'string' then\n"                                                             \
    "    redis.call('RPUSH', 'sb:pace:' .. d.pk .. ':q', cjson.encode(d))\n"                                           \
    "    redis.call('ZADD', 'sb:pace:due', 'NX', tonumber(redis.call('GET', 'sb:pace:' .. d.pk .. ':next') or '0'),\n" \
    "      d.pk)\n"                                                                                                    \
    "  else\n"                                                                                                         \
    "    d.pk = nil\n"                                                                                                 \
    "    redis.call('XADD', stream, '*', 'd', cjson.encode(d))\n"                                                      \
    "  end\n"                                                                                                          \
    "end\n"

/* KEYS: dead letters, dead index, fresh stream. ARGV: id -> 'OK' | 'NOTFOUND' */
sb_script_t sb_script_dead_replay = {"dead_replay",
                                     LUA_REQUEUE "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
                                                 "if not v then return 'NOTFOUND' end\n"
                                                 "requeue(KEYS[3], cjson.decode(v).delivery)\n"
                                                 "redis.call('HDEL', KEYS[1], ARGV[1])\n"
                                                 "redis.call('DECR', 'sb:q:dead')\n"
                                                 "redis.call('ZREM', KEYS[2], ARGV[1])\n"
                                                 "return 'OK'\n",
                                     ""};

/* KEYS: dead letters, dead index, fresh stream, endpoint. ARGV: endpoint id, since ms, until ms
 * -> count, or false (no such endpoint of the tenant) */
sb_script_t sb_script_dead_recover = {"dead_recover",
                                      LUA_REQUEUE
                                      "if redis.call('EXISTS', KEYS[4]) == 0 then return false end\n"
                                      "local n = 0\n"
                                      "for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[3])) do\n"
                                      "  local v = redis.call('HGET', KEYS[1], id)\n"
                                      "  local ok, o = pcall(cjson.decode, v or '')\n"
                                      "  if ok and type(o) == 'table' and o.endpointId == ARGV[1] and o.delivery then\n"
                                      "    requeue(KEYS[3], o.delivery)\n"
                                      "    redis.call('HDEL', KEYS[1], id)\n"
                                      "    redis.call('ZREM', KEYS[2], id)\n"
                                      "    redis.call('DECR', 'sb:q:dead')\n"
                                      "    n = n + 1\n"
                                      "  end\n"
                                      "end\n"
                                      "return n\n",
                                      ""};

/* KEYS: fresh stream, retry stream, delay set, dead-letter count -> {fresh, retry, delayed, dead} */
sb_script_t sb_script_queue_depth = {
    "queue_depth",
    "return {redis.call('XLEN', KEYS[1]), redis.call('XLEN', KEYS[2]), redis.call('ZCARD', KEYS[3]),\n"
    "        tonumber(redis.call('GET', KEYS[4]) or '0')}\n",
    ""};

/* KEYS: the lane streams. ARGV: group. Creates missing groups (a Redis that restarted empty). */
sb_script_t sb_script_groups = {
    "groups",
    "for _, k in ipairs(KEYS) do pcall(redis.call, 'XGROUP', 'CREATE', k, ARGV[1], '0', 'MKSTREAM') end\n"
    "return 1\n",
    ""};

/* KEYS: endpoint, attempt log -> false (unknown endpoint) or the log, newest first */
sb_script_t sb_script_attempts = {"attempts",
                                  "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
                                  "return redis.call('LRANGE', KEYS[2], 0, 99)\n",
                                  ""};
