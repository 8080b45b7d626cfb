-- The frame of a batched script (a script with the header line `-- batch: K`, which becomes
-- sb_script_t.batch_keys = K, store.h), pasted after the script's body with BATCH_KEYS written as
-- K. The script first defines item(k, a, n), which serves one call: its keys are
-- KEYS[k + 1 .. k + K], its arguments ARGV[a + 1 .. a + n] (ARGV[a] is n), and it returns that
-- call's reply, never nil. The calls run in the order they were made; an error in one (a failed
-- redis.call or a Lua error) becomes that call's error reply and the next call runs. A script
-- that also defines `local function finish()` has it called once after the last call: the
-- place to write what its calls gathered (one command for the run instead of one per call);
-- BATCH_FINISH is written as whether it does.
local out, a = {}, 1
for i = 0, #KEYS / BATCH_KEYS - 1 do
  local n = tonumber(ARGV[a])
  local ok, r = pcall(item, i * BATCH_KEYS, a, n)
  if not ok then r = type(r) == 'table' and r.err and r or redis.error_reply(tostring(r)) end
  out[i + 1] = r
  a = a + n + 1
end
if BATCH_FINISH then finish() end
return out
