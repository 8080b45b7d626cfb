-- Before a platform send. KEYS: the tenant's channels, the send's endpoint, the tenant, the
-- tenant's API chat webhook (docs/apichat.md). ARGV: channel id
-- -> {channel JSON or '', enabled '0'/'1', tenant exists 0/1}
-- An apichat channel's config gets the workspace's webhook (webhookUrl, webhookKey,
-- webhookStatus) and flow namespace (flowNs, the workspace id) merged in: the partner API owns
-- them, the channel is only the route to an agent.
local ch = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if ch ~= '' and string.find(ch, '"type":"apichat"', 1, true) then
  local rec = cjson.decode(ch)
  if rec.type == 'apichat' then
    local h = redis.call('HMGET', KEYS[4], 'url', 'key', 'status')
    if type(rec.config) ~= 'table' then rec.config = {} end
    rec.config.webhookUrl = h[1] or nil
    rec.config.webhookKey = h[2] or nil
    rec.config.webhookStatus = h[3] or nil
    rec.config.flowNs = rec.tenantId
    ch = cjson.encode(rec)
  end
end
return {ch, redis.call('HGET', KEYS[2], 'enabled') or '1', redis.call('EXISTS', KEYS[3])}
