-- The platform's verdict on a send: the message's status becomes 'sent' (with the platform's
-- message id) or 'failed' (with the error), and message_sent is emitted for a sent one, once.
-- The status members are the message's last (conv_reply put them there); they are rewritten.
-- ARGV: cx JSON, tenant id, conversation id, seq, platform message id, event data JSON, once key ('' none),
--       'sent' | 'failed', error -> {'OK'} | {'DUP'}
-- uses: emit
local cx = cjson.decode(ARGV[1])
local tp = 'sb:{t:' .. ARGV[2] .. '}:'
if ARGV[7] ~= '' and not redis.call('SET', tp .. 'once:' .. ARGV[7], '1', 'NX', 'EX', 604800) then
  return {'DUP'}
end
local mk = tp .. 'conv:' .. ARGV[3] .. ':msgs'
local m = redis.call('ZRANGEBYSCORE', mk, ARGV[4], ARGV[4])[1]
local at, from = nil, 1
while m do
  local j = string.find(m, ',"status":"', from, true)
  if not j then break end
  at, from = j, j + 1
end
if at then
  local add = ',"status":' .. cjson.encode(ARGV[8])
  if ARGV[5] ~= '' then add = add .. ',"platformMessageId":' .. cjson.encode(ARGV[5]) end
  if ARGV[9] ~= '' then add = add .. ',"error":' .. cjson.encode(ARGV[9]) end
  redis.call('ZREMRANGEBYSCORE', mk, ARGV[4], ARGV[4])
  redis.call('ZADD', mk, ARGV[4], string.sub(m, 1, at - 1) .. add .. '}')
end
if ARGV[8] == 'sent' then
  local data = string.sub(ARGV[6], 1, -2) .. ',"platform_message_id":' .. cjson.encode(ARGV[5]) .. '}'
  sb_emit(cx, ARGV[2], 'message_sent', data, cx.eid .. 's')
end
return {'OK'}
