-- GET /api/admin/partners. KEYS: partners index. ARGV: offset, count, partner key prefix
-- "sb:partner:", tenant key prefix, suffix -> {total, record, record, ...} (each as partner_get
-- shows it), in creation order.
-- uses: partner
local total = redis.call('ZCARD', KEYS[1])
local ids = redis.call('ZRANGE', KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1)
local out = {total}
for _, id in ipairs(ids) do
  local v = partner_view(ARGV[3] .. id, ARGV[4], ARGV[5])
  if v then out[#out + 1] = v end
end
return out
