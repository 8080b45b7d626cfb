-- bench/wrk/replay.lua — replay pre-built raw HTTP/1.1 requests, round-robin per wrk thread.
--
--   BENCH_REQUESTS=FILE wrk ... -s bench/wrk/replay.lua http://127.0.0.1:PORT/
--
-- FILE holds complete requests (request line, headers with Content-Length, blank line, body),
-- each followed by one NUL byte, e.g. from the shell:
--   printf 'POST /x HTTP/1.1\r\nHost: b\r\nContent-Length: %d\r\n\r\n%s\0' "${#body}" "$body"
-- Requests that need signatures (Slack's v0 HMAC, WhatsApp's X-Hub-Signature-256) or unique
-- ids (so that dedup does not short-circuit the work) are generated that way beforehand with
-- openssl; wrk's LuaJIT has no HMAC. Each thread starts at a different offset so that threads
-- do not send the same request at the same moment.

local requests = {}
local n, i = 0, 0

local function load(path)
  local f = assert(io.open(path, "rb"), "replay.lua: cannot open BENCH_REQUESTS=" .. tostring(path))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local z = string.find(data, "\0", pos, true)
    local req = string.sub(data, pos, (z or (#data + 1)) - 1)
    if #req > 0 then
      requests[#requests + 1] = req
    end
    if not z then break end
    pos = z + 1
  end
  n = #requests
  assert(n > 0, "replay.lua: no requests in " .. path)
end

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter)
end

function init(args)
  load(os.getenv("BENCH_REQUESTS"))
  i = (tonumber(offset) or 0) * 7919 % n
end

function request()
  i = i % n + 1
  return requests[i]
end
