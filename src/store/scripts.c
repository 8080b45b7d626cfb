/* Lua scripts: every multi-step update is one script, so it is atomic and one round trip.
 * Scripts return status strings for application outcomes (NOTFOUND, CONFLICT, ...) and leave
 * Redis error replies for real errors. Loaded at connect (SCRIPT LOAD) and called by SHA. */
#include <mbedtls/sha1.h>
#include <string.h>

#include "switchboard/store.h"
#include "switchboard/text.h"

/* unbind(index, channel JSON): removes a channel's index fields (bindingKeys, and the single
 * bindingKey of records written before secondary fields existed). */
#define LUA_UNBIND                                                                                                     \
    "local function unbind(idx, v)\n"                                                                                  \
    "  local ok, o = pcall(cjson.decode, v)\n"                                                                         \
    "  if not ok or type(o) ~= 'table' then return end\n"                                                              \
    "  if type(o.bindingKey) == 'string' then redis.call('HDEL', idx, o.bindingKey) end\n"                             \
    "  if type(o.bindingKeys) == 'table' then\n"                                                                       \
    "    for _, k in ipairs(o.bindingKeys) do if type(k) == 'string' then redis.call('HDEL', idx, k) end end\n"        \
    "  end\n"                                                                                                          \
    "end\n"

/* KEYS: byhash, tenant. ARGV: sha256 hex of the presented key. -> {keyId, status} or {} */
sb_script_t sb_script_auth_key = {"auth_key",
                                  "local id = redis.call('HGET', KEYS[1], ARGV[1])\n"
                                  "if not id then return {} end\n"
                                  "local status = redis.call('HGET', KEYS[2], 'status')\n"
                                  "if not status then return {} end\n"
                                  "return {id, status}\n",
                                  ""};

/* KEYS: tenant, tenants index, apikeys, byhash, tenant sequence.
 * ARGV: id, name, createdAt, apiSecret, keyId, keyJson, keyHash
 * The index is scored by a sequence, so listing order is creation order even within a ms. */
sb_script_t sb_script_tenant_create = {
    "tenant_create",
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 'CONFLICT' end\n"
    "redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'status', 'active', 'createdAt', ARGV[3],\n"
    "  'updatedAt', ARGV[3], 'apiSecret', ARGV[4])\n"
    "redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[5]), ARGV[1])\n"
    "redis.call('HSET', KEYS[3], ARGV[5], ARGV[6])\n"
    "redis.call('HSET', KEYS[4], ARGV[7], ARGV[5])\n"
    "return 'OK'\n",
    ""};

/* KEYS: tenant. ARGV: name|'' , status|'', updatedAt -> tenant fields or nil */
sb_script_t sb_script_tenant_update = {
    "tenant_update",
    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
    "if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[1]) end\n"
    "if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) end\n"
    "redis.call('HSET', KEYS[1], 'updatedAt', ARGV[3])\n"
    "return redis.call('HMGET', KEYS[1], 'id', 'name', 'status', 'createdAt', 'updatedAt')\n",
    ""};

/* KEYS: tenants index. ARGV: offset, count, key prefix "sb:{t:", key suffix "}:tenant".
 * -> {total, {id,name,status,createdAt,updatedAt}, ...}. Reads other tenants' hashes, which a
 * single-primary Redis (with or without Sentinel) allows; see docs/keys.md. */
sb_script_t sb_script_tenant_list = {
    "tenant_list",
    "local total = redis.call('ZCARD', KEYS[1])\n"
    "local ids = redis.call('ZRANGE', KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1)\n"
    "local out = {total}\n"
    "for _, id in ipairs(ids) do\n"
    "  out[#out + 1] = redis.call('HMGET', ARGV[3] .. id .. ARGV[4], 'id', 'name', 'status', 'createdAt', "
    "'updatedAt')\n"
    "end\n"
    "return out\n",
    ""};

/* KEYS: tenant, tenants index, apikeys, byhash, widgets, agents, channels, widget index,
 * channel index, subscriptions, webhook secret, dead letters, dead index, dead-letter count,
 * purge hash. ARGV: id, endpoint key prefix -> 1 deleted, 0 unknown. Deliveries already queued
 * for the tenant fail at their next attempt (no secret) and are dead-lettered under no tenant.
 * The tenant's other keys (conversations, sessions, claims) are left to tenant_purge. */
