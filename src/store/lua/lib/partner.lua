-- A partner record as the admin API shows it (partner_get, partner_update, partner_list):
-- {id, name, createdAt, updatedAt, tenant id, tenant id, ...} or false when there is none.
-- The record keeps the tenant ids in the order they were given ('tenants', comma-separated) and
-- one field 't:<tenant id>' each (partner_auth's membership test). A deleted tenant is left
-- out here and refused by partner_auth (its record is gone): the partner just loses it.
-- pre, suf: what goes before and after a tenant id in its record's key.
local function partner_view(key, pre, suf)
  local f = redis.call('HMGET', key, 'id', 'name', 'createdAt', 'updatedAt', 'tenants')
  if not f[1] then return false end
  local out = {f[1], f[2], f[3], f[4]}
  for tid in string.gmatch(f[5] or '', '[^,]+') do
    if redis.call('EXISTS', pre .. tid .. suf) == 1 then out[#out + 1] = tid end
  end
  return out
end

-- The tenants of ARGV[first..]: the index (0-based) of the first without a record, or nil.
local function partner_unknown_tenant(first, pre, suf)
  for i = first, #ARGV do
    if redis.call('EXISTS', pre .. ARGV[i] .. suf) == 0 then return i - first end
  end
  return nil
end

-- Writes ARGV[first..] as the partner's tenants, replacing the ones it had.
local function partner_set_tenants(key, first)
  local old = redis.call('HGET', key, 'tenants') or ''
  for tid in string.gmatch(old, '[^,]+') do redis.call('HDEL', key, 't:' .. tid) end
  local ids = {}
  for i = first, #ARGV do
    ids[#ids + 1] = ARGV[i]
    redis.call('HSET', key, 't:' .. ARGV[i], '1')
  end
  redis.call('HSET', key, 'tenants', table.concat(ids, ','))
end
