-- Dedup claim and enqueue (lib/inbound.lua). Batched: per call KEYS: inbound stream. ARGV: claim
-- ttl s, then (claim key, item JSON) pairs -> how many items were new.
-- uses: inbound
-- batch: 1
local function item(k, a, n)
  return inbound_queue(KEYS[k + 1], ARGV[a + 1], a + 2, a + n)
end
