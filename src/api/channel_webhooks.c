/* The inbound webhooks of Slack, Telegram, WhatsApp and Teams (docs/channels.md): a handler
 * parses the request into plain messages (request arena, no JSON kept across the wait), finds
 * the binding, verifies the sender (the proofs are the channels layer's: src/channels/) and
 * hands the messages to one script that claims each event id and queues the new ones; the
 * answer goes out then. The queue is worked by the job runner (sb_inbound_process). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/channels.h"
#include "switchboard/clock.h"
#include "switchboard/conv.h"
#include "switchboard/crypto.h"
#include "switchboard/json.h"
#include "switchboard/text.h"

#define CLAIM_TTL_S      86400  /* 24 h */
#define CLAIM_TTL_META_S 604800 /* WhatsApp: Meta retries for up to 7 days */
#define EVENT_ID_MAX     200
#define WA_MAX_MESSAGES  256         /* per payload */
#define WA_MAX_BINDINGS  8           /* distinct numbers named by one payload */
#define ITEM_MAX         (64 * 1024) /* a queue item: ids, a name and one text of <= 4096 characters, escaped */

/* A message on its way into the queue. */
typedef struct in_msg {
    const char *event_id; /* the platform's id of the event, for the dedup claim */
    const char *chat, *from, *name, *text, *pmid;
    const char *svc;    /* Teams: the serviceUrl replies go to */
    const char *thread; /* Slack: the thread (thread_ts) the message was written in */
    int binding;        /* WhatsApp: which of the payload's bindings */
} in_msg_t;

/* ---------- shared plumbing ---------- */

/* The binding of an index field ("slack:T123", ...): cb runs with it (NULL when there is none),
 * at once from the loop's cache or after one script. A store failure is answered (503) and cb
 * does not run. The binding is valid only during cb. */
typedef void (*binding_cb)(sb_req_t *req, const sb_binding_t *b);

typedef struct find_ctx {
    binding_cb cb;
    void *saved; /* the handler's own req->ctx, back in place before cb */
    char field[SB_BINDING_FIELD_MAX];
} find_ctx_t;

static void on_binding(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    find_ctx_t *f = req->ctx;
    req->ctx = f->saved;
    if (sb_api_reply_failed(req, reply))
        return;
    const sb_binding_t *b = sb_bindings_put(sb_services(req)->bindings, f->field, reply,
                                            uv_now(&req->loop->uv) + req->loop->srv->cfg->binding_cache_ms);
    f->cb(req, b->found ? b : NULL);
}

static void binding_find(sb_req_t *req, const char *field, binding_cb cb)
{
    const sb_binding_t *b = sb_bindings_lookup(sb_services(req)->bindings, field, uv_now(&req->loop->uv));
    if (b) {
        cb(req, b->found ? b : NULL);
        return;
    }
    size_t n = strlen(field);
    if (n >= SB_BINDING_FIELD_MAX)
        n = 0; /* longer than any index field: found by no one */
    find_ctx_t *f = sb_req_alloc(req, sizeof(*f));
    f->cb = cb;
    f->saved = req->ctx;
    memcpy(f->field, field, n);
    f->field[n] = '\0';
    req->ctx = f;
    char k_idx[SB_KEY_MAX];
    sb_key_global(k_idx, "idx", "channels");
    const char *argv[] = {k_idx, f->field};
    if (sb_store_eval(sb_api_store(req), &sb_script_binding_get, 1, 2, argv, NULL, on_binding, req) < 0) {
        req->ctx = f->saved;
        sb_api_unavailable(req);
    }
}

static const char *hdr(sb_req_t *req, const char *name, size_t *len)
{
    const sb_header_t *h = sb_req_header(req, name);
    if (!h) {
        *len = 0;
        return NULL;
    }
    *len = h->value.len;
    return sb_req_strndup(req, h->value.p, h->value.len);
}

static const char *dup_str(sb_req_t *req, const char *s)
{
    return s ? sb_req_strndup(req, s, strlen(s)) : NULL;
}

/* A query parameter (sb_req_query) of at most max bytes, else NULL. */
static const char *query_param(sb_req_t *req, const char *name, size_t max)
{
    const char *v = sb_req_query(req, name);
    return v && strlen(v) <= max ? v : NULL;
}

static void unauthorized(sb_req_t *req)
{
    sb_resp_problem(req, 401, "the request is not signed by a known channel binding", NULL);
}

static void answer_ok(sb_req_t *req)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    sb_resp_send(req, 200, "application/json", ok, sizeof(ok) - 1);
}

/* A string member: *out NULL when absent; -1 (400 answered) when present and not a string, or
 * longer than max bytes. */
