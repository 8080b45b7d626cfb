-- bench/wrk/apichat.lua — API chat bot_url text messages (bench/scenarios/32-apichat-ingest.sh,
-- docs/apichat.md "The bot_url and the channel"): the seed's "Send Text Message" body, posted
-- with the tenant's API key as the flow key, and a count of the answers that are not 200.
--
--   BENCH_APICHAT_PATH=/api/apichat/<code> BENCH_APICHAT_KEY=sbk_... BENCH_APICHAT_RUN=N \
--   BENCH_APICHAT_CHATS=1000 BENCH_APICHAT_IDEM=1 wrk -tT ... -s bench/wrk/apichat.lua http://127.0.0.1:PORT/
--
-- No signature here (the flow key is a header), so the requests are made in request() and need
-- no file. Request n of wrk thread t goes to chat (n * T + t) mod BENCH_APICHAT_CHATS: the
-- conversation_id 100000 + that number with the sender "bench-user-<number>", so the messages
-- rotate over that many conversations. With BENCH_APICHAT_IDEM=1 every request carries the
-- Idempotency-Key "bench-<run>-<t>-<n>", unique across the runs of a scenario (the scenario gives
-- each run its own BENCH_APICHAT_RUN), so the dedup claim is taken and never short-circuits the
-- work; with 0 none is sent and switchboard makes each POST a new message itself.
--
-- At the end (done) it prints, like bench/wrk/presigned.lua:
--   non-200 responses: N (status xcount, ...)
--   repeated requests: 0

local threads = {}
local counter = 0

function setup(thread)
  thread:set("slice", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

local format = string.format
local path, run, chats, idem, head
local t, nthreads = 0, 1
local n = 0
bad = 0         -- non-200 answers of this thread (read by done through thread:get)
bad_status = {} -- status -> count

local BODY = '{"content":"bench message %d from the load test","message_type":"incoming",'
  .. '"sender":{"id":"bench-user-%d","name":"Bench User %d","email":"","phone_number":"","type":"contact"},'
  .. '"conversation_id":%d,"event":"message_created"}'

local function fail(msg)
  io.stderr:write("apichat.lua: " .. msg .. "\n")
  os.exit(2)
end

function init(args)
  path = os.getenv("BENCH_APICHAT_PATH")
  local key = os.getenv("BENCH_APICHAT_KEY")
  run = os.getenv("BENCH_APICHAT_RUN") or "0"
  chats = tonumber(os.getenv("BENCH_APICHAT_CHATS") or "1000")
  idem = os.getenv("BENCH_APICHAT_IDEM") ~= "0"
  nthreads = tonumber(os.getenv("BENCH_APICHAT_THREADS") or "1")
  if not path or not key or not chats or chats < 1 then
    fail("BENCH_APICHAT_PATH, BENCH_APICHAT_KEY and BENCH_APICHAT_CHATS must be set")
  end
  t = tonumber(slice) or 0
  -- the request up to its per-request headers, made once (wrk.format would rebuild it each time)
  head = "POST " .. path .. " HTTP/1.1\r\nHost: " .. (wrk.headers["Host"] or "bench")
    .. "\r\nContent-Type: application/json\r\nAuthorization: Bearer " .. key .. "\r\n"
end

function request()
  n = n + 1
  local c = (n * nthreads + t) % chats
  local body = format(BODY, n, c, c, 100000 + c)
  if idem then
    return format("%sIdempotency-Key: bench-%s-%d-%d\r\nContent-Length: %d\r\n\r\n%s", head, run, t, n, #body, body)
  end
  return format("%sContent-Length: %d\r\n\r\n%s", head, #body, body)
end

function response(status, hdrs, body)
  if status ~= 200 then
    bad = bad + 1
    bad_status[status] = (bad_status[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total, by = 0, {}
  for _, th in ipairs(threads) do
    total = total + (tonumber(th:get("bad")) or 0)
    local s = th:get("bad_status")
    if type(s) == "table" then
      for st, v in pairs(s) do by[st] = (by[st] or 0) + v end
    end
  end
  local parts = {}
  for st, v in pairs(by) do parts[#parts + 1] = tostring(st) .. " x" .. tostring(v) end
  table.sort(parts)
  io.write(format("non-200 responses: %d%s\n", total,
    #parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or ""))
  io.write("repeated requests: 0\n")
end
