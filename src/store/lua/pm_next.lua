-- A cron occurrence that pm_run fanned out and leased gives way to the next one (docs/proactive.md).
-- Nothing changes when the occurrence is no longer there (a PUT or a DELETE dropped it, or another
-- instance already swapped it after the lease ran out).
-- ARGV: tenant id, proactive message id, the leased member, next occurrence ms ('' = none)
-- -> 1 swapped | 0
-- uses: proactive
local tp = 'sb:{t:' .. ARGV[1] .. '}:'
if not redis.call('ZSCORE', 'sb:pm:due', ARGV[3]) then return 0 end
pm_undue(tp, ARGV[2], ARGV[3])
if ARGV[4] ~= '' then
  local n = tonumber(ARGV[4])
  pm_due(tp, ARGV[2], 's|' .. ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[4], n, n)
end
redis.call('HSET', tp .. 'pm:' .. ARGV[2], 'nextFireAt', ARGV[4])
return 1
