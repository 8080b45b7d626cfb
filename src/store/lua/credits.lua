-- A tenant's send credits (docs/incoming.md "Credits"): read, or set what can still be spent
-- (what queued messages hold stays held).
-- ARGV: tenant id, 'get' | 'set', the balance ('' none: no quota)
-- -> {'NOTENANT'} | {balance ('' none), held, used}
local tp = 'sb:{t:' .. ARGV[1] .. '}:'
if redis.call('EXISTS', tp .. 'tenant') == 0 then return {'NOTENANT'} end
local ck = tp .. 'credits'
if ARGV[2] == 'set' then
  if ARGV[3] == '' then redis.call('HDEL', ck, 'balance') else redis.call('HSET', ck, 'balance', ARGV[3]) end
end
local c = redis.call('HMGET', ck, 'balance', 'held', 'used')
return {c[1] or '', tonumber(c[2] or '0'), tonumber(c[3] or '0')}