sb_script_t sb_script_tenant_delete = {
    "tenant_delete",
    LUA_UNBIND
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
    "for _, wid in ipairs(redis.call('HKEYS', KEYS[5])) do redis.call('HDEL', KEYS[8], wid) end\n"
    "for _, v in ipairs(redis.call('HVALS', KEYS[7])) do unbind(KEYS[9], v) end\n"
    "local subs = redis.call('GET', KEYS[10])\n"
    "if subs then\n"
    "  local ok, o = pcall(cjson.decode, subs)\n"
    "  if ok and type(o) == 'table' then\n"
    "    for _, sub in pairs(o) do\n"
    "      if type(sub) == 'table' and sub.ep then\n"
    "        redis.call('DEL', ARGV[2] .. sub.ep, ARGV[2] .. sub.ep .. ':attempts')\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local dead = redis.call('HLEN', KEYS[12])\n"
    "if dead > 0 then redis.call('DECRBY', KEYS[14], dead) end\n"
    "redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[10], KEYS[11], KEYS[12], KEYS[13])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "redis.call('HSET', KEYS[15], ARGV[1], '0')\n"
    "return 1\n",
    ""};

/* The background removal of deleted tenants' remaining keys (conversations, messages, sessions,
 * claims...: docs/keys.md), one bounded step: SCAN the keyspace for the first tenant waiting in
 * the purge hash, from its saved cursor, UNLINK what matches, keep the cursor for the next step.
 * A tenant is done only after a whole pass that found none of its keys: SCAN promises only the
 * keys that exist from the start to the end of one pass, and a pass resumed from a saved cursor
 * after a Redis restart (or a resharding) may have missed some.
 * KEYS: purge hash (tenant id -> 'cursor|removed in this pass'; a bare cursor counts as a pass
 * that removed keys). ARGV: keys to look at in this step
 * -> {tenant id ('' = none waiting), keys removed, 1 when that tenant is done} */
sb_script_t sb_script_tenant_purge = {
    "tenant_purge",
    "local tid = redis.call('HKEYS', KEYS[1])[1]\n"
    "if not tid then return {'', 0, 0} end\n"
    "local v = redis.call('HGET', KEYS[1], tid)\n"
    "local cursor, pass = string.match(v, '^(%d+)|(%d+)$')\n"
    "if cursor then pass = tonumber(pass) else cursor, pass = string.match(v, '^%d+$') or '0', 1 end\n"
    "local pattern = 'sb:{t:' .. tid .. '}:*'\n"
    "local budget, removed = tonumber(ARGV[1]), 0\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for i = 1, #r[2], 500 do\n" /* unpack() has a stack limit; SCAN's COUNT is only a hint */
    "    removed = removed + redis.call('UNLINK', unpack(r[2], i, math.min(i + 499, #r[2])))\n"
    "  end\n"
    "  budget = budget - 1000\n"
    "until cursor == '0' or budget <= 0\n"
    "pass = pass + removed\n"
    "if cursor == '0' and pass == 0 then\n"
    "  redis.call('HDEL', KEYS[1], tid)\n"
    "  return {tid, removed, 1}\n"
    "end\n"
    "if cursor == '0' then pass = 0 end\n" /* another whole pass, to find none */
    "redis.call('HSET', KEYS[1], tid, cursor .. '|' .. string.format('%d', pass))\n"
    "return {tid, removed, 0}\n",
    ""};

/* KEYS: tenant, apikeys, byhash. ARGV: keyId, keyJson, keyHash */
sb_script_t sb_script_key_create = {"key_create",
                                    "if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end\n"
                                    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
                                    "redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])\n"
                                    "return 'OK'\n",
                                    ""};

/* KEYS: tenant, apikeys, byhash. ARGV: keyId */
sb_script_t sb_script_key_revoke = {
    "key_revoke",
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end\n"
    "local cur = redis.call('HGET', KEYS[2], ARGV[1])\n"
    "if not cur then return 'NOTFOUND' end\n"
    "local ok, o = pcall(cjson.decode, cur)\n"
    "if ok and type(o) == 'table' and o.hash then redis.call('HDEL', KEYS[3], o.hash) end\n"
    "redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "return 'OK'\n",
    ""};

/* KEYS: tenant, collection -> false (no tenant) or HVALS */
sb_script_t sb_script_entity_list = {"entity_list",
                                     "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
                                     "return redis.call('HVALS', KEYS[2])\n",
                                     ""};

/* KEYS: tenant, collection -> false (no tenant) or the stored JSON (or '' when absent) */
sb_script_t sb_script_entity_get = {"entity_get",
                                    "if redis.call('EXISTS', KEYS[1]) == 0 then return false end\n"
                                    "return redis.call('HGET', KEYS[2], ARGV[1]) or ''\n",
                                    ""};

/* Create or compare-and-set update.
 * KEYS: tenant, collection, agents (reference check), index hash.
 * ARGV: id, json, expected current json ('' = create), agent id ('' = none),
 *       new index fields (newline-separated, '' none), index value, old index fields (same)
 * An index field owned by another record (its value up to the first '|' differs) is a
 * DUPLICATE; a widget's index value is its gate 'tid|otp|agent|origins' (lua_lib.h). */
