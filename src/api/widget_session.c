/* Widget routes a session token opens (docs/widget.md): the customer's messages into the
 * session's conversation, reading them back, and the Server-Sent Events stream that carries
 * every new message of the conversation, whichever instance it arrived on. */
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/conv.h"
#include "switchboard/crypto.h"
#include "switchboard/log.h"
#include "switchboard/text.h"

#define READ_LIMIT_DEFAULT 50
#define READ_LIMIT_MAX     100
#define SSE_BATCH          100

typedef struct sess_ctx {
    char origin[320];
    char tokhash[65]; /* "" when the request carries no usable token */
    char wid[37];
} sess_ctx_t;

/* SHA-256 of the Bearer token (or, where allowed, ?access_token=). Tokens are base64url. */
static void token_hash(sb_req_t *req, bool query_ok, char out[65])
{
    out[0] = '\0';
    const sb_header_t *h = sb_req_header(req, "authorization");
    const char *tok = NULL;
    size_t n = 0;
    if (h && h->value.len > 7 && strncasecmp(h->value.p, "Bearer ", 7) == 0) {
        tok = h->value.p + 7;
        n = h->value.len - 7;
    } else if (query_ok) {
        tok = sb_req_query(req, "access_token");
        n = tok ? strlen(tok) : 0;
    }
    if (!tok || n == 0 || n > 128)
        return;
    for (size_t i = 0; i < n; i++) {
        char c = tok[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return;
    }
    sb_sha256_hex(tok, n, out);
}

static sess_ctx_t *sess_begin(sb_req_t *req, bool query_ok)
{
    const char *wid = sb_widget_id_param(req);
    if (!wid)
        return NULL;
    sess_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    req->ctx = c;
    snprintf(c->wid, sizeof(c->wid), "%s", wid);
    sb_widget_origin(req, c->origin);
    token_hash(req, query_ok, c->tokhash);
    return c;
}

/* Answers the scripts' refusals; false when the reply is not one. */
static bool session_refused(sb_req_t *req, const redisReply *reply)
{
    sess_ctx_t *c = req->ctx;
    const char *s =
        reply->type == REDIS_REPLY_ARRAY && reply->elements && reply->element[0]->str ? reply->element[0]->str : "";
    if (strcmp(s, "OK") == 0)
        return false;
    if (strcmp(s, "LIMIT") == 0 && reply->elements == 3) {
        sb_widget_cors(req, c->origin);
        sb_ratelimit_refuse(req, &sb_rule_widget_messages, reply->element[1]->integer, reply->element[2]->integer,
                            "too many messages from this session; retry later");
        return true;
    }
    if (sb_widget_refused(req, (sb_str_t){s, strlen(s)}))
        return true;
    sb_widget_cors(req, c->origin);
    if (strcmp(s, "NOSESSION") == 0) {
        sb_resp_header(req, "WWW-Authenticate", "Bearer realm=\"widget\", error=\"invalid_token\"");
        sb_resp_problem(req, 401, "missing, unknown or expired session token: start a new session", NULL);
    } else if (strcmp(s, "UNVERIFIED") == 0) {
        sb_resp_problem(req, 403, "this session is not verified yet: verify the SMS code first", NULL);
    } else if (strcmp(s, "BADAFTER") == 0) {
        sb_resp_problem(req, 400, "'after' names no message of this conversation", "after");
    } else {
        sb_api_unavailable(req);
    }
    return true;
}

/* ---------- POST /api/widget/{widgetId}/messages ---------- */

static void on_message_posted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply) || session_refused(req, reply))
        return;
    if (reply->elements != 5 || !reply->element[2]->str) {
        sb_api_unavailable(req);
        return;
    }
    req->tenant_id = sb_req_strndup(req, reply->element[1]->str, reply->element[1]->len);
    sb_widget_cors(req, ((sess_ctx_t *)req->ctx)->origin);
    sb_ratelimit_headers(req, &sb_rule_widget_messages, reply->element[3]->integer, reply->element[4]->integer);
    sb_resp_send(req, 201, "application/json", reply->element[2]->str, reply->element[2]->len);
}

