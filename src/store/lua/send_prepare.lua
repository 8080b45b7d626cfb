-- Before a platform send. KEYS: the tenant's channels, the send's endpoint, the tenant.
-- ARGV: channel id -> {channel JSON or '', enabled '0'/'1', tenant exists 0/1}
return {redis.call('HGET', KEYS[1], ARGV[1]) or '',
  redis.call('HGET', KEYS[2], 'enabled') or '1', redis.call('EXISTS', KEYS[3])}
