'use strict';
// bench/reference/server.js — the kind of service the bench targets are set against: Fastify +
// ioredis, one Node process per core (node:cluster), doing the same work per request as
// switchboard on two of its routes, written the way a Node team would write it
// (bench/reference/README.md). Not part of switchboard; the bench starts it for its ref rows.
//
//   POST /api/webhooks/slack               signed Slack event_callback: timestamp window, HMAC
//                                          v0 over the raw body (constant-time compare), JSON,
//                                          then one Lua script: claim the event id (SET NX EX)
//                                          and queue the message (XADD); 200 {"status":"ok"}
//   POST /api/widget/:id/session/start     anonymous session: widget lookup, origin check, a
//                                          sliding-window limit of 60 per client IP per minute
//                                          (sorted set) and the session write in one Lua
//                                          script; 201 {sessionId, token, mode, verified, expiresAt}
//
// Environment: PORT, REDIS_URL (redis://host:port), WORKERS (default 2), TRUSTED_PROXY (the
// one peer address whose X-Forwarded-For is believed), SLACK_TEAM and SLACK_SECRET (the one
// Slack binding, held in memory like switchboard's binding cache), WIDGET_ID (the one widget,
// written to Redis at start-up, any origin).

const cluster = require('node:cluster');
const crypto = require('node:crypto');

const WORKERS = Number(process.env.WORKERS || 2);

if (cluster.isPrimary) {
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on('exit', (w, code, signal) => {
    console.error(`worker ${w.process.pid} exited (${signal || code})`);
    process.exit(1);
  });
  process.on('SIGTERM', () => {
    for (const id in cluster.workers) cluster.workers[id].kill('SIGTERM');
    process.exit(0);
  });
  return;
}

const Fastify = require('fastify');
const Redis = require('ioredis');

const PORT = Number(process.env.PORT || 8090);
const TRUSTED_PROXY = process.env.TRUSTED_PROXY || '127.0.0.1';
const SLACK_TEAM = process.env.SLACK_TEAM || '';
const SLACK_SECRET = process.env.SLACK_SECRET || '';
const WIDGET_ID = process.env.WIDGET_ID || 'bench';
const TENANT = 'ref';
const CHANNEL = 'slack1';
const CLAIM_TTL_S = 86400;
const SESSION_TTL_MS = 7200 * 1000;

const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379', { enableAutoPipelining: true });

redis.defineCommand('slackAccept', {
  numberOfKeys: 2,
  lua: `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', 'd', ARGV[2])
  return 1
end
return 0`,
});

redis.defineCommand('sessionStart', {
  numberOfKeys: 2,
  lua: `
local w = redis.call('HGET', 'ref:widgets', ARGV[1])
if not w then return {'NOWIDGET'} end
local cfg = cjson.decode(w)
if #cfg.allowedOrigins > 0 then
  local ok = false
  for _, o in ipairs(cfg.allowedOrigins) do if o == ARGV[2] then ok = true end end
  if not ok then return {'ORIGIN'} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'LIMIT', n, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
local exp = now + tonumber(ARGV[6])
redis.call('SET', KEYS[2], cjson.encode({id = ARGV[5], widgetId = ARGV[1], tenant = cfg.tenant,
  mode = 'anonymous', verified = false, createdAt = now, expiresAt = exp}), 'PX', ARGV[6])
return {'OK', n + 1, window, exp}`,
});

const app = Fastify({ logger: false, bodyLimit: 1048576 });

// The raw body: the Slack signature covers the exact bytes.
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => done(null, body));

function problem(reply, code, detail) {
  return reply.code(code).send({ title: code === 401 ? 'Unauthorized' : 'Bad Request', status: code, detail });
}

function str(v, max) {
  return typeof v === 'string' && v.length > 0 && v.length <= max;
}