void sb_widget_message_post(sb_req_t *req)
{
    sess_ctx_t *c = sess_begin(req, false);
    if (!c)
        return;
    cJSON *body = sb_widget_body(req, c->wid, c->origin, false);
    if (!body)
        return;
    sb_verr_t e;
    sb_content_t content;
    if (sb_content_parse(body, SB_CONTENT_POSTBACK, NULL, &content, &e) < 0) {
        cJSON_Delete(body);
        sb_widget_fail_verr(req, c->wid, c->origin, &e);
        return;
    }
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, req->loop->srv->cfg);
    sb_msg_t m;
    sb_msg_init(&m, &cx, "in", &content, NULL);
    sb_content_free(&content);
    cJSON_Delete(body);
    char k_idx[SB_KEY_MAX], newcid[37], k_rl[SB_KEY_MAX], window[16], limit[16];
    sb_key_global(k_idx, "idx", "widgets");
    sb_uuid4(newcid);
    sb_ratelimit_key(k_rl, &sb_rule_widget_messages, "");
    sb_ratelimit_args(&sb_rule_widget_messages, window, limit);
    const char *argv[] = {k_idx,   cx.json, c->wid, c->origin, c->tokhash, m.id,
                          m.mtail, m.etail, newcid, k_rl,      window,     limit};
    int rc = sb_store_eval(sb_api_store(req), &sb_script_widget_message, 1, SB_ARRAY_SIZE(argv), argv, NULL,
                           on_message_posted, req);
    sb_msg_free(&m);
    sb_event_cx_free(&cx);
    if (rc < 0)
        sb_api_unavailable(req);
}

/* ---------- GET /api/widget/{widgetId}/messages ---------- */

/* Reply of widget_read from element 3: {conversation id, current seq, more, message...}. */
static void on_messages_read(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply) || session_refused(req, reply))
        return;
    if (reply->elements < 5) {
        sb_api_unavailable(req);
        return;
    }
    req->tenant_id = sb_req_strndup(req, reply->element[1]->str, reply->element[1]->len);
    sb_buf_t b;
    sb_buf_init(&b, (size_t)-1 / 2);
    sb_buf_puts(&b, "{\"conversationId\":");
    if (reply->element[2]->len)
        sb_buf_printf(&b, "\"%s\"", reply->element[2]->str);
    else
        sb_buf_puts(&b, "null");
    sb_buf_puts(&b, ",\"items\":[");
    for (size_t i = 5; i < reply->elements; i++) {
        if (i > 5)
            sb_buf_putc(&b, ',');
        sb_buf_append(&b, reply->element[i]->str, reply->element[i]->len);
    }
    sb_buf_printf(&b, "],\"hasMore\":%s}", reply->element[4]->integer ? "true" : "false");
    sb_widget_cors(req, ((sess_ctx_t *)req->ctx)->origin);
    sb_resp_send(req, 200, "application/json", b.data, b.len);
    sb_buf_free(&b);
}

void sb_widget_messages_get(sb_req_t *req)
{
    sess_ctx_t *c = sess_begin(req, false);
    if (!c)
        return;
    const char *after = NULL, *limit_s = NULL;
    uint64_t limit = READ_LIMIT_DEFAULT;
    int ra = sb_req_query_get(req, "after", &after);
    int rl = sb_req_query_get(req, "limit", &limit_s);
    bool after_ok =
        ra == -ENOENT || (ra == 0 && (sb_uuid_valid(after, strlen(after)) ||
                                      (strlen(after) <= 15 && strspn(after, "0123456789") == strlen(after))));
    if (!after_ok) {
        sb_widget_fail(req, c->wid, c->origin, 400, "'after' must be a message id or a sequence number", "after");
        return;
    }
    if (rl == -EINVAL || (rl == 0 && (sb_parse_u64(limit_s, strlen(limit_s), READ_LIMIT_MAX, &limit) < 0 || !limit))) {
        sb_widget_fail(req, c->wid, c->origin, 400, "'limit' must be an integer from 1 to 100", "limit");
        return;
    }
    char k_idx[SB_KEY_MAX], lim[8];
    sb_key_global(k_idx, "idx", "widgets");
    snprintf(lim, sizeof(lim), "%u", (unsigned)limit);
    const char *argv[] = {k_idx, c->wid, c->origin, c->tokhash, ra == 0 ? after : "", lim};
    if (sb_store_eval(sb_api_store(req), &sb_script_widget_read, 1, SB_ARRAY_SIZE(argv), argv, NULL, on_messages_read,
                      req) < 0)
        sb_api_unavailable(req);
}

/* ---------- GET /api/widget/{widgetId}/events (Server-Sent Events) ----------
 *
 * A stream subscribes to its conversation's channel; once the subscription is active it reads
 * from Redis every message after the last one it sent, so nothing published before the
 * subscription took effect is missed. Live messages go out as they come while no read is in
 * flight; one arriving during a read asks for another read instead (the read returns it). Every
 * heartbeat re-checks the session (an expired session ends the stream) and compares the
 * conversation's seq with the last one sent, so a message lost in transit is re-read. */

