-- KEYS: dead letters, dead index, fresh stream, endpoint. ARGV: endpoint id, since ms, until ms
-- -> count, or false (no such endpoint of the tenant)
-- uses: requeue
if redis.call('EXISTS', KEYS[4]) == 0 then return false end
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[3])) do
  local v = redis.call('HGET', KEYS[1], id)
  local ok, o = pcall(cjson.decode, v or '')
  if ok and type(o) == 'table' and o.endpointId == ARGV[1] and o.delivery then
    requeue(KEYS[3], o.delivery)
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('DECR', 'sb:q:dead')
    n = n + 1
  end
end
return n
