-- A dead letter queued again as a fresh delivery: a platform send rejoins its account's pacing
-- line (order, one send out at a time); anything else goes straight to the stream.
local function requeue(stream, d)
  d.n = 0
  if d.k == 'send' and type(d.pk) == 'string' then
    redis.call('RPUSH', 'sb:pace:' .. d.pk .. ':q', cjson.encode(d))
    redis.call('ZADD', 'sb:pace:due', 'NX', tonumber(redis.call('GET', 'sb:pace:' .. d.pk .. ':next') or '0'),
      d.pk)
  else
    d.pk = nil
    redis.call('XADD', stream, '*', 'd', cjson.encode(d))
  end
end
