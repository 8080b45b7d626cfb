-- KEYS: the lane streams. ARGV: group. Creates missing groups (a Redis that restarted empty).
for _, k in ipairs(KEYS) do pcall(redis.call, 'XGROUP', 'CREATE', k, ARGV[1], '0', 'MKSTREAM') end
return 1
