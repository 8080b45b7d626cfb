-- Every function of the library takes the call context `cx`: {now (ms), ts (seed 001
-- "YYYY-MM-DD HH:MM:SS"), rfc (RFC 3339), inst (instance id), eid (event id stem)}.
-- sb_emit(cx, tid, event, data JSON, event id) -> {{deliveryId, url}, ...}: fan-out of one
-- event to the tenant's subscribers (docs/deliveries.md). A disabled endpoint's delivery goes
-- straight to its dead letters; a paced subscription waits in its pacing line.
local function sb_emit(cx, tid, event, data, eid)
  local tp = 'sb:{t:' .. tid .. '}:'
  local raw = redis.call('GET', tp .. 'subs')
  if not raw then return {} end
  local subs = cjson.decode(raw)
  local apikey = redis.call('HGET', tp .. 'whsecret', 'apiKey') or ''
  local now = cx.now
  local out = {}
  for url, s in pairs(subs) do
    local match = false
    for _, e in ipairs(s.events) do if e == event then match = true; break end end
    if match then
      local enabled = redis.call('HGET', tp .. 'ep:' .. s.ep, 'enabled') ~= '0'
      local body
      if s.format == 'olay' then
        body = '{"olay":' .. cjson.encode(event) .. ',"zaman":"' .. cx.rfc .. '","veri":' .. data .. '}'
      else
        body = '{"event_type":' .. cjson.encode(event) .. ',"timestamp":"' .. cx.ts ..
          '","instance_id":' .. cjson.encode(cx.inst) .. ',"data":' .. data .. ',"api_key":' ..
          cjson.encode(apikey) .. '}'
      end
      local id = 'msg_' .. eid .. '_' .. s.ep
      local d = {id = id, t = tid, k = 'event', ev = event, url = url, ep = s.ep, body = body,
                 to = s.timeoutMs or 3000, n = 0, ca = now}
      if s.paced then d.pk = tid .. ':' .. s.ep end
      local dj = cjson.encode(d)
      if not enabled then
        local dead = cjson.encode({id = id, delivery = d, endpointId = s.ep, url = url, event = event,
          attempts = 0, status = 0, failedAt = now, error = 'endpoint disabled'})
        redis.call('HSET', tp .. 'dead', id, dead)
        redis.call('ZADD', tp .. 'dead:idx', now, id)
        redis.call('INCR', 'sb:q:dead')
      elseif d.pk then
        redis.call('RPUSH', 'sb:pace:' .. d.pk .. ':q', dj)
        local nxt = tonumber(redis.call('GET', 'sb:pace:' .. d.pk .. ':next') or '0')
        redis.call('ZADD', 'sb:pace:due', 'NX', math.max(now, nxt), d.pk)
      else
        redis.call('XADD', 'sb:q:fresh', '*', 'd', dj)
      end
      out[#out + 1] = {id, url}
    end
  end
  return out
end
