-- apichat_judge(code index, key index, tenant record, apichat hash, code, key digest, workspace
-- id): the bot_url's proof (src/channels/apichat.c, docs/apichat.md "The bot_url and the
-- channel"): the flow key is one of the API keys of the workspace it names, the code is that
-- workspace's verified webhook, the workspace active. The key is judged first, so that a caller
-- without a key of the workspace learns nothing about codes (401 whatever the code).
-- -> 'OK' | 'NOKEY' (no such key, revoked, the workspace gone, or the code is another
--    workspace's) | 'NOCODE' (no such code, removed, unverified) | 'SUSPENDED'
-- The workspace's apichat hash names its code: when it is the path's, the code is the
-- workspace's verified webhook's (apichat_set writes the hash, with the index entry, only for a
-- verified webhook; apichat_delete removes both together; tenant_delete removes the key index,
-- the tenant record and the index entry); the index is read only to tell an unknown code (404)
-- from another workspace's (401).
local function apichat_judge(kidx, kkeys, ktenant, khook, code, hash, tid)
  if not redis.call('HGET', kkeys, hash) then return 'NOKEY' end
  local status = redis.call('HGET', ktenant, 'status')
  if not status then return 'NOKEY' end
  if redis.call('HGET', khook, 'code') ~= code then
    local owner = redis.call('HGET', kidx, code)
    if owner and owner ~= tid then return 'NOKEY' end
    return 'NOCODE'
  end
  if status ~= 'active' then return 'SUSPENDED' end
  return 'OK'
end
