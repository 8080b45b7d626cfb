-- A proactive message's firing into one conversation (docs/proactive.md).
--   PM_FIELDS / pm_load(tp, pmid) -> the message's record as a table (nil: none)
--   pm_send(cx, tid, pmid, pm, cid, h (REPLY_FIELDS), once key ('' none), message id, suffix)
--     -> message JSON | nil (the once key was taken: sent before)
--   pm_uuid(seed, n): a UUIDv4 made from 128 random bits (cx.eid) and a counter
-- uses: emit proactive conv reply
local PM_FIELDS = {'enabled', 'agentId', 'kind', 'ev', 'u', 'idle', 'max', 'cbody', 'ebody', 'tx', 'rm', 'unfit',
  'cron', 'tz'}
local function pm_load(tp, pmid)
  local f = redis.call('HMGET', tp .. 'pm:' .. pmid, unpack(PM_FIELDS))
  if not f[2] then return nil end
  local pm = {}
  for i, k in ipairs(PM_FIELDS) do pm[k] = f[i] or '' end
  return pm
end
local function pm_send(cx, tid, pmid, pm, cid, h, once, mid, suffix)
  local tp = 'sb:{t:' .. tid .. '}:'
  if once ~= '' and not redis.call('SET', tp .. 'once:pm:' .. once, '1', 'NX', 'EX', 604800) then return nil end
  local sender = '{"type":"agent","id":"' .. pm.agentId .. '"}'
  local mtail = '"id":"' .. mid .. '","direction":"out",' .. pm.cbody .. ',"createdAt":"' .. cx.rfc ..
    '","proactiveMessageId":"' .. pmid .. '"'
  local etail = '"message_id":"' .. mid .. '","direction":"out",' .. pm.ebody .. ',"created_at":"' .. cx.rfc ..
    '","proactive_message_id":"' .. pmid .. '"'
  local mj = conv_out(cx, tid, cid, h, sender, mtail, etail, mid, pm.tx, pm.rm, suffix)
  redis.call('HSET', tp .. 'pm:' .. pmid, 'lastFiredAt', cx.rfc)
  redis.call('HINCRBY', tp .. 'pm:' .. pmid, 'fireCount', 1)
  return mj
end
local function pm_uuid(seed, n)
  local h = redis.sha1hex(seed .. ':' .. n)
  local v = tonumber(string.sub(h, 17, 17), 16) % 4 + 1
  return string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-4' .. string.sub(h, 14, 16) .. '-' ..
    string.sub('89ab', v, v) .. string.sub(h, 18, 20) .. '-' .. string.sub(h, 21, 32)
end