sb_script_t sb_script_entity_put = {
    "entity_put",
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end\n"
    "local cur = redis.call('HGET', KEYS[2], ARGV[1])\n"
    "if ARGV[3] == '' then\n"
    "  if cur then return 'CONFLICT' end\n"
    "else\n"
    "  if not cur then return 'NOTFOUND' end\n"
    "  if cur ~= ARGV[3] then return 'CHANGED' end\n"
    "end\n"
    "if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[4]) == 0 then return 'NOREF' end\n"
    "local owner_of = function(v) return string.match(v, '^[^|]*') end\n"
    "local keep = {}\n"
    "for f in string.gmatch(ARGV[5], '[^\\n]+') do\n"
    "  local owner = redis.call('HGET', KEYS[4], f)\n"
    "  if owner and owner_of(owner) ~= owner_of(ARGV[6]) then return 'DUPLICATE' end\n"
    "  keep[f] = true\n"
    "end\n"
    "for f in string.gmatch(ARGV[7], '[^\\n]+') do\n"
    "  if not keep[f] then redis.call('HDEL', KEYS[4], f) end\n"
    "end\n"
    "for f in pairs(keep) do redis.call('HSET', KEYS[4], f, ARGV[6]) end\n"
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
    "return 'OK'\n",
    ""};

/* KEYS: tenant, collection, index hash, widgets, channels.
 * ARGV: id, index mode ('id': the id is the index field; 'binding': the record's bindingKey;
 *       '' none), agent id whose use blocks deletion ('') */
sb_script_t sb_script_entity_delete = {"entity_delete",
                                       LUA_UNBIND "if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end\n"
                                                  "local cur = redis.call('HGET', KEYS[2], ARGV[1])\n"
                                                  "if not cur then return 'NOTFOUND' end\n"
                                                  "if ARGV[3] ~= '' then\n"
                                                  "  local needle = '\"agentId\":\"' .. ARGV[3] .. '\"'\n"
                                                  "  for _, k in ipairs({KEYS[4], KEYS[5]}) do\n"
                                                  "    for _, v in ipairs(redis.call('HVALS', k)) do\n"
                                                  "      if string.find(v, needle, 1, true) then return 'INUSE' end\n"
                                                  "    end\n"
                                                  "  end\n"
                                                  "end\n"
                                                  "if ARGV[2] == 'id' then redis.call('HDEL', KEYS[3], ARGV[1])\n"
                                                  "elseif ARGV[2] == 'binding' then\n"
                                                  "  unbind(KEYS[3], cur)\n"
                                                  "end\n"
                                                  "redis.call('HDEL', KEYS[2], ARGV[1])\n"
                                                  "return 'OK'\n",
                                       ""};

sb_script_t *const sb_scripts[] = {
    &sb_script_auth_key,
    &sb_script_tenant_create,
    &sb_script_tenant_update,
    &sb_script_tenant_list,
    &sb_script_tenant_delete,
    &sb_script_tenant_purge,
    &sb_script_key_create,
    &sb_script_key_revoke,
    &sb_script_entity_list,
    &sb_script_entity_get,
    &sb_script_entity_put,
    &sb_script_entity_delete,
    /* delivery engine (delivery_scripts.c) */
    &sb_script_subs_put,
    &sb_script_secret_get,
    &sb_script_secret_rotate,
    &sb_script_emit,
    &sb_script_prepare,
    &sb_script_finish,
    &sb_script_record_attempt,
    &sb_script_promote,
    &sb_script_pace_tick,
    &sb_script_reclaim,
    &sb_script_endpoints,
    &sb_script_endpoint_enable,
    &sb_script_dead_list,
    &sb_script_dead_replay,
    &sb_script_dead_recover,
    &sb_script_queue_depth,
    &sb_script_groups,
    &sb_script_attempts,
    /* widget routes (widget_scripts.c) */
    &sb_script_widget_config,
    &sb_script_session_start,
    &sb_script_otp_start,
    &sb_script_otp_verify,
    &sb_script_ratelimit,
    /* conversations and the widget's session routes (conv_scripts.c) */
    &sb_script_widget_message,
    &sb_script_widget_read,
    &sb_script_conv_since,
    &sb_script_conv_reply,
    &sb_script_conv_sent,
    &sb_script_conv_close,
    &sb_script_conv_idle,
    &sb_script_conv_note,
    &sb_script_conv_list,
    &sb_script_conv_messages,
    /* channels' inbound webhooks (channel_scripts.c) */
    &sb_script_binding_get,
    &sb_script_inbound_accept,
    &sb_script_channel_inbound,
    &sb_script_inbound_lease,
    &sb_script_inbound_takeover,
    &sb_script_send_prepare,
};
const size_t sb_scripts_count = SB_ARRAY_SIZE(sb_scripts);

void sb_scripts_init(void)
{
    for (size_t i = 0; i < sb_scripts_count; i++) {
        unsigned char d[20];
        mbedtls_sha1_ret((const unsigned char *)sb_scripts[i]->source, strlen(sb_scripts[i]->source), d);
        sb_hex_encode(d, 20, sb_scripts[i]->sha);
    }
}