static int str_member(sb_req_t *req, const cJSON *o, const char *name, const char *field, size_t max, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > max) {
        char detail[160];
        snprintf(detail, sizeof(detail), "'%s' must be a string of at most %zu bytes", field, max);
        sb_resp_problem(req, 400, detail, field);
        return -1;
    }
    *out = sb_req_strndup(req, v->valuestring, strlen(v->valuestring));
    return 0;
}

/* A message text: NULL when absent; -1 (400 answered) when not a non-blank string of at most
 * SB_MSG_TEXT_MAX characters. */
static int text_member(sb_req_t *req, const cJSON *o, const char *name, const char *field, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v)
        return 0;
    bool blank = true;
    if (cJSON_IsString(v))
        for (const char *p = v->valuestring; *p && blank; p++)
            blank = (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n');
    if (!cJSON_IsString(v) || blank || sb_utf8_chars(v->valuestring, strlen(v->valuestring)) > SB_MSG_TEXT_MAX) {
        char detail[160];
        snprintf(detail, sizeof(detail), "'%s' must be a non-empty string of at most %d characters", field,
                 SB_MSG_TEXT_MAX);
        sb_resp_problem(req, 400, detail, field);
        return -1;
    }
    *out = sb_req_strndup(req, v->valuestring, strlen(v->valuestring));
    return 0;
}

/* A JSON number that is an integer a double holds exactly (|v| <= 2^53): true with *out.
 * Checked before any cast, so 1e300 or NaN from the network is just "not an integer". */
static bool json_int(const cJSON *v, long long *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -9007199254740992.0 && v->valuedouble <= 9007199254740992.0))
        return false;
    *out = (long long)v->valuedouble;
    return (double)*out == v->valuedouble;
}

/* An id that may be a JSON number (Telegram) or a string, as a string. */
static const char *id_member(sb_req_t *req, const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    char buf[32];
    long long n;
    if (json_int(v, &n)) {
        snprintf(buf, sizeof(buf), "%lld", n);
        return dup_str(req, buf);
    }
    if (cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) <= EVENT_ID_MAX)
        return dup_str(req, v->valuestring);
    return NULL;
}

static void on_accepted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    answer_ok(req);
}

static void put_member(sb_buf_t *o, const char *name, const char *v)
{
    sb_buf_puts(o, name);
    sb_buf_putc(o, '"');
    sb_buf_json_escape(o, v, strlen(v));
    sb_buf_putc(o, '"');
}

/* The queue item of one message (docs/channels.md), written into o (reset first): the ids and
 * strings are escaped as they are appended, no JSON tree is built on the way in. */
static void item_json(sb_buf_t *o, const sb_binding_t *b, const in_msg_t *m)
{
    sb_buf_reset(o);
    put_member(o, "{\"k\":\"in\",\"t\":", b->tid);
    put_member(o, ",\"ch\":", b->type);
    put_member(o, ",\"cid\":", b->cid);
    put_member(o, ",\"ag\":", b->agent);
    put_member(o, ",\"chat\":", m->chat);
    put_member(o, ",\"mid\":", m->pmid ? m->pmid : m->event_id);
    put_member(o, ",\"from\":{\"id\":", m->from ? m->from : "");
    if (m->name)
        put_member(o, ",\"name\":", m->name);
    put_member(o, "},\"text\":", m->text);
    if (m->svc)
        put_member(o, ",\"svc\":", m->svc);
    if (m->thread)
        put_member(o, ",\"th\":", m->thread);
    sb_buf_putc(o, '}');
}

/* Claims and queues the messages; n may be 0 (acknowledged, nothing stored). bindings[i] is the
 * binding of messages with .binding == i. */
static void accept_msgs(sb_req_t *req, const sb_binding_t *const *bindings, const in_msg_t *msgs, size_t n,
                        unsigned ttl_s)
{
    if (n == 0) {
        answer_ok(req);
        return;
    }
    const char **argv = sb_req_alloc(req, (2 + 2 * n) * sizeof(char *));
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%u", ttl_s);
    argv[0] = SB_Q_IN;
    argv[1] = ttl;
    sb_buf_t item;
    sb_buf_init(&item, ITEM_MAX);
    for (size_t i = 0; i < n; i++) {
        const sb_binding_t *b = bindings[msgs[i].binding];
        char *claim = sb_req_alloc(req, SB_KEY_MAX + EVENT_ID_MAX + 64);
        snprintf(claim, SB_KEY_MAX + EVENT_ID_MAX + 64, "sb:{t:%s}:seen:%s:%s", b->tid, b->cid, msgs[i].event_id);
        item_json(&item, b, &msgs[i]);
        argv[2 + 2 * i] = claim;
        argv[3 + 2 * i] = sb_req_strndup(req, item.data, item.len);
    }
    sb_buf_free(&item);
    if (sb_store_eval(sb_api_store(req), &sb_script_inbound_accept, 1, (int)(2 + 2 * n), argv, NULL, on_accepted, req) <
        0)
        sb_api_unavailable(req);
}

