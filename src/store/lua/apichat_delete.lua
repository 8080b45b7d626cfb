-- Removes a workspace's API chat webhook and its bot code at once (DELETE
-- /api/partner/workspace/{id}/apichat-webhook). KEYS: the tenant's apichat hash, the code index.
-- -> 1 removed, 0 there was none. A later POST gets a new code.
local code = redis.call('HGET', KEYS[1], 'code')
if code then redis.call('HDEL', KEYS[2], code) end
return redis.call('DEL', KEYS[1])
