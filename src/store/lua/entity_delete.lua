-- KEYS: tenant, collection, index hash, widgets, channels.
-- ARGV: id, index mode ('id': the id is the index field; 'binding': the record's bindingKey;
--       '' none), agent id whose use blocks deletion ('')
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
end
if ARGV[2] == 'id' then redis.call('HDEL', KEYS[3], ARGV[1])
elseif ARGV[2] == 'binding' then
  unbind(KEYS[3], cur)
end
redis.call('HDEL', KEYS[2], ARGV[1])
return 'OK'