/* The body through the validated parse (json.h), as one object; NULL when it answered 400. */
static cJSON *json_object_body(sb_req_t *req)
{
    char err[SB_JSON_ERR_MAX], detail[SB_JSON_ERR_MAX + 16];
    cJSON *o = sb_json_parse(req->body.data, req->body.len, err);
    if (!o) {
        snprintf(detail, sizeof(detail), "the body %s", err);
        sb_resp_problem(req, 400, detail, NULL);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        sb_resp_problem(req, 400, "the body must be a JSON object", NULL);
        return NULL;
    }
    return o;
}

/* ---------- Slack ---------- */

typedef struct slack_ctx {
    const char *team, *token, *challenge, *sig, *ts;
    size_t siglen, tslen;
    bool verification_only, ignored;
    in_msg_t msg;
} slack_ctx_t;

/* application/x-www-form-urlencoded -> a JSON object of its string fields (NULL: malformed). */
static cJSON *form_object(const char *s, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (pe > p) {
            const char *ke = eq ? eq : pe;
            char key[64];
            size_t vlen = eq ? (size_t)(pe - eq - 1) : 0;
            char *val = sb_malloc(vlen + 1);
            int kl = sb_percent_decode(p, (size_t)(ke - p), key, sizeof(key), true);
            int vl = sb_percent_decode(eq ? eq + 1 : pe, vlen, val, vlen + 1, true);
            /* the same rules as the JSON parse: UTF-8, no control characters but line breaks
             * and tabs (a NUL would cut the text), every field named once */
            bool bad = kl < 0 || vl < 0 || !sb_utf8_valid(val, (size_t)vl) || memchr(key, 0, (size_t)kl);
            for (int i = 0; !bad && i < vl; i++)
                bad = (unsigned char)val[i] < 0x20 && val[i] != '\n' && val[i] != '\r' && val[i] != '\t';
            if (bad || cJSON_GetObjectItemCaseSensitive(o, key)) {
                sb_free(val);
                cJSON_Delete(o);
                return NULL;
            }
            cJSON_AddStringToObject(o, key, val);
            sb_free(val);
        }
        p = pe + 1;
    }
    return o;
}

static bool is_form(sb_req_t *req)
{
    const sb_header_t *ct = sb_req_header(req, "content-type");
    return ct && ct->value.len >= 33 && strncasecmp(ct->value.p, "application/x-www-form-urlencoded", 33) == 0;
}

static void on_slack_binding(sb_req_t *req, const sb_binding_t *b)
{
    slack_ctx_t *c = req->ctx;
    if (!b || strcmp(b->type, "slack") != 0) {
        unauthorized(req);
        return;
    }
    bool ok = false;
    const char *s0 = sb_binding_secret(b, "signingSecret", false), *s1 = sb_binding_secret(b, "signingSecret", true);
    if (s0 || s1) {
        int64_t now = sb_now_s();
        ok = sb_slack_signature_ok(s0, c->sig, c->siglen, c->ts, c->tslen, req->body.data, req->body.len, now) == 0 ||
             sb_slack_signature_ok(s1, c->sig, c->siglen, c->ts, c->tslen, req->body.data, req->body.len, now) == 0;
    } else {
        ok = sb_token_equal(sb_binding_secret(b, "verificationToken", false), c->token) ||
             sb_token_equal(sb_binding_secret(b, "verificationToken", true), c->token);
    }
    if (!ok) {
        unauthorized(req);
        return;
    }
    if (c->verification_only) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "challenge", c->challenge);
        sb_resp_json(req, 200, o);
        cJSON_Delete(o);
        return;
    }
    const sb_binding_t *bs[] = {b};
    accept_msgs(req, bs, &c->msg, c->ignored ? 0 : 1, CLAIM_TTL_S);
}

