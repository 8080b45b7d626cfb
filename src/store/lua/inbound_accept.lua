-- Dedup claim and enqueue, one atomic step: an event id is never claimed without its item
-- queued, nor queued twice. Batched: per call KEYS: inbound stream. ARGV: claim ttl s, then
-- (claim key, item JSON) pairs -> how many items were new.
-- batch: 1
local function item(k, a, n)
  local c, ttl = 0, ARGV[a + 1]
  for i = a + 2, a + n - 1, 2 do
    if redis.call('SET', ARGV[i], '1', 'NX', 'EX', ttl) then
      redis.call('XADD', KEYS[k + 1], '*', 'd', ARGV[i + 1])
      c = c + 1
    end
  end
  return c
end
