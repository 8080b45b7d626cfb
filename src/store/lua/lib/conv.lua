-- Conversations (docs/conversations.md). A conversation is the hash tp..'conv:'..cid; its open ones
-- are also in the global 'sb:convs:idle' by last activity ('<tid>:<cid>'), for the idle-timeout
-- close; its messages a sorted set by seq (tp..'conv:'..cid..':msgs'); seq counts every event of
-- the conversation. Messages are JSON put together from pieces the C side validated and encoded:
-- sender JSON, mtail (the message's other members) and etail (the event data's other members).
--   conv_open(cx, tid, channel, channelId, chatId, new cid, agentId) -> cid, c
--   conv_event(cx, tid, cid, c, event, suffix)                         -> seq (c.reason: data.reason)
--   conv_append(cx, tid, cid, c, event, sender, mtail, etail, mid, suffix) -> seq, message, data
--     (event nil: the message is stored and nothing is emitted yet)
--   conv_shut(cx, tid, cid, reason, suffix) -> conversation key (nil: none): closes, dialog_closed once
--   conv_agent(cx, tid, cid, agentId, mid, data): the message_received delivery to the agent
-- Every event and customer message also schedules the agent's proactive triggers (pm_on,
-- lib/proactive.lua); the hash keeps lastMs (the latest message, ms) and inSeq (the latest
-- customer message's seq) for them.
-- uses: emit proactive
local function conv_data(cid, c, seq)
  return '{"seq":' .. seq .. ',"conversation_id":"' .. cid .. '","channel":' .. cjson.encode(c.channel) ..
    ',"channel_id":' .. cjson.encode(c.channelId) .. ',"chat_id":' .. cjson.encode(c.chatId)
end
local function conv_index(tp, cid, status, now)
  redis.call('ZADD', tp .. 'convs', now, cid)
  redis.call('ZREM', tp .. 'convs:' .. (status == 'open' and 'closed' or 'open'), cid)
  redis.call('ZADD', tp .. 'convs:' .. status, now, cid)
  local idle = string.sub(tp, 7, -3) .. ':' .. cid
  if status == 'open' then redis.call('ZADD', 'sb:convs:idle', now, idle)
  else redis.call('ZREM', 'sb:convs:idle', idle) end
end
local function conv_event(cx, tid, cid, c, event, suffix)
  local tp = 'sb:{t:' .. tid .. '}:'
  local seq = redis.call('HINCRBY', tp .. 'conv:' .. cid, 'seq', 1)
  local data = conv_data(cid, c, seq) .. ',"status":' .. cjson.encode(c.status)
  if c.reason then data = data .. ',"reason":' .. cjson.encode(c.reason) end
  data = data .. '}'
  sb_emit(cx, tid, event, data, cx.eid .. suffix)
  pm_on(cx, tid, cid, c.agentId, event, seq)
  return seq
end
local function conv_open(cx, tid, channel, chid, chat, newcid, agent)
  local tp = 'sb:{t:' .. tid .. '}:'
  local xk = tp .. 'convx:' .. channel .. ':' .. chid .. ':' .. chat
  local cid = redis.call('GET', xk)
  local c
  if not cid then
    cid = newcid
    redis.call('SET', xk, cid)
    c = {channel = channel, channelId = chid, chatId = chat, status = 'open', agentId = agent}
    redis.call('HSET', tp .. 'conv:' .. cid, 'id', cid, 'channel', channel, 'channelId', chid, 'chatId', chat,
      'status', 'open', 'seq', 0, 'createdAt', cx.rfc, 'updatedAt', cx.rfc, 'agentId', agent)
    conv_index(tp, cid, 'open', cx.now)
    conv_event(cx, tid, cid, c, 'dialog_created', 'c')
  else
    local h = redis.call('HMGET', tp .. 'conv:' .. cid, 'channel', 'channelId', 'chatId', 'status')
    c = {channel = h[1], channelId = h[2], chatId = h[3], status = h[4], agentId = agent}
    if c.status == 'closed' then
      c.status = 'open'
      redis.call('HSET', tp .. 'conv:' .. cid, 'status', 'open', 'updatedAt', cx.rfc, 'agentId', agent)
      conv_index(tp, cid, 'open', cx.now)
      conv_event(cx, tid, cid, c, 'dialog_reopened', 'o')
    end
  end
  return cid, c
end
local function conv_append(cx, tid, cid, c, event, sender, mtail, etail, mid, suffix)
  local tp = 'sb:{t:' .. tid .. '}:'
  local ck = tp .. 'conv:' .. cid
  local seq = redis.call('HINCRBY', ck, 'seq', 1)
  local mj = '{"seq":' .. seq .. ',"conversationId":"' .. cid .. '","sender":' .. sender .. ',' .. mtail .. '}'
  redis.call('ZADD', ck .. ':msgs', seq, mj)
  redis.call('HSET', ck .. ':mids', mid, seq)
  if event == 'message_received' then
    redis.call('HSET', ck, 'updatedAt', cx.rfc, 'lastMessageAt', cx.rfc, 'lastMs', cx.now, 'inSeq', seq)
  else
    redis.call('HSET', ck, 'updatedAt', cx.rfc, 'lastMessageAt', cx.rfc, 'lastMs', cx.now)
  end
  conv_index(tp, cid, c.status, cx.now)
  local data = conv_data(cid, c, seq) .. ',"sender":' .. sender .. ',' .. etail .. '}'
  if event then sb_emit(cx, tid, event, data, cx.eid .. suffix) end
  if event == 'message_received' then pm_on(cx, tid, cid, c.agentId, event, seq) end
  redis.call('PUBLISH', tp .. 'live:' .. cid, mj)
  return seq, mj, data
end
local function conv_shut(cx, tid, cid, reason, suffix)
  local tp = 'sb:{t:' .. tid .. '}:'
  local ck = tp .. 'conv:' .. cid
  local h = redis.call('HMGET', ck, 'channel', 'channelId', 'chatId', 'status', 'agentId')
  if not h[1] then return nil end
  if h[4] ~= 'closed' then
    local c = {channel = h[1], channelId = h[2], chatId = h[3], status = 'closed', reason = reason, agentId = h[5]}
    redis.call('HSET', ck, 'status', 'closed', 'updatedAt', cx.rfc, 'closedAt', cx.rfc)
    conv_index(tp, cid, 'closed', cx.now)
    conv_event(cx, tid, cid, c, 'dialog_closed', suffix)
  end
  return ck
end
local function conv_agent(cx, tid, cid, agent, mid, data)
  if type(agent) ~= 'string' or agent == '' then return end
  local tp = 'sb:{t:' .. tid .. '}:'
  local a = redis.call('HGET', tp .. 'agents', agent)
  if not a then return end
  local o = cjson.decode(a)
  if type(o.webhookUrl) ~= 'string' or type(o.endpointId) ~= 'string' then return end
  local apikey = redis.call('HGET', tp .. 'whsecret', 'apiKey') or ''
  local body = '{"event_type":"message_received","timestamp":"' .. cx.ts .. '","instance_id":' ..
    cjson.encode(cx.inst) .. ',"data":' .. data .. ',"api_key":' .. cjson.encode(apikey) .. '}'
  local d = {id = 'ag_' .. mid, t = tid, k = 'agent', ev = 'message_received', url = o.webhookUrl,
             ep = o.endpointId, body = body, to = 3000, n = 0, ca = cx.now, ag = agent, cid = cid}
  redis.call('XADD', 'sb:q:fresh', '*', 'd', cjson.encode(d))
end
