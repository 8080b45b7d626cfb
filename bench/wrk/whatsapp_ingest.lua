-- bench/wrk/whatsapp_ingest.lua — replay pre-signed WhatsApp Cloud API payloads
-- (POST /api/webhooks/whatsapp, 5 text messages each) from a file made by
-- bench/scenarios/31-whatsapp-ingest.sh, every message with its own id, and count the answers
-- that are not 200.
--
--   BENCH_REQUESTS=FILE BENCH_REQUEST_SLICES=T wrk -tT ... -s bench/wrk/whatsapp_ingest.lua http://127.0.0.1:PORT/
--
-- wrk's LuaJIT has no HMAC, so the scenario signs the payloads beforehand (python3's hmac):
-- X-Hub-Signature-256: sha256=<hex HMAC-SHA256(appSecret, body)>. There is no timestamp; the
-- file is still made right before each wrk run, so that its message ids are new (switchboard
-- keeps a WhatsApp message id 7 days) and the dedup claims never short-circuit the work.
--
-- The file format, the slices (thread t of BENCH_REQUEST_SLICES reads its own share of the
-- records in init()) and the two lines printed at the end are those of bench/wrk/slack_ingest.lua,
-- whose code this is:
--   non-200 responses: N (status xcount, ...)
--   repeated requests: N (slices of R requests)

local threads = {}
local counter = 0

function setup(thread)
  thread:set("slice", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

-- Per thread (each has its own Lua state).
local sub, concat, byte = string.sub, table.concat, string.byte
local data          -- this thread's records, one string
local reclen, count -- record length, records in this slice
local k = 0         -- next record (0-based)
local wrapped = false
local pieces, npieces = {}, 0 -- template pieces: strings, or numbers (field k)
local fofs, fw, nfields = {}, {}, 0
local out, fv = {}, {}
bad = 0          -- non-200 answers of this thread (read by done through thread:get)
bad_status = {}  -- status -> count
repeated = 0     -- requests sent after the slice was used up
records = 0      -- records in this thread's slice

local function fail(msg)
  io.stderr:write("whatsapp_ingest.lua: " .. msg .. "\n")
  os.exit(2)
end

function init(args)
  local path = os.getenv("BENCH_REQUESTS")
  local slices = tonumber(os.getenv("BENCH_REQUEST_SLICES") or "")
  if not path or not slices or slices < 1 then fail("BENCH_REQUESTS and BENCH_REQUEST_SLICES must be set") end
  local t = (tonumber(slice) or 0) % slices
  local f = io.open(path, "rb")
  if not f then fail("cannot open " .. path) end
  local head = f:read("*l")
  local n, rl, nf, rest = string.match(head or "", "^SBREQ1 (%d+) (%d+) (%d+) (.*)$")
  if not n then fail(path .. ": not a request file") end
  n, reclen, nfields = tonumber(n), tonumber(rl), tonumber(nf)
  local nums = {}
  for v in string.gmatch(rest, "%d+") do nums[#nums + 1] = tonumber(v) end
  if #nums ~= nfields + 1 then fail(path .. ": bad header") end
  local o = 0
  for i = 1, nfields do
    fw[i] = nums[i]
    fofs[i] = o
    o = o + nums[i]
  end
  if o + 1 ~= reclen then fail(path .. ": record length does not match the fields") end
  local tlen = nums[nfields + 1]
  local template = f:read(tlen)
  if not template or #template ~= tlen or f:read(1) ~= "\n" then fail(path .. ": truncated template") end
  -- Split the template at the field bytes.
  local lit = {}
  for i = 1, #template do
    local c = byte(template, i)
    if c >= 1 and c <= nfields then
      if #lit > 0 then npieces = npieces + 1; pieces[npieces] = concat(lit); lit = {} end
      npieces = npieces + 1
      pieces[npieces] = c
    else
      lit[#lit + 1] = string.char(c)
    end
  end
  if #lit > 0 then npieces = npieces + 1; pieces[npieces] = concat(lit) end
  -- This thread's slice.
  local first = math.floor(n * t / slices)
  local last = math.floor(n * (t + 1) / slices)
  count = last - first
  if count < 1 then fail(path .. ": no records for thread " .. t) end
  local body = f:seek("cur")
  f:seek("set", body + first * reclen)
  data = f:read(count * reclen)
  f:close()
  if not data or #data ~= count * reclen then fail(path .. ": truncated records") end
  records = count
end

function request()
  if k == count then
    k = 0
    wrapped = true
  end
  if wrapped then repeated = repeated + 1 end
  local base = k * reclen
  k = k + 1
  for i = 1, nfields do
    local s = base + fofs[i] + 1
    fv[i] = sub(data, s, s + fw[i] - 1)
  end
  for i = 1, npieces do
    local p = pieces[i]
    if type(p) == "number" then out[i] = fv[p] else out[i] = p end
  end
  return concat(out, "", 1, npieces)
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    bad_status[status] = (bad_status[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total, rep, recs, by = 0, 0, {}, {}
  for _, t in ipairs(threads) do
    total = total + (tonumber(t:get("bad")) or 0)
    rep = rep + (tonumber(t:get("repeated")) or 0)
    recs[#recs + 1] = tostring(t:get("records"))
    local s = t:get("bad_status")
    if type(s) == "table" then
      for st, v in pairs(s) do by[st] = (by[st] or 0) + v end
    end
  end
  local parts = {}
  for st, v in pairs(by) do parts[#parts + 1] = tostring(st) .. " x" .. tostring(v) end
  table.sort(parts)
  io.write(string.format("non-200 responses: %d%s\n", total,
    #parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or ""))
  io.write(string.format("repeated requests: %d (slices of %s requests)\n", rep, table.concat(recs, ", ")))
end
