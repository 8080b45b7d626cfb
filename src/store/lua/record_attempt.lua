-- An attempt that was not queued (commands). KEYS: endpoint, attempt log.
-- ARGV: attempt JSON, now ms, status, url, ok (1/0)
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, 99)
redis.call('HSET', KEYS[1], 'url', ARGV[4], 'lastStatus', ARGV[3], 'lastAttemptAt', ARGV[2])
redis.call('HSETNX', KEYS[1], 'enabled', '1')
if ARGV[5] == '1' then redis.call('HDEL', KEYS[1], 'failingSince')
else redis.call('HSETNX', KEYS[1], 'failingSince', ARGV[2]) end
return 1
