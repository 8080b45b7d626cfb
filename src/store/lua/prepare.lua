-- Before an attempt. KEYS: whsecret, endpoint, agents. ARGV: now ms, agent id ('' = the tenant's
-- webhook secret signs) -> {secret, previous, enabled}; an empty secret: tenant or agent gone
local enabled = redis.call('HGET', KEYS[2], 'enabled') or '1'
if ARGV[2] ~= '' then
  local a = redis.call('HGET', KEYS[3], ARGV[2])
  local ok, o = pcall(cjson.decode, a or '')
  if not ok or type(o) ~= 'table' or type(o.secret) ~= 'string' then
    return {'', '', enabled}
  end
  return {o.secret, '', enabled}
end
local v = redis.call('HMGET', KEYS[1], 'secret', 'previous', 'previousUntil')
local prev = ''
if v[3] and tonumber(v[3]) > tonumber(ARGV[1]) then prev = v[2] end
return {v[1] or '', prev, enabled}
