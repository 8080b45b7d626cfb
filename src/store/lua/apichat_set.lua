-- Saves a verified API chat webhook (POST /api/partner/workspace/{id}/apichat-webhook, after
-- the verification call). KEYS: the tenant's apichat hash, the code index (code -> tenant id),
-- the tenant record. ARGV: webhook url, verification key, a fresh code, updatedAt, tenant id
-- -> the workspace's bot code (the one it had, else the fresh one), or 'NOTENANT'.
-- A replaced webhook keeps its code, so a bot_url handed out stays valid.
if redis.call('EXISTS', KEYS[3]) == 0 then return 'NOTENANT' end
local code = redis.call('HGET', KEYS[1], 'code')
if not code then
  code = ARGV[3]
  redis.call('HSET', KEYS[2], code, ARGV[5])
end
redis.call('HSET', KEYS[1], 'url', ARGV[1], 'key', ARGV[2], 'status', 'verified', 'code', code,
  'updatedAt', ARGV[4])
return code
