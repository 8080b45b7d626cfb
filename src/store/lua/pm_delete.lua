-- Deletes a proactive message and every firing of it not yet sent (docs/proactive.md).
-- ARGV: tenant id, id -> 1 | 0 (none)
-- uses: proactive
local tp = 'sb:{t:' .. ARGV[1] .. '}:'
local pk = tp .. 'pm:' .. ARGV[2]
local agent = redis.call('HGET', pk, 'agentId')
if not agent then return 0 end
for _, m in ipairs(redis.call('ZRANGE', pk .. ':due', 0, -1)) do redis.call('ZREM', 'sb:pm:due', m) end
redis.call('DEL', pk, pk .. ':due')
redis.call('ZREM', tp .. 'pms', ARGV[2])
redis.call('ZREM', tp .. 'pms:a:' .. agent, ARGV[2])
pm_retrig(tp, agent)
return 1
