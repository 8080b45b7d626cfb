-- KEYS: fresh stream, retry stream, delay set, dead-letter count -> {fresh, retry, delayed, dead}
return {redis.call('XLEN', KEYS[1]), redis.call('XLEN', KEYS[2]), redis.call('ZCARD', KEYS[3]),
        tonumber(redis.call('GET', KEYS[4]) or '0')}
