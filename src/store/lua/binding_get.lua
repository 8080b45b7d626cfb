-- A binding. KEYS: channel index. ARGV: index field -> false or {tenant id, channel id, channel JSON}.
-- A suspended tenant's bindings are not found: its platforms get the answer of an unknown one
-- (and keep retrying, until the operator resumes the tenant or removes the webhook).
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return false end
local tid, cid = string.match(v, '^([^:|]+):([^|]+)$')
if not tid then return false end
if redis.call('HGET', 'sb:{t:' .. tid .. '}:tenant', 'status') ~= 'active' then
  return false
end
local j = redis.call('HGET', 'sb:{t:' .. tid .. '}:channels', cid)
if not j then return false end
return {tid, cid, j}
