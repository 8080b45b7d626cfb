-- bench/wrk/session_start.lua — POST {} to the URL's path (a widget's
-- /api/widget/{widgetId}/session/start) with a different X-Forwarded-For client IP on every
-- request, and count the answers that are not 201.
--
--   wrk ... -s bench/wrk/session_start.lua http://127.0.0.1:PORT/api/widget/ID/session/start
--
-- The server must trust the loopback peer (--trusted-proxies 127.0.0.1/32) so that the header
-- names the client. session/start admits 60 requests per client IP in any 60 s; each wrk thread
-- cycles through 2^22 addresses of 10.0.0.0/8 (thread k starts at k * 2^22, so four threads
-- cover the /8 without overlap; a fifth shares the first one's range), i.e. an address comes back
-- after 4,194,304 requests of its thread: at most once a minute up to ~70,000 requests/s per thread.
-- Each wrk run starts the cycle again, so the few runs against one server send a handful of
-- requests per address and minute, far below the limit: it is never what is measured.
--
-- At the end (done) it prints one line for bench/scenarios/20-session-start.sh:
--   non-201 responses: N (status x count, ...)

local threads = {}
local counter = 0

function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

-- Per thread (each has its own Lua state).
local SPAN = 4194304 -- 2^22 addresses per thread
local head, tail
local base, i = 0, 0
bad = 0         -- non-201 answers of this thread (read by done through thread:get)
bad_status = {} -- status -> count

function init(args)
  base = (tonumber(offset) or 0) % 4 * SPAN
  head = "POST " .. wrk.path .. " HTTP/1.1\r\n"
    .. "Host: " .. (wrk.headers["Host"] or "bench") .. "\r\n"
    .. "Content-Type: application/json\r\n"
    .. "Content-Length: 2\r\n"
    .. "X-Forwarded-For: 10."
  tail = "\r\n\r\n{}"
end

function request()
  local a = base + i
  i = (i + 1) % SPAN
  return head .. math.floor(a / 65536) .. "." .. (math.floor(a / 256) % 256) .. "." .. (a % 256) .. tail
end

function response(status, headers, body)
  if status ~= 201 then
    bad = bad + 1
    bad_status[status] = (bad_status[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total, by = 0, {}
  for _, t in ipairs(threads) do
    total = total + (tonumber(t:get("bad")) or 0)
    local s = t:get("bad_status")
    if type(s) == "table" then
      for k, v in pairs(s) do by[k] = (by[k] or 0) + v end
    end
  end
  local parts = {}
  for k, v in pairs(by) do parts[#parts + 1] = tostring(k) .. " x" .. tostring(v) end
  table.sort(parts)
  io.write(string.format("non-201 responses: %d%s\n", total,
    #parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or ""))
end
