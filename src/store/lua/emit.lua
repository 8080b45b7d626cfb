-- Fan-out of one event to the tenant's subscribers (sb_emit in lib/emit.lua).
-- ARGV: cx JSON, tenant id, event, data JSON -> {{deliveryId, url}, ...}
-- uses: emit
local cx = cjson.decode(ARGV[1])
return sb_emit(cx, ARGV[2], ARGV[3], ARGV[4], cx.eid)