app.post('/api/webhooks/slack', async (req, reply) => {
  const raw = req.body;
  const ts = req.headers['x-slack-request-timestamp'];
  const sig = req.headers['x-slack-signature'];
  if (!Buffer.isBuffer(raw)) return problem(reply, 400, 'the body must be JSON');
  if (typeof ts !== 'string' || !/^[0-9]{1,12}$/.test(ts) || typeof sig !== 'string' || !sig.startsWith('v0='))
    return problem(reply, 401, 'missing or malformed signature');
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return problem(reply, 401, 'stale timestamp');
  let o;
  try {
    o = JSON.parse(raw);
  } catch {
    return problem(reply, 400, 'the body is not valid JSON');
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return problem(reply, 400, 'the body must be a JSON object');
  if (o.team_id !== SLACK_TEAM) return problem(reply, 401, 'unknown team');
  const mac = crypto.createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:`).update(raw).digest();
  const got = Buffer.from(sig.slice(3), 'hex');
  if (got.length !== mac.length || !crypto.timingSafeEqual(got, mac)) return problem(reply, 401, 'bad signature');
  if (o.type === 'url_verification') return { challenge: o.challenge };
  if (o.type !== 'event_callback') return { status: 'ok' };
  const ev = o.event;
  if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) return problem(reply, 400, "'event' must be an object");
  if (!str(o.event_id, 200)) return problem(reply, 400, "'event_id' is required");
  if (ev.type !== 'message' || ev.subtype !== undefined || ev.bot_id !== undefined) return { status: 'ok' };
  if (!str(ev.channel, 64) || typeof ev.text !== 'string' || ev.text === '')
    return problem(reply, 400, "'event.channel' and 'event.text' are required");
  if ((ev.user !== undefined && !str(ev.user, 64)) || (ev.ts !== undefined && !str(ev.ts, 64)))
    return problem(reply, 400, "'event.user' and 'event.ts' must be strings");
  const item = JSON.stringify({
    t: TENANT, c: CHANNEL, ty: 'slack', chat: ev.channel, from: ev.user || '', text: ev.text,
    pmid: ev.ts || '', ev: o.event_id, th: ev.thread_ts || '',
  });
  await redis.slackAccept(`sb:{t:${TENANT}}:seen:${CHANNEL}:${o.event_id}`, 'sb:q:in', CLAIM_TTL_S, item);
  return { status: 'ok' };
});

function clientIp(req) {
  const peer = req.socket.remoteAddress;
  const xff = req.headers['x-forwarded-for'];
  if (peer !== TRUSTED_PROXY && peer !== `::ffff:${TRUSTED_PROXY}`) return peer;
  if (typeof xff !== 'string') return peer;
  const parts = xff.split(',');
  return parts[parts.length - 1].trim() || peer;
}

app.post('/api/widget/:id/session/start', async (req, reply) => {
  let o = {};
  if (Buffer.isBuffer(req.body) && req.body.length) {
    try {
      o = JSON.parse(req.body);
    } catch {
      return problem(reply, 400, 'the body is not valid JSON');
    }
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return problem(reply, 400, 'the body must be a JSON object');
  if (o.mode !== undefined && o.mode !== 'anonymous') return problem(reply, 400, "'mode' must be 'anonymous' here");
  const token = crypto.randomBytes(32).toString('base64url');
  const hash = crypto.createHash('sha256').update(token).digest('hex');
  const sid = crypto.randomUUID();
  const origin = req.headers.origin || '';
  const r = await redis.sessionStart(`ref:rl:ss:${clientIp(req)}`, `ref:session:${hash}`, req.params.id, origin,
    60000, 60, sid, SESSION_TTL_MS);
  if (r[0] === 'NOWIDGET') return reply.code(404).send({ title: 'Not Found', status: 404 });
  if (r[0] === 'ORIGIN') return reply.code(403).send({ title: 'Forbidden', status: 403 });
  reply.header('RateLimit-Limit', '60');
  if (r[0] === 'LIMIT') {
    const reset = Math.ceil(r[2] / 1000);
    reply.header('RateLimit-Remaining', '0').header('RateLimit-Reset', String(reset)).header('Retry-After', String(reset));
    return reply.code(429).send({ title: 'Too Many Requests', status: 429 });
  }
  reply.header('RateLimit-Remaining', String(60 - r[1])).header('RateLimit-Reset', '60');
  if (origin) reply.header('Access-Control-Allow-Origin', origin).header('Vary', 'Origin');
  return reply.code(201).send({
    sessionId: sid, token, mode: 'anonymous', verified: false, expiresAt: new Date(r[3]).toISOString(),
  });
});

app.get('/healthz', async () => ({ status: 'ok' }));

redis
  .hset('ref:widgets', WIDGET_ID, JSON.stringify({ tenant: TENANT, allowedOrigins: [] }))
  .then(() => app.listen({ port: PORT, host: '127.0.0.1' }))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
