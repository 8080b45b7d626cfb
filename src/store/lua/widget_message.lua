-- A customer message from the widget, limited per session. KEYS: widget index.
-- ARGV: cx JSON, widget id, origin, token hash, message id, mtail, etail, new conversation id,
--       limit key prefix (the session id follows), window ms, limit
-- -> {error} | {'LIMIT', count, reset ms} | {'OK', tenant id, message JSON, count, reset ms}
-- uses: emit proactive conv ratelimit widget session widget_auth
local cx = cjson.decode(ARGV[1])
local a, err = widget_auth(KEYS[1], ARGV[2], ARGV[3], ARGV[4])
if not a then return {err} end
local ok, n, reset = rl_admit(ARGV[9] .. a.sid, rl_now(), tonumber(ARGV[10]), tonumber(ARGV[11]))
if not ok then return {'LIMIT', n, reset} end
local agent = a.agent
local cid, c = conv_open(cx, a.tid, 'widget', ARGV[2], a.sid, a.conv ~= '' and a.conv or ARGV[8], agent)
local sender = '{"type":"customer","id":"' .. a.sid .. '"}'
local seq, mj, data = conv_append(cx, a.tid, cid, c, 'message_received', sender, ARGV[6], ARGV[7], ARGV[5], 'm')
conv_agent(cx, a.tid, cid, agent, ARGV[5], data)
return {'OK', a.tid, mj, n, reset}