/* Reads the Slack body into c; -1 when it answered 400. */
static int slack_parse(sb_req_t *req, const cJSON *o, slack_ctx_t *c)
{
    const char *type;
    if (str_member(req, o, "team_id", "team_id", 64, &c->team) < 0 ||
        str_member(req, o, "token", "token", 256, &c->token) < 0 || str_member(req, o, "type", "type", 64, &type) < 0)
        return -1;
    if (type && strcmp(type, "url_verification") == 0) {
        if (str_member(req, o, "challenge", "challenge", 256, &c->challenge) < 0)
            return -1;
        if (!c->challenge) {
            sb_resp_problem(req, 400, "'challenge' is required", "challenge");
            return -1;
        }
        c->verification_only = true;
        return 0;
    }
    in_msg_t *m = &c->msg;
    if (type && strcmp(type, "event_callback") == 0) {
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
        if (!cJSON_IsObject(ev)) {
            sb_resp_problem(req, 400, "'event' must be an object", "event");
            return -1;
        }
        const char *etype, *subtype, *bot;
        if (str_member(req, o, "event_id", "event_id", EVENT_ID_MAX, &m->event_id) < 0 ||
            str_member(req, ev, "type", "event.type", 64, &etype) < 0 ||
            str_member(req, ev, "subtype", "event.subtype", 64, &subtype) < 0 ||
            str_member(req, ev, "bot_id", "event.bot_id", 64, &bot) < 0)
            return -1;
        if (!m->event_id) {
            sb_resp_problem(req, 400, "'event_id' is required", "event_id");
            return -1;
        }
        if (!etype || strcmp(etype, "message") != 0 || subtype || bot) {
            c->ignored = true; /* other events, bot messages (our own replies), edits, joins */
            return 0;
        }
        if (str_member(req, ev, "channel", "event.channel", 64, &m->chat) < 0 ||
            str_member(req, ev, "user", "event.user", 64, &m->from) < 0 ||
            str_member(req, ev, "ts", "event.ts", 64, &m->pmid) < 0 ||
            str_member(req, ev, "thread_ts", "event.thread_ts", 64, &m->thread) < 0 ||
            text_member(req, ev, "text", "event.text", &m->text) < 0)
            return -1;
        if (!m->chat || !m->text) {
            sb_resp_problem(req, 400, m->chat ? "'event.text' is required" : "'event.channel' is required",
                            m->chat ? "event.text" : "event.channel");
            return -1;
        }
        return 0;
    }
    if (type) {
        c->ignored = true; /* app_rate_limited and other envelopes: nothing to store */
        return 0;
    }
    /* seed 000's flat body */
    const char *ets;
    if (str_member(req, o, "channel_id", "channel_id", 64, &m->chat) < 0 ||
        str_member(req, o, "user_id", "user_id", 64, &m->from) < 0 ||
        str_member(req, o, "event_ts", "event_ts", 64, &ets) < 0 ||
        str_member(req, o, "thread_ts", "thread_ts", 64, &m->thread) < 0 ||
        text_member(req, o, "text", "text", &m->text) < 0)
        return -1;
    const char *missing = !m->chat ? "channel_id" : !m->text ? "text" : !ets ? "event_ts" : NULL;
    if (missing) {
        char detail[64];
        snprintf(detail, sizeof(detail), "'%s' is required", missing);
        sb_resp_problem(req, 400, detail, missing);
        return -1;
    }
    m->pmid = ets;
    char *eid = sb_req_alloc(req, 200);
    snprintf(eid, 200, "%s:%s:%s", c->team ? c->team : "", m->chat, ets);
    m->event_id = eid;
    return 0;
}

void sb_webhook_slack(sb_req_t *req)
{
    slack_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    cJSON *o;
    if (is_form(req)) {
        o = form_object(req->body.data ? req->body.data : "", req->body.len);
        if (!o) {
            sb_resp_problem(req, 400, "the body is not a valid form", NULL);
            return;
        }
    } else if (!(o = json_object_body(req))) {
        return;
    }
    int rc = slack_parse(req, o, c);
    cJSON_Delete(o);
    if (rc < 0)
        return;
    if (!c->team)
        c->team = query_param(req, "teamId", 64);
    if (!c->team || !c->team[0] || strpbrk(c->team, "{} \r\n")) {
        unauthorized(req);
        return;
    }
    c->sig = hdr(req, "x-slack-signature", &c->siglen);
    c->ts = hdr(req, "x-slack-request-timestamp", &c->tslen);
    req->ctx = c;
    char field[SB_BINDING_FIELD_MAX];
    snprintf(field, sizeof(field), "slack:%s", c->team);
    binding_find(req, field, on_slack_binding);
}

/* ---------- Telegram ---------- */

typedef struct tg_ctx {
    const char *secret, *update_id;
    bool ignored;
    in_msg_t msg;
} tg_ctx_t;

static void on_tg_binding(sb_req_t *req, const sb_binding_t *b)
{
    tg_ctx_t *c = req->ctx;
    if (!b || strcmp(b->type, "telegram") != 0 ||
        !(sb_token_equal(sb_binding_secret(b, "secretToken", false), c->secret) ||
          sb_token_equal(sb_binding_secret(b, "secretToken", true), c->secret))) {
        unauthorized(req);
        return;
    }
    const char *bot = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b->cfg, "botId"));
    char *eid = sb_req_alloc(req, 200);
    snprintf(eid, 200, "%s:%s", bot ? bot : "", c->update_id);
    c->msg.event_id = eid;
    const sb_binding_t *bs[] = {b};
    accept_msgs(req, bs, &c->msg, c->ignored ? 0 : 1, CLAIM_TTL_S);
}

