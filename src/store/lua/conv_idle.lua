-- The idle-timeout close: open conversations without activity since the cutoff are closed
-- (dialog_closed with reason "idle"). ARGV: cx JSON, cutoff ms, max -> how many were closed
-- uses: emit proactive conv
local cx = cjson.decode(ARGV[1])
local n = 0
for i, m in ipairs(redis.call('ZRANGEBYSCORE', 'sb:convs:idle', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))) do
  redis.call('ZREM', 'sb:convs:idle', m)
  local tid, cid = string.match(m, '^([^:]+):(.+)$')
  if tid and conv_shut(cx, tid, cid, 'idle', 'x' .. i) then n = n + 1 end
end
return n