typedef struct sse {
    sb_req_t *req; /* NULL once the stream has ended */
    sb_loop_t *loop;
    sb_sub_t *sub;
    uv_timer_t hb;
    char ck[SB_KEY_MAX];
    char wid[37], origin[320], tokhash[65];
    uint64_t last;        /* seq of the last message sent (or skipped as already known) */
    bool reading, reread; /* a conv_since in flight; another one wanted after it */
    bool checking;        /* a heartbeat's session check in flight */
    unsigned refs;        /* the stream itself, the timer, store callbacks in flight */
} sse_t;

static void sse_unref(sse_t *s)
{
    if (--s->refs == 0)
        sb_free(s);
}

static void on_hb_closed(uv_handle_t *h)
{
    sse_unref(h->data);
}

static void sse_end(sse_t *s)
{
    if (!s->req)
        return;
    sb_req_t *req = s->req;
    s->req = NULL;
    sb_services_t *sv = sb_loop_services(s->loop);
    if (s->sub && sv && sv->pubsub)
        sb_pubsub_unsubscribe(sv->pubsub, s->sub);
    s->sub = NULL;
    uv_timer_stop(&s->hb);
    uv_close((uv_handle_t *)&s->hb, on_hb_closed);
    req->ctx = NULL;
    sb_resp_stream_end(req);
    sse_unref(s); /* the stream's own reference */
}

static void on_sse_abort(sb_req_t *req)
{
    sse_t *s = req->ctx;
    if (s)
        sse_end(s);
}

/* "{"seq":N,..." -> N; 0 when the payload is not a message. */
static uint64_t payload_seq(const char *p, size_t n)
{
    if (n < 9 || memcmp(p, "{\"seq\":", 7) != 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 7; i < n && p[i] >= '0' && p[i] <= '9' && v < (1ull << 50); i++)
        v = v * 10 + (uint64_t)(p[i] - '0');
    return v;
}

static void sse_send(sse_t *s, uint64_t seq, const char *json, size_t len)
{
    if (!s->req || seq <= s->last)
        return;
    char head[64];
    int hl = snprintf(head, sizeof(head), "id: %llu\nevent: message\ndata: ", (unsigned long long)seq);
    uv_buf_t parts[3] = {uv_buf_init(head, (unsigned)hl), uv_buf_init((char *)json, (unsigned)len),
                         uv_buf_init((char *)"\n\n", 2)};
    s->last = seq;
    if (sb_resp_stream_writev(s->req, parts, 3) == -ENOBUFS)
        sb_log(SB_LOG_INFO, "event stream dropped: client reads too slowly", NULL);
}

static void sse_read(sse_t *s);

static void on_since(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sse_t *s = data;
    s->reading = false;
    bool more = false;
    if (s->req && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
        more = reply->element[1]->integer == 1;
        for (size_t i = 2; i < reply->elements && s->req; i++) {
            const redisReply *m = reply->element[i];
            if (m->str)
                sse_send(s, payload_seq(m->str, m->len), m->str, m->len);
        }
    } else if (s->req) {
        s->reread = true; /* Redis failed us: try again at the next heartbeat or message */
        more = false;
    }
    if (s->req && (more || (s->reread && reply)))
        sse_read(s);
    sse_unref(s);
}

static void sse_read(sse_t *s)
{
    if (!s->req)
        return;
    if (s->reading) {
        s->reread = true;
        return;
    }
    s->reread = false;
    char from[24], lim[8];
    snprintf(from, sizeof(from), "%llu", (unsigned long long)s->last);
    snprintf(lim, sizeof(lim), "%d", SSE_BATCH);
    const char *argv[] = {s->ck, from, lim};
    if (sb_store_eval(sb_loop_services(s->loop)->store, &sb_script_conv_since, 0, 3, argv, NULL, on_since, s) == 0) {
        s->reading = true;
        s->refs++;
    } else {
        s->reread = true;
    }
}

static void on_live(void *data, const char *payload, size_t len)
{
    sse_t *s = data;
    if (!s->req)
        return;
    if (!payload || s->reading || s->reread) {
        sse_read(s); /* (re)subscribed, or a read is due anyway: Redis has it all */
        return;
    }
    sse_send(s, payload_seq(payload, len), payload, len);
}

