-- One queued inbound message becomes a conversation message: open or reopen the conversation,
-- append, emit, queue the agent's delivery, and acknowledge the queue entry, all at once (an
-- entry taken over after its script ran is only acknowledged: the once key). Only the holder of
-- the inbound lease may: another consumer's entry stays pending for the holder to take over.
-- KEYS: inbound stream, inbound lease. ARGV: cx JSON, entry id, tenant id, channel type, channel id, chat id,
--       new conversation id, agent id, sender JSON, mtail, etail, message id, reply address ('' = none:
--       Teams' serviceUrl, kept on the conversation for its replies), Slack thread ('' = none: the
--       message's thread_ts; the conversation's replies go to the thread of its latest message),
--       consumer
-- -> {'NOTOWNER'} | {'GONE'} (tenant deleted) | {'DUP'} | {'OK', conversation id, seq}
-- A WhatsApp contact's profile name is indexed (tp..'cname:'..sha1(name): its conversations).
-- uses: emit proactive conv
if redis.call('GET', KEYS[2]) ~= ARGV[15] then return {'NOTOWNER'} end
local function done() redis.call('XACK', KEYS[1], 'sb', ARGV[2]); redis.call('XDEL', KEYS[1], ARGV[2]) end
local tp = 'sb:{t:' .. ARGV[3] .. '}:'
if redis.call('EXISTS', tp .. 'tenant') == 0 then done() return {'GONE'} end
if not redis.call('SET', tp .. 'once:in:' .. ARGV[2], '1', 'NX', 'EX', 604800) then done() return {'DUP'} end
local cx = cjson.decode(ARGV[1])
local cid, c = conv_open(cx, ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
if ARGV[13] ~= '' then redis.call('HSET', tp .. 'conv:' .. cid, 'serviceUrl', ARGV[13]) end
if ARGV[4] == 'slack' then
  if ARGV[14] ~= '' then redis.call('HSET', tp .. 'conv:' .. cid, 'thread', ARGV[14])
  else redis.call('HDEL', tp .. 'conv:' .. cid, 'thread') end
end
if ARGV[4] == 'whatsapp' then -- the contact's name, for the incoming webhook's chat_name (docs/incoming.md)
  local ok, snd = pcall(cjson.decode, ARGV[9])
  local name = ok and type(snd) == 'table' and type(snd.name) == 'string' and snd.name or nil
  local ck = tp .. 'conv:' .. cid
  local old = name and redis.call('HGET', ck, 'contactName')
  if name and old ~= name then
    if old then redis.call('SREM', tp .. 'cname:' .. redis.sha1hex(old), cid) end
    redis.call('SADD', tp .. 'cname:' .. redis.sha1hex(name), cid)
    redis.call('HSET', ck, 'contactName', name)
  end
end
local seq, mj, data = conv_append(cx, ARGV[3], cid, c, 'message_received', ARGV[9], ARGV[10], ARGV[11], ARGV[12], 'm')
conv_agent(cx, ARGV[3], cid, ARGV[8], ARGV[12], data)
done()
return {'OK', cid, seq}