void sb_webhook_telegram(sb_req_t *req)
{
    tg_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    cJSON *o = json_object_body(req);
    if (!o)
        return;
    int rc = -1;
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(o, "update_id");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
    long long update_id;
    if (!json_int(uid, &update_id) || update_id < 0) {
        sb_resp_problem(req, 400, "'update_id' must be a non-negative integer", "update_id");
    } else if (msg && !cJSON_IsObject(msg)) {
        sb_resp_problem(req, 400, "'message' must be an object", "message");
    } else if (!msg) {
        c->ignored = true; /* callback queries, edits, channel posts: nothing to store */
        rc = 0;
    } else {
        const cJSON *chat = cJSON_GetObjectItemCaseSensitive(msg, "chat");
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(msg, "from");
        in_msg_t *m = &c->msg;
        m->chat = cJSON_IsObject(chat) ? id_member(req, chat, "id") : NULL;
        m->from = cJSON_IsObject(from) ? id_member(req, from, "id") : NULL;
        m->pmid = id_member(req, msg, "message_id");
        if (!m->chat) {
            sb_resp_problem(req, 400, "'message.chat.id' must be an integer", "message.chat.id");
        } else if (cJSON_IsObject(from) &&
                   str_member(req, from, "username", "message.from.username", 64, &m->name) < 0) {
        } else if (text_member(req, msg, "text", "message.text", &m->text) == 0) {
            c->ignored = !m->text; /* photos, stickers, ...: acknowledged, not stored */
            rc = 0;
        }
    }
    if (rc == 0) {
        char id[32];
        snprintf(id, sizeof(id), "%lld", update_id);
        c->update_id = dup_str(req, id);
    }
    cJSON_Delete(o);
    if (rc < 0)
        return;
    size_t slen;
    c->secret = hdr(req, "x-telegram-bot-api-secret-token", &slen);
    if (!c->secret || slen == 0 || slen > 256) {
        unauthorized(req);
        return;
    }
    req->ctx = c;
    char field[SB_BINDING_FIELD_MAX];
    const char *bot = sb_req_param(req, "botId");
    if (bot) {
        if (strlen(bot) > 128 || strpbrk(bot, "{} \r\n")) {
            unauthorized(req);
            return;
        }
        snprintf(field, sizeof(field), "telegram:%s", bot);
    } else {
        char h[65];
        sb_sha256_hex(c->secret, slen, h);
        snprintf(field, sizeof(field), "tgsecret:%s", h);
    }
    binding_find(req, field, on_tg_binding);
}

/* ---------- Teams (Bot Framework) ---------- */

#define BF_ISSUER "https://api.botframework.com"
#define BF_SKEW_S 300

typedef struct teams_ctx {
    const char *token, *channel_id, *service_url;
    const char *app, *jwks_url, *jwks_inline; /* of the binding, copied: it may leave the cache meanwhile */
    sb_binding_t b;                           /* ids only (rec, cfg NULL) */
    bool ignored, refreshed;
    bool service_url_ok; /* the activity's serviceUrl is on the binding's allow-list */
    in_msg_t msg;
} teams_ctx_t;

static void on_teams_keys(void *data, const sb_jwks_t *ks)
{
    sb_req_t *req = data;
    teams_ctx_t *c = req->ctx;
    if (!ks) {
        sb_resp_header(req, "Retry-After", "5");
        sb_resp_problem(req, 503, "the Bot Framework signing keys are unavailable", NULL);
        return;
    }
    sb_jwt_expect_t x = {BF_ISSUER, c->app, c->channel_id, c->service_url, true, sb_now_s(), BF_SKEW_S};
    int rc = sb_jwt_verify(ks, c->token, strlen(c->token), &x);
    if (rc == SB_JWT_UNKNOWN_KID && c->jwks_url && !c->refreshed) {
        c->refreshed = true; /* the keys may have rolled over: fetch them again, once */
        sb_teams_keys_get(sb_services(req)->teams_keys, c->jwks_url, NULL, true, on_teams_keys, req);
        return;
    }
    if (rc == SB_JWT_NOT_ENDORSED || rc == SB_JWT_BAD_SERVICE_URL) {
        sb_resp_problem(req, 403,
                        rc == SB_JWT_NOT_ENDORSED ? "the signing key is not endorsed for this channelId"
                                                  : "the token's serviceurl claim does not match the activity",
                        NULL);
        return;
    }
    if (rc != SB_JWT_OK) {
        unauthorized(req);
        return;
    }
    /* Checked only now: before the token is verified, a 403 here would tell an anonymous
     * caller that the app id is bound (every unverified request is a 401). */
    if (!c->service_url_ok) {
        sb_resp_problem(req, 403, "the activity's serviceUrl is not on the channel's allow-list", "serviceUrl");
        return;
    }
    const sb_binding_t *bs[] = {&c->b};
    accept_msgs(req, bs, &c->msg, c->ignored ? 0 : 1, CLAIM_TTL_S);
}

