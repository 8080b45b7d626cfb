-- Due retries back into the queue: one script, so nothing is moved twice or lost.
-- KEYS: delay set, retry stream, pace due set. ARGV: now ms, max, pace prefix
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(items) do
  redis.call('ZREM', KEYS[1], m)
  local ok, d = pcall(cjson.decode, m)
  if ok and type(d) == 'table' and d.pk then
    redis.call('RPUSH', ARGV[3] .. d.pk .. ':q', m)
    local nxt = tonumber(redis.call('GET', ARGV[3] .. d.pk .. ':next') or '0')
    redis.call('ZADD', KEYS[3], 'NX', math.max(tonumber(ARGV[1]), nxt), d.pk)
  else
    redis.call('XADD', KEYS[2], '*', 'd', m)
  end
end
return #items
