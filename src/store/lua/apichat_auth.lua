-- The bot_url's proof alone (lib/apichat.lua), for a request whose workspace has no apichat
-- channel: the answer still tells a bad key (401) from an unknown code (404) and no channel.
-- Batched: per call KEYS: the code index, the workspace's key index (SHA-256 -> key id), its
-- tenant record, its apichat hash. ARGV: code, SHA-256 hex of the flow key, workspace id
-- -> 'OK' | 'NOKEY' | 'NOCODE' | 'SUSPENDED'
-- uses: apichat
-- batch: 4
local function item(k, a, n)
  return apichat_judge(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
end