static void on_teams_binding(sb_req_t *req, const sb_binding_t *b)
{
    teams_ctx_t *c = req->ctx;
    if (!b || strcmp(b->type, "teams") != 0) {
        unauthorized(req);
        return;
    }
    c->service_url_ok = sb_teams_service_url_allowed(b->cfg, c->service_url);
    c->b = *b;
    c->b.rec = NULL;
    c->b.cfg = NULL;
    c->app = dup_str(req, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b->cfg, "appId")));
    const cJSON *jwks = cJSON_GetObjectItemCaseSensitive(b->cfg, "jwks");
    if (cJSON_IsObject(jwks)) {
        char *j = cJSON_PrintUnformatted(jwks);
        c->jwks_inline = dup_str(req, j);
        cJSON_free(j);
    } else {
        const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b->cfg, "jwksUrl"));
        c->jwks_url = dup_str(req, u ? u : req->loop->srv->cfg->botframework_jwks_url);
    }
    sb_teams_keys_get(sb_services(req)->teams_keys, c->jwks_url, c->jwks_inline, false, on_teams_keys, req);
}

/* An object member's string member (Activity.from.id ...): NULL when absent; -1 (400 answered)
 * when the object or the string has the wrong type. */
static int nested_str(sb_req_t *req, const cJSON *o, const char *obj, const char *name, const char *field, size_t max,
                      const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, obj);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsObject(v)) {
        char detail[96];
        snprintf(detail, sizeof(detail), "'%s' must be an object", obj);
        sb_resp_problem(req, 400, detail, obj);
        return -1;
    }
    return str_member(req, v, name, field, max, out);
}

void sb_webhook_teams(sb_req_t *req)
{
    teams_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    cJSON *o = json_object_body(req);
    if (!o)
        return;
    const char *type, *recipient;
    in_msg_t *m = &c->msg;
    int rc = -1;
    if (str_member(req, o, "type", "type", 64, &type) < 0 ||
        str_member(req, o, "id", "id", EVENT_ID_MAX, &m->pmid) < 0 ||
        str_member(req, o, "channelId", "channelId", 64, &c->channel_id) < 0 ||
        str_member(req, o, "serviceUrl", "serviceUrl", 2048, &c->service_url) < 0 ||
        nested_str(req, o, "recipient", "id", "recipient.id", 256, &recipient) < 0 ||
        nested_str(req, o, "conversation", "id", "conversation.id", 512, &m->chat) < 0 ||
        nested_str(req, o, "from", "id", "from.id", 256, &m->from) < 0 ||
        nested_str(req, o, "from", "name", "from.name", 256, &m->name) < 0) {
    } else if (!type || !c->channel_id || !c->service_url || !recipient) {
        const char *f = !type ? "type" : !c->channel_id ? "channelId" : !c->service_url ? "serviceUrl" : "recipient.id";
        char detail[64];
        snprintf(detail, sizeof(detail), "'%s' is required", f);
        sb_resp_problem(req, 400, detail, f);
    } else if (strcmp(type, "message") != 0) {
        c->ignored = true; /* conversationUpdate, typing, invoke...: acknowledged, nothing to store */
        rc = 0;
    } else if (text_member(req, o, "text", "text", &m->text) == 0) {
        const char *missing = !m->pmid ? "id" : !m->chat ? "conversation.id" : !m->from ? "from.id" : NULL;
        if (missing) {
            char detail[64];
            snprintf(detail, sizeof(detail), "'%s' is required", missing);
            sb_resp_problem(req, 400, detail, missing);
        } else {
            c->ignored = !m->text; /* attachments only: acknowledged, not stored */
            m->event_id = m->pmid;
            m->svc = c->service_url;
            rc = 0;
        }
    }
    cJSON_Delete(o);
    if (rc < 0)
        return;
    size_t alen;
    const char *auth = hdr(req, "authorization", &alen);
    if (!auth || alen < 8 || alen > SB_JWT_MAX_TOKEN + 7 || strncasecmp(auth, "Bearer ", 7) != 0) {
        unauthorized(req);
        return;
    }
    c->token = auth + 7;
    /* the bot's id on Teams is "28:<app id>" */
    const char *app = strncmp(recipient, "28:", 3) == 0 ? recipient + 3 : recipient;
    if (!app[0] || strlen(app) > 128 || strpbrk(app, "{} \r\n")) {
        unauthorized(req);
        return;
    }
    req->ctx = c;
    char field[SB_BINDING_FIELD_MAX];
    snprintf(field, sizeof(field), "teams:%s", app);
    binding_find(req, field, on_teams_binding);
}

