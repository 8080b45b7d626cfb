-- An outbound message (operator through the API, or the agent's answer). In a widget
-- conversation it is stored and emitted (message_sent) at once. In a platform conversation it is
-- stored with "status":"queued" and its send through the platform's API joins its chat's pacing
-- line (FIFO, one send in flight per chat, within the account's rate: docs/channels.md "Platform
-- send limits"); message_sent follows once the platform accepted it (conv_sent).
-- ARGV: cx JSON, tenant id, conversation id, message id, sender JSON, mtail, etail, once key
-- ('' = none: otherwise a second call with the same key changes nothing), text for the platform
-- (plain), content JSON for the platform's rendering ('' = text only), the platforms that cannot
-- show the content ('' or a JSON object {channel type: {field, detail}})
-- -> {'NOCONV'} | {'DUP'} | {'UNFIT', field, detail} | {'OK', message JSON}
-- uses: emit conv
local cx = cjson.decode(ARGV[1])
local tp = 'sb:{t:' .. ARGV[2] .. '}:'
local h = redis.call('HMGET', tp .. 'conv:' .. ARGV[3], 'channel', 'channelId', 'chatId', 'status', 'agentId',
  'serviceUrl', 'thread')
if not h[1] then return {'NOCONV'} end
if ARGV[11] ~= '' then
  local bad = cjson.decode(ARGV[11])[h[1]]
  if bad then return {'UNFIT', bad.field, bad.detail} end
end
if ARGV[8] ~= '' and not redis.call('SET', tp .. 'once:' .. ARGV[8], '1', 'NX', 'EX', 604800) then
  return {'DUP'}
end
local c = {channel = h[1], channelId = h[2], chatId = h[3], status = h[4], agentId = h[5]}
if c.channel == 'widget' then
  local seq, mj = conv_append(cx, ARGV[2], ARGV[3], c, 'message_sent', ARGV[5], ARGV[6], ARGV[7], ARGV[4], 'r')
  return {'OK', mj}
end
local seq, mj, data = conv_append(cx, ARGV[2], ARGV[3], c, nil, ARGV[5], ARGV[6] .. ',"status":"queued"',
  ARGV[7], ARGV[4], 'r')
local pk = 'send:' .. ARGV[2] .. ':' .. c.channelId
local d = {id = 'snd_' .. ARGV[4], t = ARGV[2], k = 'send', ev = 'message_sent', pf = c.channel,
  ch = c.channelId, chat = c.chatId, svc = h[6] or '', th = h[7] or '', cid = ARGV[3], mid = ARGV[4], seq = seq,
  tx = ARGV[9], rm = ARGV[10] ~= '' and ARGV[10] or nil,
  ed = data, url = 'send:' .. c.channel, ep = string.sub(redis.sha1hex(pk), 1, 16), body = '',
  to = 10000, n = 0, ca = cx.now, pk = pk}
-- the chat's own line, in the tenant's slot; the endpoint stays the account's (pk)
d.pk = '{t:' .. ARGV[2] .. '}:send:' .. c.channelId .. ':' .. (c.chatId or '')
redis.call('RPUSH', 'sb:pace:' .. d.pk .. ':q', cjson.encode(d))
local nxt = tonumber(redis.call('GET', 'sb:pace:' .. d.pk .. ':next') or '0')
redis.call('ZADD', 'sb:pace:due', 'NX', math.max(cx.now, nxt), d.pk)
return {'OK', mj}
