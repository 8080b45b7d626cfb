-- bench/wrk/presigned.lua — replay pre-signed webhook requests from a file made by
-- bench/scenarios/30-slack-ingest.sh (slack_ingest: Slack Events API requests) or
-- 31-whatsapp-ingest.sh (whatsapp_ingest: WhatsApp Cloud API payloads of 5 messages), each
-- request with its own event / message ids, and count the answers that are not 200.
--
--   BENCH_REQUESTS=FILE BENCH_REQUEST_SLICES=T wrk -tT ... -s bench/wrk/presigned.lua http://127.0.0.1:PORT/
--
-- wrk's LuaJIT has no HMAC, so the scenarios sign the requests beforehand (python3's hmac):
-- Slack requests carry X-Slack-Request-Timestamp (the time the file was made; switchboard
-- accepts 300 s of skew) and X-Slack-Signature v0=<hex HMAC-SHA256(signingSecret,
-- "v0:" + timestamp + ":" + body)>; WhatsApp payloads X-Hub-Signature-256: sha256=<hex
-- HMAC-SHA256(appSecret, body)>. The file is made right before each wrk run (warm-up included)
-- and holds more requests than the run can send, so no id is sent twice and the dedup claim
-- never short-circuits the work.
--
-- File format (written by in_gen in bench/scenarios/30-slack-ingest.sh). Only what differs
-- between requests is stored per request; the rest is one template:
--   line 1:  "SBREQ1 <records> <record length> <fields> <width 1> ... <width n> <template length>\n"
--   then:    the template (the raw request: request line, headers, blank line, body), where the
--            byte \k (k = 1..n) stands for field k, then "\n"
--   then:    <records> records of <record length> bytes: field 1 .. field n (fixed widths), "\n"
-- Request i is the template with every \k replaced by field k of record i.
--
-- Slices: thread t (0-based, in the order wrk creates them) of BENCH_REQUEST_SLICES threads reads
-- only records [n*t/T, n*(t+1)/T) of the file in init(), so the threads never send the same
-- request and each holds only its share in memory. A thread that has sent its whole slice starts
-- it again; those requests repeat an event id (switchboard acknowledges them without queueing)
-- and are counted: the scenario marks the figure when any were sent.
--
-- At the end (done) it prints two lines for the scenario:
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
  io.stderr:write("presigned.lua: " .. msg .. "\n")
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
