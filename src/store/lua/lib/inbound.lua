-- inbound_queue(stream, ttl, first, last): the dedup claim and enqueue of the (claim key, item
-- JSON) pairs ARGV[first .. last], one atomic step: an event id is never claimed without its
-- item queued, nor queued twice -> how many items were new.
local function inbound_queue(stream, ttl, first, last)
  local c = 0
  for i = first, last - 1, 2 do
    if redis.call('SET', ARGV[i], '1', 'NX', 'EX', ttl) then
      redis.call('XADD', stream, '*', 'd', ARGV[i + 1])
      c = c + 1
    end
  end
  return c
end
