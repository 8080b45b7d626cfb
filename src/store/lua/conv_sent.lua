-- The platform's verdict on a send: the message's status becomes 'sent' (with the platform's
-- message id) or 'failed' (with the error), and message_sent is emitted for a sent one, once.
-- The status members are the message's last (conv_reply put them there); they are rewritten. A
-- message of the incoming webhook (docs/incoming.md) also settles its credits and its send record.
-- ARGV: cx JSON, tenant id, conversation id, seq, platform message id, event data JSON, once key ('' none),
--       'sent' | 'failed', error, the incoming webhook's message id ('' none) -> {'OK'} | {'DUP'}
-- uses: emit incoming
local cx = cjson.decode(ARGV[1])
local tp = 'sb:{t:' .. ARGV[2] .. '}:'
if ARGV[7] ~= '' and not redis.call('SET', tp .. 'once:' .. ARGV[7], '1', 'NX', 'EX', 604800) then
  return {'DUP'}
end
msg_status(tp, ARGV[3], ARGV[4], ARGV[8], ARGV[5], ARGV[9])
if ARGV[10] ~= '' then inwh_settle(tp, ARGV[10], ARGV[8], ARGV[5], ARGV[9], cx.rfc) end
if ARGV[8] == 'sent' then
  local data = string.sub(ARGV[6], 1, -2) .. ',"platform_message_id":' .. cjson.encode(ARGV[5]) .. '}'
  sb_emit(cx, ARGV[2], 'message_sent', data, cx.eid .. 's')
end
return {'OK'}
