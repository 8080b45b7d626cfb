-- An outbound message (operator, agent, proactive) into a conversation. In a widget conversation
-- it is stored and emitted (message_sent) at once. In a platform conversation it is stored with
-- "status":"queued" and its send through the platform's API joins its chat's pacing line (FIFO,
-- one send in flight per chat, within the account's rate: docs/channels.md "Platform send
-- limits"); message_sent follows once the platform accepted it (conv_sent). The conversation's
-- outSeq is the seq of its latest outbound message (a proactive trigger's unlessReplied).
--   REPLY_FIELDS: the conversation's fields conv_out takes (HMGET them in this order)
--   conv_out(cx, tid, cid, h, sender, mtail, etail, mid, text for the platform, content JSON for
--            the platform's rendering ('' = text only), event id suffix[, x]) -> message JSON
--     x (the incoming webhook, docs/incoming.md): x.line, the pacing line the send joins instead
--     of its chat's, and x.fields, members added to the send entry
-- uses: emit proactive conv
local REPLY_FIELDS = {'channel', 'channelId', 'chatId', 'status', 'agentId', 'serviceUrl', 'thread'}
local function conv_out(cx, tid, cid, h, sender, mtail, etail, mid, tx, rm, suffix, x)
  local c = {channel = h[1], channelId = h[2], chatId = h[3], status = h[4], agentId = h[5]}
  local ck = 'sb:{t:' .. tid .. '}:conv:' .. cid
  if c.channel == 'widget' then
    local seq, mj = conv_append(cx, tid, cid, c, 'message_sent', sender, mtail, etail, mid, suffix)
    redis.call('HSET', ck, 'outSeq', seq)
    return mj
  end
  local seq, mj, data = conv_append(cx, tid, cid, c, nil, sender, mtail .. ',"status":"queued"', etail, mid, suffix)
  redis.call('HSET', ck, 'outSeq', seq)
  local pk = 'send:' .. tid .. ':' .. c.channelId
  local d = {id = 'snd_' .. mid, t = tid, k = 'send', ev = 'message_sent', pf = c.channel,
    ch = c.channelId, chat = c.chatId, svc = h[6] or '', th = h[7] or '', cid = cid, mid = mid, seq = seq,
    tx = tx, rm = rm ~= '' and rm or nil,
    ed = data, url = 'send:' .. c.channel, ep = string.sub(redis.sha1hex(pk), 1, 16), body = '',
    to = 10000, n = 0, ca = cx.now, pk = pk}
  -- the chat's own line, in the tenant's slot; the endpoint stays the account's (pk)
  d.pk = '{t:' .. tid .. '}:send:' .. c.channelId .. ':' .. (c.chatId or '')
  if x then
    d.pk = x.line
    for k, v in pairs(x.fields) do d[k] = v end
  end
  redis.call('RPUSH', 'sb:pace:' .. d.pk .. ':q', cjson.encode(d))
  local nxt = tonumber(redis.call('GET', 'sb:pace:' .. d.pk .. ':next') or '0')
  redis.call('ZADD', 'sb:pace:due', 'NX', math.max(cx.now, nxt), d.pk)
  return mj
end
