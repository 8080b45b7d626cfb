-- An outbound message (operator through the API, or the agent's answer): conv_out (lib/reply.lua).
-- ARGV: cx JSON, tenant id, conversation id, message id, sender JSON, mtail, etail, once key
-- ('' = none: otherwise a second call with the same key changes nothing), text for the platform
-- (plain), content JSON for the platform's rendering ('' = text only), the platforms that cannot
-- show the content ('' or a JSON object {channel type: {field, detail}})
-- -> {'NOCONV'} | {'DUP'} | {'UNFIT', field, detail} | {'OK', message JSON}
-- uses: emit proactive conv reply
local cx = cjson.decode(ARGV[1])
local tp = 'sb:{t:' .. ARGV[2] .. '}:'
local h = redis.call('HMGET', tp .. 'conv:' .. ARGV[3], unpack(REPLY_FIELDS))
if not h[1] then return {'NOCONV'} end
if ARGV[11] ~= '' then
  local bad = cjson.decode(ARGV[11])[h[1]]
  if bad then return {'UNFIT', bad.field, bad.detail} end
end
if ARGV[8] ~= '' and not redis.call('SET', tp .. 'once:' .. ARGV[8], '1', 'NX', 'EX', 604800) then
  return {'DUP'}
end
return {'OK', conv_out(cx, ARGV[2], ARGV[3], h, ARGV[5], ARGV[6], ARGV[7], ARGV[4], ARGV[9], ARGV[10], 'r')}
