-- A bot_url message in one step: the proof (lib/apichat.lua), then, only when it holds, the
-- dedup claim and enqueue (lib/inbound.lua), so a removed webhook or a revoked key stops the
-- very next message and a held proof costs no second round trip.
-- Batched: per call KEYS: the code index, the workspace's key index, its tenant record, its
-- apichat hash, the inbound stream. ARGV: code, SHA-256 hex of the flow key, workspace id,
-- claim ttl s, then (claim key, item JSON) pairs
-- -> how many items were new, or the refusal: 'NOKEY' | 'NOCODE' | 'SUSPENDED'
-- uses: apichat inbound
-- batch: 5
local function item(k, a, n)
  local v = apichat_judge(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
  if v ~= 'OK' then return {ok = v} end
  return inbound_queue(KEYS[k + 5], ARGV[a + 4], a + 5, a + n)
end
