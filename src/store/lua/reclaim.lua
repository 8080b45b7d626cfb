-- Takes over entries of consumers whose instance is gone (no heartbeat) at once, and entries
-- of live consumers idle past the visibility timeout; an entry taken over too often is
-- dead-lettered (poison).
-- KEYS: stream, receive counts. ARGV: group, self, heartbeat prefix, visibility ms, count,
-- poison limit, now ms -> {{id, {'d', json}}, ...}
local claimed = {}
local ok, infos = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return {} end
for _, c in ipairs(infos) do
  local name, pending
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] end
  end
  if name and name ~= ARGV[2] and redis.call('EXISTS', ARGV[3] .. name) == 0 then
    if pending > 0 then
      local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[5]), name)
      for _, e in ipairs(p) do
        for _, x in ipairs(redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, e[1])) do
          claimed[#claimed + 1] = x
        end
      end
    else
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    end
  end
end
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[4]), '0-0', 'COUNT', tonumber(ARGV[5]))
for _, x in ipairs(r[2]) do claimed[#claimed + 1] = x end
local out = {}
for _, x in ipairs(claimed) do
  local id = x[1]
  local n = redis.call('HINCRBY', KEYS[2], id, 1)
  if n > tonumber(ARGV[6]) then
    local dj = type(x[2]) == 'table' and x[2][2] or nil
    local okd, d = pcall(cjson.decode, dj or '')
    if okd and type(d) == 'table' and d.t and d.id then
      local dead = cjson.encode({id = d.id, delivery = d, endpointId = d.ep, url = d.url, event = d.ev,
        attempts = d.n, failedAt = tonumber(ARGV[7]), error = 'taken over ' .. n .. ' times without an outcome'})
      if redis.call('HSET', 'sb:{t:' .. d.t .. '}:dead', d.id, dead) == 1 then redis.call('INCR', 'sb:q:dead') end
      redis.call('ZADD', 'sb:{t:' .. d.t .. '}:dead:idx', ARGV[7], d.id)
    end
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  elseif type(x[2]) == 'table' then
    out[#out + 1] = x
  end
end
return out
