-- KEYS: tenants index. ARGV: offset, count, key prefix "sb:{t:", key suffix "}:tenant".
-- -> {total, {id,name,status,createdAt,updatedAt}, ...}. Reads other tenants' hashes, which a
-- single-primary Redis (with or without Sentinel) allows; see docs/keys.md.
local total = redis.call('ZCARD', KEYS[1])
local ids = redis.call('ZRANGE', KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1)
local out = {total}
for _, id in ipairs(ids) do
  out[#out + 1] = redis.call('HMGET', ARGV[3] .. id .. ARGV[4], 'id', 'name', 'status', 'createdAt', 'updatedAt')
end
return out