/* ---------- WhatsApp ---------- */

typedef struct wa_verify_ctx {
    const char *token, *challenge;
} wa_verify_ctx_t;

static void on_wa_verify_binding(sb_req_t *req, const sb_binding_t *b)
{
    wa_verify_ctx_t *c = req->ctx;
    if (!b || strcmp(b->type, "whatsapp") != 0 ||
        !(sb_token_equal(sb_binding_secret(b, "verifyToken", false), c->token) ||
          sb_token_equal(sb_binding_secret(b, "verifyToken", true), c->token))) {
        sb_resp_problem(req, 403, "verification refused", NULL);
        return;
    }
    sb_resp_header(req, "X-Content-Type-Options", "nosniff");
    sb_resp_send(req, 200, "text/plain; charset=utf-8", c->challenge, strlen(c->challenge));
}

void sb_webhook_whatsapp_verify(sb_req_t *req)
{
    wa_verify_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    const char *mode = query_param(req, "hub.mode", 32);
    c->token = query_param(req, "hub.verify_token", 256);
    c->challenge = query_param(req, "hub.challenge", 256);
    if (!mode || strcmp(mode, "subscribe") != 0 || !c->token || !c->token[0] || !c->challenge || !c->challenge[0] ||
        !sb_utf8_valid(c->challenge, strlen(c->challenge))) {
        sb_resp_problem(req, 403, "verification refused", NULL);
        return;
    }
    req->ctx = c;
    char h[65], field[SB_BINDING_FIELD_MAX];
    sb_sha256_hex(c->token, strlen(c->token), h);
    snprintf(field, sizeof(field), "waverify:%s", h);
    binding_find(req, field, on_wa_verify_binding);
}

typedef struct wa_ctx {
    const char *sig;
    size_t siglen;
    const char *fields[WA_MAX_BINDINGS];
    size_t nfields, next;
    sb_binding_t got[WA_MAX_BINDINGS]; /* copies (without the record) of the verified bindings */
    bool verified[WA_MAX_BINDINGS];
    in_msg_t *msgs; /* in the request arena, grown by doubling (most payloads carry one) */
    size_t nmsgs, cap;
} wa_ctx_t;

static int wa_binding_index(sb_req_t *req, wa_ctx_t *c, const char *field)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (strcmp(c->fields[i], field) == 0)
            return (int)i;
    if (c->nfields == WA_MAX_BINDINGS) {
        sb_resp_problem(req, 400, "the payload names too many phone numbers", "entry");
        return -1;
    }
    c->fields[c->nfields] = dup_str(req, field);
    return (int)c->nfields++;
}

