-- ARGV: cx JSON, tenant id, conversation id -> {'NOCONV'} | {'OK', HGETALL of the conversation}
-- uses: emit proactive conv
local ck = conv_shut(cjson.decode(ARGV[1]), ARGV[2], ARGV[3], nil, 'x')
if not ck then return {'NOCONV'} end
return {'OK', redis.call('HGETALL', ck)}
