-- Create or compare-and-set update.
-- KEYS: tenant, collection, agents (reference check), index hash.
-- ARGV: id, json, expected current json ('' = create), agent id ('' = none),
--       new index fields (newline-separated, '' none), index value, old index fields (same)
-- An index field owned by another record (its value up to the first '|' differs) is a
-- DUPLICATE; a widget's index value is its gate 'tid|otp|agent|origins' (lib/widget.lua).
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if ARGV[3] == '' then
  if cur then return 'CONFLICT' end
else
  if not cur then return 'NOTFOUND' end
  if cur ~= ARGV[3] then return 'CHANGED' end
end
if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[4]) == 0 then return 'NOREF' end
local owner_of = function(v) return string.match(v, '^[^|]*') end
local keep = {}
for f in string.gmatch(ARGV[5], '[^\n]+') do
  local owner = redis.call('HGET', KEYS[4], f)
  if owner and owner_of(owner) ~= owner_of(ARGV[6]) then return 'DUPLICATE' end
  keep[f] = true
end
for f in string.gmatch(ARGV[7], '[^\n]+') do
  if not keep[f] then redis.call('HDEL', KEYS[4], f) end
end
for f in pairs(keep) do redis.call('HSET', KEYS[4], f, ARGV[6]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 'OK'
