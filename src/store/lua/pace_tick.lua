-- Pacing: for every key whose turn has come, the oldest waiting delivery goes to the queue and
-- the key's next turn is set a jittered gap later. A platform send holds its line instead (90 s,
-- longer than any attempt and its takeover) until its outcome releases it (finish).
-- KEYS: pace due set, fresh stream. ARGV: now ms, pace prefix, max, gap ms, gap ms, ...
local now = tonumber(ARGV[1])
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local n = 0
for i, k in ipairs(keys) do
  local q = ARGV[2] .. k .. ':q'
  local item = redis.call('LPOP', q)
  if item then
    redis.call('XADD', KEYS[2], '*', 'd', item)
    n = n + 1
    local gap = tonumber(ARGV[3 + i] or ARGV[4])
    if string.find(item, '"k":"send"', 1, true) then gap = 90000 end
    redis.call('SET', ARGV[2] .. k .. ':next', now + gap, 'PX', gap + 60000)
    if redis.call('LLEN', q) > 0 then redis.call('ZADD', KEYS[1], now + gap, k)
    else redis.call('ZREM', KEYS[1], k) end
  else
    redis.call('ZREM', KEYS[1], k)
  end
end
return n
