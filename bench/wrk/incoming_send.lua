-- bench/wrk/incoming_send.lua — activations of the incoming "send" webhook
-- (bench/scenarios/33-incoming-send.sh, docs/incoming.md): POST /api/incoming/{token} with
-- {"action":"send","phone":"+1555...","text":"bench"}, and a count of the answers that are not 200.
--
--   BENCH_INCOMING_PATH=/api/incoming/<token> BENCH_INCOMING_PHONES=1000 \
--   BENCH_INCOMING_THREADS=T wrk -tT ... -s bench/wrk/incoming_send.lua http://127.0.0.1:PORT/
--
-- The token in the path is the only authentication, so the requests are made in request() and
-- need no file. Request n of wrk thread t goes to phone number (n * T + t) mod
-- BENCH_INCOMING_PHONES: "+1555" and 7 digits (2000000 + that number, 11 digits in all), so the
-- activations rotate over that many recipients (one conversation each on the account, made by
-- the first activation of the number).
--
-- At the end (done) it prints, like bench/wrk/apichat.lua:
--   non-200 responses: N (status xcount, ...)
--   first non-200 body: <the first one a thread saw, at most 200 bytes>   (only when N > 0)

local threads = {}
local counter = 0

function setup(thread)
  thread:set("slice", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

local format = string.format
local head, phones
local t, nthreads = 0, 1
local n = 0
bad = 0           -- non-200 answers of this thread (read by done through thread:get)
bad_status = {}   -- status -> count
bad_body = ""     -- the first non-200 answer's body

local BODY = '{"action":"send","phone":"+1555%07d","text":"bench"}'

local function fail(msg)
  io.stderr:write("incoming_send.lua: " .. msg .. "\n")
  os.exit(2)
end

function init(args)
  local path = os.getenv("BENCH_INCOMING_PATH")
  phones = tonumber(os.getenv("BENCH_INCOMING_PHONES") or "1000")
  nthreads = tonumber(os.getenv("BENCH_INCOMING_THREADS") or "1")
  if not path or not phones or phones < 1 or phones > 1000000 then
    fail("BENCH_INCOMING_PATH must be set and BENCH_INCOMING_PHONES be 1..1000000")
  end
  t = tonumber(slice) or 0
  -- the request up to its Content-Length, made once (wrk.format would rebuild it each time)
  head = "POST " .. path .. " HTTP/1.1\r\nHost: " .. (wrk.headers["Host"] or "bench")
    .. "\r\nContent-Type: application/json\r\n"
end

function request()
  n = n + 1
  local body = format(BODY, 2000000 + (n * nthreads + t) % phones)
  return format("%sContent-Length: %d\r\n\r\n%s", head, #body, body)
end

function response(status, hdrs, body)
  if status ~= 200 then
    bad = bad + 1
    bad_status[status] = (bad_status[status] or 0) + 1
    if bad_body == "" and body then bad_body = string.sub(body, 1, 200) end
  end
end

function done(summary, latency, requests)
  local total, by, first = 0, {}, ""
  for _, th in ipairs(threads) do
    total = total + (tonumber(th:get("bad")) or 0)
    local s = th:get("bad_status")
    if type(s) == "table" then
      for st, v in pairs(s) do by[st] = (by[st] or 0) + v end
    end
    local b = th:get("bad_body")
    if first == "" and type(b) == "string" then first = b end
  end
  local parts = {}
  for st, v in pairs(by) do parts[#parts + 1] = tostring(st) .. " x" .. tostring(v) end
  table.sort(parts)
  io.write(format("non-200 responses: %d%s\n", total,
    #parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or ""))
  if total > 0 then
    io.write("first non-200 body: " .. string.gsub(first, "[\r\n]", " ") .. "\n")
  end
end
