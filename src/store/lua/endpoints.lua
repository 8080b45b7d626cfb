-- The subscribers' endpoints, then those of the tenant's platform sends that were tried
-- (docs/channels.md). KEYS: subs. ARGV: endpoint key prefix ->
-- {{url, ep, enabled, failingSince, lastStatus, lastAttemptAt, successes, failures}, ...}
local out = {}
local function one(url, ep)
  local k = ARGV[1] .. ep
  local v = redis.call('HMGET', k, 'enabled', 'failingSince', 'lastStatus', 'lastAttemptAt', 'url')
  local okn, bad = 0, 0
  for _, a in ipairs(redis.call('LRANGE', k .. ':attempts', 0, 99)) do
    if string.find(a, '"ok":true', 1, true) then okn = okn + 1 else bad = bad + 1 end
  end
  out[#out + 1] = {url or v[5], ep, v[1] or '1', v[2] or '', v[3] or '', v[4] or '', okn, bad}
end
local raw = redis.call('GET', KEYS[1])
if raw then for url, s in pairs(cjson.decode(raw)) do one(url, s.ep) end end
local tid = string.match(ARGV[1], '^sb:{t:(.-)}:')
for _, ch in ipairs(redis.call('HKEYS', 'sb:{t:' .. tid .. '}:channels')) do
  local ep = string.sub(redis.sha1hex('send:' .. tid .. ':' .. ch), 1, 16)
  if redis.call('HEXISTS', ARGV[1] .. ep, 'url') == 1 then one(nil, ep) end
end
return out
