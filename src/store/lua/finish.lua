-- The outcome of an attempt, recorded and acknowledged together.
-- KEYS: lane stream, endpoint, attempt log, delay set, dead letters, dead index, receive counts.
-- ARGV: entry id, group, outcome (success|retry|dead|gone|skip|drop), attempt JSON ('' = none), now ms,
--       disable-after ms, retry JSON, retry due ms, dead JSON, delivery id, status, url, pacing key of
--       a platform send ('' = none), gap ms
-- A platform send holds its chat's pacing line while it is out (pace_tick): its outcome
-- releases the line no sooner than the chat's gap after the send left (:sent; a line of the older
-- account-wide layout: the gap ARGV 14), and its retry goes back to the head of the line, due at
-- the retry time, so the chat's messages leave in order. A retry whose entry says "rla":1 (the
-- platform's limit is the account's, docs/channels.md "Platform send limits") also holds every
-- chat of the account until then (:acct field hold).
-- -> {final outcome, 1 if the endpoint was disabled now}
if ARGV[1] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])
  redis.call('XDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[7], ARGV[1])
end
local outcome = ARGV[3]
if outcome == 'drop' then return {'drop', 0} end
local disabled = 0
if ARGV[4] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[4])
  redis.call('LTRIM', KEYS[3], 0, 99)
  redis.call('HSET', KEYS[2], 'url', ARGV[12], 'lastStatus', ARGV[11], 'lastAttemptAt', ARGV[5])
end
if outcome == 'skip' then
  outcome = 'dead'
elseif outcome == 'success' then
  redis.call('HDEL', KEYS[2], 'failingSince')
else
  redis.call('HSETNX', KEYS[2], 'failingSince', ARGV[5])
  local since = tonumber(redis.call('HGET', KEYS[2], 'failingSince'))
  if outcome == 'gone' or tonumber(ARGV[5]) - since >= tonumber(ARGV[6]) then
    if redis.call('HGET', KEYS[2], 'enabled') ~= '0' then
      redis.call('HSET', KEYS[2], 'enabled', '0', 'disabledAt', ARGV[5])
      disabled = 1
    end
    outcome = 'dead'
  end
end
local pq = ARGV[13] ~= '' and ('sb:pace:' .. ARGV[13]) or nil
local acct = pq and string.match(ARGV[13], '^({t:[^}]+}:send:[^:]+):')
if outcome == 'retry' and pq then
  redis.call('LPUSH', pq .. ':q', ARGV[7])
  redis.call('SET', pq .. ':next', ARGV[8], 'PX', tonumber(ARGV[8]) - tonumber(ARGV[5]) + 60000)
  redis.call('ZADD', 'sb:pace:due', ARGV[8], ARGV[13])
  if acct then redis.call('DEL', pq .. ':sent') end
  if acct and string.find(ARGV[7], '"rla":1', 1, true) then
    local ak = 'sb:pace:' .. acct .. ':acct'
    local a = redis.call('HMGET', ak, 'tat', 'hold')
    local hold = math.max(tonumber(a[2]) or 0, tonumber(ARGV[8]))
    redis.call('HSET', ak, 'hold', hold)
    redis.call('PEXPIRE', ak, math.ceil(math.max(hold, tonumber(a[1]) or 0) - tonumber(ARGV[5])) + 60000)
  end
  return {outcome, disabled}
elseif pq then
  local now = tonumber(ARGV[5])
  local nxt = now + tonumber(ARGV[14])
  if acct then
    local at, gap = string.match(redis.call('GET', pq .. ':sent') or '', '^(%S+) (%S+)$')
    nxt = math.max(now, (tonumber(at) or 0) + (tonumber(gap) or 0))
    redis.call('DEL', pq .. ':sent')
  end
  redis.call('SET', pq .. ':next', nxt, 'PX', math.ceil(nxt - now) + 60000)
  if redis.call('LLEN', pq .. ':q') > 0 then redis.call('ZADD', 'sb:pace:due', nxt, ARGV[13])
  else redis.call('ZREM', 'sb:pace:due', ARGV[13]) end
end
if outcome == 'retry' then
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[7])
elseif outcome == 'dead' then
  if redis.call('HSET', KEYS[5], ARGV[10], ARGV[9]) == 1 then redis.call('INCR', 'sb:q:dead') end
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[10])
end
return {outcome, disabled}
