-- KEYS: subs, whsecret. ARGV: subscriptions JSON (normalized), new secret, new apiKey,
-- endpoint key prefix "sb:{t:<tid>}:ep:"
redis.call('SET', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'secret', ARGV[2], 'apiKey', ARGV[3])
end
for url, s in pairs(cjson.decode(ARGV[1])) do
  local k = ARGV[4] .. s.ep
  redis.call('HSETNX', k, 'url', url)
  redis.call('HSETNX', k, 'enabled', '1')
end
return 'OK'
