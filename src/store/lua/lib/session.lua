-- A widget session is one string with a TTL (docs/keys.md):
-- 'id|widgetId|mode|verified 0/1|conv|createdAt|expiresAt|phone|code hash|codeExpires|verifiedAt'.
-- sess_get(key) -> table or nil; sess_put(key, ttl ms, the fields in that order) writes it with
-- its TTL (no table to build on the hot path). Times are kept as the strings they were written
-- as: a number is formatted only when it is made.
local function sess_get(key)
  local v = redis.call('GET', key)
  if not v then return nil end
  local f = {string.match(v, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|'
    .. '([^|]*)|([^|]*)$')}
  if not f[1] then return nil end
  return {id = f[1], wid = f[2], mode = f[3], verified = f[4], conv = f[5], createdAt = f[6],
    expiresAt = f[7], phone = f[8], code = f[9], codeExpires = f[10], verifiedAt = f[11]}
end
local function sess_ms(v) return type(v) == 'number' and string.format('%d', v) or v end
local function sess_put(key, ttl, id, wid, mode, verified, conv, created, expires, phone, code, codeexp, vat)
  redis.call('SET', key, id .. '|' .. wid .. '|' .. mode .. '|' .. verified .. '|' .. conv .. '|' ..
    sess_ms(created) .. '|' .. sess_ms(expires) .. '|' .. phone .. '|' .. code .. '|' .. sess_ms(codeexp) ..
    '|' .. sess_ms(vat), 'PX', ttl)
end
