-- The session's messages. KEYS: widget index.
-- ARGV: widget id, origin, token hash, after ('' from the start, 'now' none: only the current
-- seq, a seq or a message id), limit
-- -> {error} | {'BADAFTER'} | {'OK', tenant id, conversation id or '', current seq, more, message...}
-- uses: widget session widget_auth conv_read
local a, err = widget_auth(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
if not a then return {err} end
local cid = a.conv
if cid == '' then return {'OK', a.tid, '', 0, 0} end
local ck = 'sb:{t:' .. a.tid .. '}:conv:' .. cid
local exists = redis.call('EXISTS', ck) == 1
local after, from = ARGV[4], 0
if after == 'now' then
  return {'OK', a.tid, cid, tonumber(redis.call('HGET', ck, 'seq') or '0'), 0}
elseif string.find(after, '^%d+$') then
  from = tonumber(after)
elseif after ~= '' then
  local s = redis.call('HGET', ck .. ':mids', after)
  if not s then return {'BADAFTER'} end
  from = tonumber(s)
end
local r = conv_read(ck, from, tonumber(ARGV[5]))
local out = {'OK', a.tid, exists and cid or ''}
for _, v in ipairs(r) do out[#out + 1] = v end
return out
