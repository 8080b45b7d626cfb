-- The bot_url route's lookup (docs/apichat.md "For the bot_url route"): which workspace a bot
-- code belongs to. KEYS: the code index "sb:idx:apichat". ARGV: code, tenant key prefix
-- "sb:{t:", apichat suffix "}:apichat", tenant suffix "}:tenant"
-- -> {tenant id, webhook url, verification key, webhook status, tenant status} or false (no
-- such code, the webhook removed, or the tenant deleted). An index entry whose workspace no
-- longer holds that code answers false too.
local tid = redis.call('HGET', KEYS[1], ARGV[1])
if not tid then return false end
local f = redis.call('HMGET', ARGV[2] .. tid .. ARGV[3], 'code', 'url', 'key', 'status')
if f[1] ~= ARGV[1] then return false end
local status = redis.call('HGET', ARGV[2] .. tid .. ARGV[4], 'status')
if not status then return false end
return {tid, f[2] or '', f[3] or '', f[4] or '', status}