static void on_check(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sse_t *s = data;
    s->checking = false;
    if (s->req && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 4 && reply->element[0]->str) {
        if (strcmp(reply->element[0]->str, "OK") != 0) {
            sse_end(s); /* the session expired or the widget is gone */
        } else if ((uint64_t)reply->element[3]->integer > s->last || s->reread) {
            sse_read(s);
        }
    }
    sse_unref(s);
}

static void on_heartbeat(uv_timer_t *t)
{
    sse_t *s = t->data;
    if (!s->req)
        return;
    static const char ping[] = ": ping\n\n";
    if (sb_resp_stream_write(s->req, ping, sizeof(ping) - 1) < 0 || !s->req || s->checking)
        return;
    char k_idx[SB_KEY_MAX];
    sb_key_global(k_idx, "idx", "widgets");
    const char *argv[] = {k_idx, s->wid, s->origin, s->tokhash, "now", "0"};
    if (sb_store_eval(sb_loop_services(s->loop)->store, &sb_script_widget_read, 1, SB_ARRAY_SIZE(argv), argv, NULL,
                      on_check, s) == 0) {
        s->checking = true;
        s->refs++;
    }
}

static void on_stream_auth(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    sess_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply) || session_refused(req, reply))
        return;
    if (reply->elements < 4 || !reply->element[2]->len || !sb_services(req)->pubsub) {
        sb_api_unavailable(req);
        return;
    }
    req->tenant_id = sb_req_strndup(req, reply->element[1]->str, reply->element[1]->len);
    /* Resume point: Last-Event-ID (header, or ?lastEventId= for the first connection). */
    uint64_t last = (uint64_t)reply->element[3]->integer;
    const sb_header_t *h = sb_req_header(req, "last-event-id");
    const char *q = h ? NULL : sb_req_query(req, "lastEventId");
    uint64_t v;
    if (h && sb_parse_u64(h->value.p, h->value.len, 1ull << 50, &v) == 0)
        last = v;
    else if (q && sb_parse_u64(q, strlen(q), 1ull << 50, &v) == 0)
        last = v;
    sb_widget_cors(req, c->origin);
    sb_resp_header(req, "X-Accel-Buffering", "no"); /* nginx: pass events through at once */
    if (sb_resp_stream_begin(req, 200, "text/event-stream; charset=utf-8", on_sse_abort) < 0)
        return; /* HEAD */
    sse_t *s = sb_calloc(1, sizeof(*s));
    s->req = req;
    s->loop = req->loop;
    s->last = last;
    s->refs = 2; /* the stream, the timer */
    memcpy(s->wid, c->wid, sizeof(s->wid));
    memcpy(s->origin, c->origin, sizeof(s->origin));
    memcpy(s->tokhash, c->tokhash, sizeof(s->tokhash));
    char cid[37], channel[SB_KEY_MAX], live[64];
    snprintf(cid, sizeof(cid), "%.*s", (int)reply->element[2]->len, reply->element[2]->str);
    sb_key_tenant_item(s->ck, req->tenant_id, "conv", cid);
    snprintf(live, sizeof(live), "live:%s", cid);
    sb_key_tenant(channel, req->tenant_id, live);
    req->ctx = s;
    uv_timer_init(&s->loop->uv, &s->hb);
    s->hb.data = s;
    unsigned every = s->loop->srv->cfg->sse_heartbeat_ms;
    uv_timer_start(&s->hb, on_heartbeat, every, every);
    static const char hello[] = "retry: 2000\n\n";
    if (sb_resp_stream_write(req, hello, sizeof(hello) - 1) < 0 || !s->req)
        return; /* gone already: on_abort ended it */
    s->sub = sb_pubsub_subscribe(sb_services(req)->pubsub, channel, on_live, s);
    if (sb_sub_active(s->sub)) /* another stream of this loop holds the channel already */
        sse_read(s);
}

void sb_widget_events(sb_req_t *req)
{
    sess_ctx_t *c = sess_begin(req, true);
    if (!c)
        return;
    char k_idx[SB_KEY_MAX];
    sb_key_global(k_idx, "idx", "widgets");
    const char *argv[] = {k_idx, c->wid, c->origin, c->tokhash, "now", "0"};
    if (sb_store_eval(sb_api_store(req), &sb_script_widget_read, 1, SB_ARRAY_SIZE(argv), argv, NULL, on_stream_auth,
                      req) < 0)
        sb_api_unavailable(req);
}
