-- An internal note (a command's answer): stored with the conversation's messages, seen through
-- the native API only (no event, no live publish; the widget's reads skip it).
-- ARGV: cx JSON, tenant id, conversation id, message id, sender JSON, mtail
-- -> {'NOCONV'} | {'OK', message JSON}
local cx = cjson.decode(ARGV[1])
local ck = 'sb:{t:' .. ARGV[2] .. '}:conv:' .. ARGV[3]
if redis.call('EXISTS', ck) == 0 then return {'NOCONV'} end
local seq = redis.call('HINCRBY', ck, 'seq', 1)
local mj = '{"seq":' .. seq .. ',"conversationId":"' .. ARGV[3] .. '","sender":' .. ARGV[5] .. ',' ..
  ARGV[6] .. '}'
redis.call('ZADD', ck .. ':msgs', seq, mj)
redis.call('HSET', ck .. ':mids', ARGV[4], seq)
redis.call('HSET', ck, 'updatedAt', cx.rfc)
return {'OK', mj}
