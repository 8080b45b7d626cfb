-- KEYS: tenant, collection, index hash, widgets, channels.
-- ARGV: id, index mode ('id': the id is the index field; 'binding': the record's bindingKey;
--       '' none), agent id whose use blocks deletion ('': a widget or channel routing to it, or a
--       proactive message of it)
-- -> 'OK' | 'NOTENANT' | 'NOTFOUND' | 'INUSE' | 'PMINUSE'
-- uses: unbind
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return 'NOTFOUND' end
if ARGV[3] ~= '' then
  local needle = '"agentId":"' .. ARGV[3] .. '"'
  for _, k in ipairs({KEYS[4], KEYS[5]}) do
    for _, v in ipairs(redis.call('HVALS', k)) do
      if string.find(v, needle, 1, true) then return 'INUSE' end
    end
  end
  -- KEYS[2] is the tenant's 'agents' hash; its proactive messages by agent sit beside it
  if redis.call('ZCARD', string.sub(KEYS[2], 1, -7) .. 'pms:a:' .. ARGV[3]) > 0 then return 'PMINUSE' end
end
if ARGV[2] == 'id' then redis.call('HDEL', KEYS[3], ARGV[1])
elseif ARGV[2] == 'binding' then
  unbind(KEYS[3], cur)
end
redis.call('HDEL', KEYS[2], ARGV[1])
return 'OK'
