-- A lane's lease (jobs.c, an exclusive lane): one consumer at a time, cluster-wide, takes the
-- lane's entries. The inbound lane is one (docs/channels.md "Order"): a chat's messages are
-- stored in the order they were queued.
-- KEYS: lease. ARGV: consumer, ttl ms ('0': give it up) -> 2 taken (it was free: whatever a
-- former holder left pending is to be taken over), 1 renewed, 0 another consumer holds it
local cur = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if cur == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return cur and 1 or 2