/* Reads the payload's messages into c; -1 when it answered 400. */
static int wa_parse(sb_req_t *req, const cJSON *o, wa_ctx_t *c)
{
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(o, "entry");
    if (!cJSON_IsArray(entries)) {
        sb_resp_problem(req, 400, "'entry' must be an array", "entry");
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        const cJSON *changes = cJSON_GetObjectItemCaseSensitive(e, "changes");
        if (!cJSON_IsObject(e) || !cJSON_IsArray(changes)) {
            sb_resp_problem(req, 400, "each entry must be an object with a 'changes' array", "entry");
            return -1;
        }
        const char *waba = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "id"));
        const cJSON *ch;
        cJSON_ArrayForEach(ch, changes)
        {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ch, "value");
            if (!cJSON_IsObject(v)) {
                sb_resp_problem(req, 400, "each change must have a 'value' object", "entry.changes.value");
                return -1;
            }
            const cJSON *messages = cJSON_GetObjectItemCaseSensitive(v, "messages");
            const cJSON *statuses = cJSON_GetObjectItemCaseSensitive(v, "statuses");
            if ((messages && !cJSON_IsArray(messages)) || (statuses && !cJSON_IsArray(statuses))) {
                sb_resp_problem(req, 400, "'messages' and 'statuses' must be arrays", "entry.changes.value");
                return -1;
            }
            const char *pnid = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "metadata"), "phone_number_id"));
            char field[SB_BINDING_FIELD_MAX];
            if (pnid && pnid[0] && strlen(pnid) <= 128 && !strpbrk(pnid, "{} \r\n"))
                snprintf(field, sizeof(field), "whatsapp:%s", pnid);
            else if (waba && waba[0] && strlen(waba) <= 128 && !strpbrk(waba, "{} \r\n"))
                snprintf(field, sizeof(field), "wawaba:%s", waba);
            else {
                sb_resp_problem(req, 400,
                                "a change names no phone number (value.metadata.phone_number_id) "
                                "and its entry no account (id)",
                                "entry.changes.value.metadata");
                return -1;
            }
            int bi = wa_binding_index(req, c, field);
            if (bi < 0)
                return -1;
            const cJSON *contacts = cJSON_GetObjectItemCaseSensitive(v, "contacts");
            const cJSON *m;
            cJSON_ArrayForEach(m, messages)
            {
                if (c->nmsgs == WA_MAX_MESSAGES) {
                    sb_resp_problem(req, 400, "too many messages in one payload", "entry");
                    return -1;
                }
                if (c->nmsgs == c->cap) {
                    c->cap = c->cap ? 2 * c->cap : 4;
                    in_msg_t *grown = sb_req_alloc(req, c->cap * sizeof(*grown));
                    if (c->nmsgs)
                        memcpy(grown, c->msgs, c->nmsgs * sizeof(*grown));
                    c->msgs = grown;
                }
                in_msg_t *x = &c->msgs[c->nmsgs];
                memset(x, 0, sizeof(*x));
                const char *type;
                if (!cJSON_IsObject(m) || str_member(req, m, "id", "messages.id", EVENT_ID_MAX, &x->event_id) < 0 ||
                    str_member(req, m, "from", "messages.from", 64, &x->from) < 0 ||
                    str_member(req, m, "type", "messages.type", 32, &type) < 0)
                    return -1;
                if (!x->event_id || !x->from) {
                    sb_resp_problem(req, 400, "each message needs 'id' and 'from'", "messages");
                    return -1;
                }
                if (!type || strcmp(type, "text") != 0)
                    continue; /* media, reactions, ...: acknowledged, not stored */
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "text");
                if (!cJSON_IsObject(t)) {
                    sb_resp_problem(req, 400, "'messages.text' must be an object", "messages.text");
                    return -1;
                }
                if (text_member(req, t, "body", "messages.text.body", &x->text) < 0)
                    return -1;
                if (!x->text) {
                    sb_resp_problem(req, 400, "'messages.text.body' is required", "messages.text.body");
                    return -1;
                }
                x->chat = x->from;
                x->pmid = x->event_id;
                x->binding = bi;
                const cJSON *ct;
                cJSON_ArrayForEach(ct, contacts)
                {
                    const char *wa = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ct, "wa_id"));
                    const char *name = cJSON_GetStringValue(
                        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ct, "profile"), "name"));
                    if (wa && name && strcmp(wa, x->from) == 0 && strlen(name) <= 256)
                        x->name = dup_str(req, name);
                }
                c->nmsgs++;
            }
        }
    }
    return 0;
}

static void wa_next(sb_req_t *req);

static void on_wa_binding(sb_req_t *req, const sb_binding_t *b)
{
    wa_ctx_t *c = req->ctx;
    size_t i = c->next++;
    if (b && strcmp(b->type, "whatsapp") == 0 &&
        (sb_hub_signature_ok(sb_binding_secret(b, "appSecret", false), c->sig, c->siglen, req->body.data,
                             req->body.len) == 0 ||
         sb_hub_signature_ok(sb_binding_secret(b, "appSecret", true), c->sig, c->siglen, req->body.data,
                             req->body.len) == 0)) {
        c->got[i] = *b;
        c->got[i].rec = NULL; /* the cache owns it; only the ids are used */
        c->got[i].cfg = NULL;
        c->verified[i] = true;
    }
    wa_next(req);
}

static void wa_next(sb_req_t *req)
{
    wa_ctx_t *c = req->ctx;
    if (c->next < c->nfields) {
        binding_find(req, c->fields[c->next], on_wa_binding);
        return;
    }
    /* Every binding is known now: keep the messages of the verified ones. */
    bool any = false;
    const sb_binding_t *bs[WA_MAX_BINDINGS];
    for (size_t i = 0; i < c->nfields; i++) {
        any |= c->verified[i];
        bs[i] = &c->got[i];
    }
    if (!any) {
        unauthorized(req);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < c->nmsgs; i++)
        if (c->verified[c->msgs[i].binding])
            c->msgs[n++] = c->msgs[i];
    accept_msgs(req, bs, c->msgs, n, CLAIM_TTL_META_S);
}

void sb_webhook_whatsapp(sb_req_t *req)
{
    wa_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    cJSON *o = json_object_body(req);
    if (!o)
        return;
    int rc = wa_parse(req, o, c);
    cJSON_Delete(o);
    if (rc < 0)
        return;
    c->sig = hdr(req, "x-hub-signature-256", &c->siglen);
    if (!c->sig || c->nfields == 0) {
        unauthorized(req);
        return;
    }
    req->ctx = c;
    wa_next(req);
}
