-- Widget config, and the gate of widget routes that answer before their own script runs.
-- KEYS: widget index. ARGV: widget id, origin ('' = none)
-- -> {'NOWIDGET' | 'ORIGIN' | 'SUSPENDED'} or {'OK', widget JSON, agent JSON or ''}
-- uses: widget
local g, err = widget_gate(KEYS[1], ARGV[1], ARGV[2])
if not g then return {err} end
local w = redis.call('HGET', 'sb:{t:' .. g.tid .. '}:widgets', ARGV[1])
if not w then return {'NOWIDGET'} end
local agent = ''
if g.agent ~= '' then
  agent = redis.call('HGET', 'sb:{t:' .. g.tid .. '}:agents', g.agent) or ''
end
return {'OK', w, agent}
