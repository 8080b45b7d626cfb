-- The second step of an activation of the incoming webhook (docs/incoming.md "The two steps"):
-- the inbound queue's item inwh_accept wrote becomes the conversation's outbound message (the
-- conversation opened for a phone or a JID, with dialog_created), its send joins the account's
-- incoming line, its credits move from the queue item (tp..'inwh:q') to the held map, and its
-- activation log entry, send record (with the conversation and seq) and send index entry are
-- written; the queue entry is acknowledged in the same script (an entry taken over after its
-- script ran is only acknowledged: the once key). Only the holder of the inbound lease may, as
-- for channel_inbound.
-- An item whose account was purged since (the purge count moved), whose account or chat is gone,
-- is settled instead: purged or failed, its credits back.
-- KEYS: inbound stream, inbound lease. ARGV: cx JSON, entry id, consumer, item JSON, new
--   conversation id, sender JSON, mtail, etail
-- -> {'NOTOWNER'} | {'GONE'} (tenant deleted) | {'DUP'} | {'DROPPED', status} | {'OK', conversation id, seq}
-- uses: emit proactive conv reply incoming
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return {'NOTOWNER'} end
local function done() redis.call('XACK', KEYS[1], 'sb', ARGV[2]); redis.call('XDEL', KEYS[1], ARGV[2]) end
local d = cjson.decode(ARGV[4])
local tid = d.t
local tp = 'sb:{t:' .. tid .. '}:'
if redis.call('EXISTS', tp .. 'tenant') == 0 then done() return {'GONE'} end
if not redis.call('SET', tp .. 'once:in:' .. ARGV[2], '1', 'NX', 'EX', 604800) then done() return {'DUP'} end
local cx = cjson.decode(ARGV[1])
local mid = d.mid
local rk = tp .. 'inwh:s:' .. mid
-- an item that will not be sent: its record written, then settled
local function drop(status, err)
  redis.call('HSET', rk, unpack(inwh_fields(tp, d)))
  inwh_settle(tp, mid, status, '', err, cx.rfc)
  done()
  return {'DROPPED', status}
end
-- the queue item's credits move to the held map; its activation log entry (at the time it was
-- accepted) and its place in the send index (by that time) are written
if redis.call('HDEL', tp .. 'inwh:q', mid) == 0 then done() return {'DROPPED', 'settled'} end
redis.call('HSET', tp .. 'inwh:held', mid, d.cr)
inwh_log(tp, d.lo or '0', d.at, d.ip or '', d.lb or '', 200,
  '{"status":"success","data":{"message_id":"wa_backend:' .. mid .. '"}}')
inwh_index(tp, d.ts, mid)
if (redis.call('HGET', tp .. 'inwh', 'pg:' .. d.ch) or '0') ~= d.pg then
  return drop('purged', 'purged: the queue was emptied')
end
if redis.call('HEXISTS', tp .. 'channels', d.ch) == 0 then
  return drop('failed', 'the WhatsApp account was removed')
end
local cid, h = d.cid, nil
if cid then
  h = redis.call('HMGET', tp .. 'conv:' .. cid, unpack(REPLY_FIELDS))
  if h[1] ~= 'whatsapp' or h[2] ~= d.ch then return drop('failed', 'chat not found') end
else
  cid = conv_open(cx, tid, 'whatsapp', d.ch, d.to, ARGV[5], d.ag)
  h = redis.call('HMGET', tp .. 'conv:' .. cid, unpack(REPLY_FIELDS))
end
local fields = {iw = mid, cr = d.cr, xa = d.xa, fu = d.fu, fn = d.fn}
local mj = conv_out(cx, tid, cid, h, ARGV[6], ARGV[7], ARGV[8], mid, d.tx, '', 'r',
  {line = INWH_LINE(tid, d.ch), fields = fields})
local seq = tonumber(string.match(mj, '^{"seq":(%d+)'))
redis.call('HSET', rk, unpack(inwh_fields(tp, d, cid, h[3], seq)))
done()
return {'OK', cid, seq}
