-- The bot_url's proof (src/channels/apichat.c, docs/apichat.md "The bot_url and the channel"):
-- the flow key is one of the API keys of the workspace it names, the code is that workspace's
-- verified webhook, the workspace active. The key is judged first, so that a caller without a
-- key of the workspace learns nothing about codes (401 whatever the code).
-- KEYS: the code index, the workspace's key index (SHA-256 -> key id), its tenant record, its
-- apichat hash. ARGV: code, SHA-256 hex of the flow key, workspace id
-- -> 'OK' | 'NOKEY' (no such key, revoked, the workspace gone, or the code is another
--    workspace's) | 'NOCODE' (no such code, removed, unverified) | 'SUSPENDED'
if not redis.call('HGET', KEYS[2], ARGV[2]) then return 'NOKEY' end
local status = redis.call('HGET', KEYS[3], 'status')
if not status then return 'NOKEY' end
local owner = redis.call('HGET', KEYS[1], ARGV[1])
if not owner then return 'NOCODE' end
if owner ~= ARGV[3] then return 'NOKEY' end
local h = redis.call('HMGET', KEYS[4], 'code', 'status')
if h[1] ~= ARGV[1] or h[2] ~= 'verified' then return 'NOCODE' end
if status ~= 'active' then return 'SUSPENDED' end
return 'OK'
