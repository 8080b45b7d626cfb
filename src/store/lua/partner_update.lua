-- PUT /api/admin/partners/{id}: replaces the name and/or the tenants. KEYS: partner record.
-- ARGV: name ('' keeps it), updatedAt, '1' to replace the tenants ('0' keeps them), tenant key
-- prefix, suffix, tenant id, ... -> the record as partner_get shows it, 'NOTFOUND', or
-- 'NOTENANT <i>' (0-based index of the first tenant id without a tenant; nothing written).
-- uses: partner
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTFOUND' end
if ARGV[3] == '1' then
  local bad = partner_unknown_tenant(6, ARGV[4], ARGV[5])
  if bad then return 'NOTENANT ' .. bad end
  partner_set_tenants(KEYS[1], 6)
end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'name', ARGV[1]) end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[2])
return partner_view(KEYS[1], ARGV[4], ARGV[5])
