/* Widget routes (SPEC 4, seed 000): the public config with its CORS origin whitelist, and
 * anonymous session start behind an exact per-IP rate limit. Browsers call these directly. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/clock.h"
#include "switchboard/crypto.h"
#include "switchboard/delivery.h"
#include "switchboard/text.h"

#define OTP_PENDING_TTL_MS (15 * 60 * 1000) /* an unverified OTP session lives as long as its lockout window */

/* SPEC 4: 60 session starts a minute per client IP; 5 OTP attempts in 15 minutes per session
 * and per IP; and, so one session cannot flood its agent, 120 messages a minute per session. */
const sb_rate_rule_t sb_rule_session_start = {"session-start", 60, 60000};
const sb_rate_rule_t sb_rule_otp_verify = {"otp-verify", 5, 15 * 60000};
const sb_rate_rule_t sb_rule_widget_messages = {"widget-messages", 120, 60000};

/* scheme://host[:port] of the Origin header, or of the Referer when Origin is absent; lower
 * case; "" when neither names a web origin. */
void sb_widget_origin(const sb_req_t *req, char out[320])
{
    out[0] = '\0';
    const sb_header_t *h = sb_req_header(req, "origin");
    sb_str_t v = h ? h->value : SB_STR_LIT("");
    if (!h || sb_str_eq(v, "null")) {
        h = sb_req_header(req, "referer");
        if (!h)
            return;
        v = h->value;
        const char *p = memchr(v.p, ':', v.len);
        if (!p || (size_t)(p - v.p) + 3 > v.len || p[1] != '/' || p[2] != '/')
            return;
        const char *host = p + 3;
        const char *end = host;
        while (end < v.p + v.len && *end != '/' && *end != '?' && *end != '#')
            end++;
        v.len = (size_t)(end - v.p);
    }
    if (v.len == 0 || v.len >= 320)
        return;
    for (size_t i = 0; i < v.len; i++)
        out[i] = (char)(v.p[i] >= 'A' && v.p[i] <= 'Z' ? v.p[i] + 32 : v.p[i]);
    out[v.len] = '\0';
    if (!sb_origin_valid(out))
        out[0] = '\0';
}

void sb_widget_cors(sb_req_t *req, const char *origin)
{
    if (!origin[0])
        return;
    sb_resp_header(req, "Access-Control-Allow-Origin", origin);
    sb_resp_header(req, "Vary", "Origin");
    sb_resp_header(req, "Access-Control-Expose-Headers",
                   "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset");
}

const char *sb_widget_id_param(sb_req_t *req)
{
    const char *wid = sb_req_param(req, "widgetId");
    if (!wid || !sb_uuid_valid(wid, strlen(wid))) {
        sb_resp_problem(req, 404, "no such widget", NULL);
        return NULL;
    }
    return wid;
}

bool sb_widget_refused(sb_req_t *req, sb_str_t word)
{
    if (sb_str_eq(word, "NOWIDGET"))
        sb_resp_problem(req, 404, "no such widget", NULL);
    else if (sb_str_eq(word, "ORIGIN"))
        sb_resp_problem(req, 403, "this origin may not embed the widget", NULL);
    else if (sb_str_eq(word, "SUSPENDED"))
        sb_resp_problem(req, 403, "this widget is not available: its tenant is suspended", NULL);
    else
        return false;
    return true;
}

/* The first element of a script's array answer (or the string answer itself). */
static sb_str_t answer_word(const redisReply *r)
{
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return (sb_str_t){r->str, r->len};
    if (r->type == REDIS_REPLY_ARRAY && r->elements && r->element[0]->type == REDIS_REPLY_STRING)
        return (sb_str_t){r->element[0]->str, r->element[0]->len};
    return SB_STR_LIT("");
}

/* A script reply that the gate's side answers: a store failure (503) or a refusal of the gate.
 * Otherwise *word is the reply's first word, for the route to read on. */
static bool gate_answered(sb_req_t *req, const redisReply *reply, sb_str_t *word)
{
    if (sb_api_reply_failed(req, reply))
        return true;
    *word = answer_word(reply);
    return sb_widget_refused(req, *word);
}

/* ---------- refusals found before the route's own script: answered after the gate ---------- */

typedef struct widget_fail {
    int status;
    const char *detail, *field;
    char origin[320];
} widget_fail_t;

static void on_fail_gate(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    widget_fail_t *f = req->ctx;
    sb_str_t word;
    if (gate_answered(req, reply, &word))
        return;
    if (!sb_str_eq(word, "OK")) {
        sb_api_unavailable(req);
        return;
    }
    sb_widget_cors(req, f->origin);
    sb_resp_problem(req, f->status, f->detail, f->field);
}

void sb_widget_fail(sb_req_t *req, const char *wid, const char *origin, int status, const char *detail,
                    const char *field)
{
    widget_fail_t *f = sb_req_alloc(req, sizeof(*f));
    f->status = status;
    f->detail = sb_req_strndup(req, detail, strlen(detail));
    f->field = field && field[0] ? sb_req_strndup(req, field, strlen(field)) : NULL;
    size_t n = strlen(origin);
    memcpy(f->origin, origin, n < sizeof(f->origin) ? n + 1 : 1);
    f->origin[sizeof(f->origin) - 1] = '\0';
    req->ctx = f;
    char k_idx[SB_KEY_MAX];
    sb_key_global(k_idx, "idx", "widgets");
    const char *argv[] = {k_idx, wid, f->origin};
    if (sb_store_eval(sb_api_store(req), &sb_script_widget_config, 1, 3, argv, NULL, on_fail_gate, req) < 0)
        sb_api_unavailable(req);
}

void sb_widget_fail_verr(sb_req_t *req, const char *wid, const char *origin, const sb_verr_t *e)
{
    sb_widget_fail(req, wid, origin, 400, e->detail, e->field);
}

cJSON *sb_widget_body(sb_req_t *req, const char *wid, const char *origin, bool allow_empty)
{
    sb_verr_t e;
    cJSON *body = sb_json_body_parse(req, allow_empty, &e);
    if (!body)
        sb_widget_fail_verr(req, wid, origin, &e);
    return body;
}

/* ---------- GET /api/widget/{widgetId}/config and its preflight ---------- */

static void on_config(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    const char *origin = req->ctx;
    sb_str_t word;
    if (gate_answered(req, reply, &word))
        return;
    cJSON *w = sb_str_eq(word, "OK") && reply->elements == 3
                   ? cJSON_ParseWithLength(reply->element[1]->str, reply->element[1]->len)
                   : NULL;
    if (!w) {
        sb_api_unavailable(req);
        return;
    }
    sb_widget_cors(req, origin);
    if (req->method == SB_M_OPTIONS) {
        cJSON_Delete(w);
        sb_resp_header(req, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        sb_resp_header(req, "Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, X-Request-Id");
        sb_resp_header(req, "Access-Control-Max-Age", "600");
        sb_resp_no_content(req);
        return;
    }
    cJSON *agent =
        reply->element[2]->len ? cJSON_ParseWithLength(reply->element[2]->str, reply->element[2]->len) : NULL;
    cJSON *dto = cJSON_CreateObject();
    cJSON_AddStringToObject(dto, "widgetId", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "id")));
    cJSON_AddItemToObject(dto, "name", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(w, "name"), 1));
    cJSON_AddItemToObject(dto, "greeting", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(w, "greeting"), 1));
    cJSON_AddItemToObject(dto, "theme", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(w, "theme"), 1));
    cJSON_AddBoolToObject(dto, "otpRequired", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "otpRequired")));
    const char *an = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(agent, "name"));
    if (an)
        cJSON_AddStringToObject(dto, "agentName", an);
    else
        cJSON_AddNullToObject(dto, "agentName");
    sb_resp_json(req, 200, dto);
    cJSON_Delete(dto);
    cJSON_Delete(agent);
    cJSON_Delete(w);
}

void sb_widget_config(sb_req_t *req)
{
    const char *wid = sb_widget_id_param(req);
    if (!wid)
        return;
    char *origin = sb_req_alloc(req, 320);
    sb_widget_origin(req, origin);
    req->ctx = origin;
    char k_idx[SB_KEY_MAX];
    sb_key_global(k_idx, "idx", "widgets");
    const char *argv[] = {k_idx, wid, origin};
    if (sb_store_eval(sb_api_store(req), &sb_script_widget_config, 1, 3, argv, NULL, on_config, req) < 0)
        sb_api_unavailable(req);
}

/* ---------- POST /api/widget/{widgetId}/session/start ---------- */

typedef struct start_ctx {
    char origin[320];
    char token[48];
    char session_id[37];
    char conv_id[37];
    char phone[20];
    char wid[37];
} start_ctx_t;

/* What both session scripts answer: refused by the limit (429) or admitted with the new
 * session (201). */
static void session_answer(sb_req_t *req, const char *mode, bool admitted, long long count, long long reset,
                           long long expires_ms)
{
    start_ctx_t *c = req->ctx;
    if (!admitted) {
        sb_ratelimit_refuse(req, &sb_rule_session_start, count, reset,
                            "too many sessions started from this address; retry later");
        return;
    }
    sb_ratelimit_headers(req, &sb_rule_session_start, count, reset);
    char expires[32];
    sb_time_rfc3339(expires_ms, expires);
    /* The hottest public route: every member is a UUID, base64url, a literal or a time stamp,
     * so no escaping is needed and the body is put together on the stack. */
    char body[256]; /* the members are bounded by start_ctx_t's arrays: at most 192 bytes */
    char *p = stpcpy(body, "{\"sessionId\":\"");
    p = stpcpy(p, c->session_id);
    p = stpcpy(p, "\",\"token\":\"");
    p = stpcpy(p, c->token);
    p = stpcpy(p, "\",\"mode\":\"");
    p = stpcpy(p, mode);
    p = stpcpy(p, "\",\"verified\":false,\"expiresAt\":\"");
    p = stpcpy(p, expires);
    p = stpcpy(p, "\"}");
    sb_resp_send(req, 201, "application/json", body, (size_t)(p - body));
}

/* The next space-separated field of a script's answer. */
static sb_str_t answer_field(sb_str_t *s)
{
    const char *sp = memchr(s->p, ' ', s->len);
    sb_str_t f = {s->p, sp ? (size_t)(sp - s->p) : s->len};
    s->p += sp ? f.len + 1 : f.len;
    s->len -= sp ? f.len + 1 : f.len;
    return f;
}

static bool answer_number(sb_str_t *s, long long *v)
{
    sb_str_t f = answer_field(s);
    uint64_t u;
    if (sb_parse_u64(f.p, f.len, INT64_MAX, &u) < 0)
        return false;
    *v = (long long)u;
    return true;
}

/* session_start's answer (src/store/lua/session_start.lua): 'NOWIDGET' | 'ORIGIN' | 'SUSPENDED' | 'OTP' |
 * 'LIMIT <count> <reset ms>' | 'OK <count> <reset ms> <expiresAt ms> <tenant id>'. */
static void on_session_started(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    start_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    sb_str_t s = reply->type == REDIS_REPLY_STRING ? (sb_str_t){reply->str, reply->len} : SB_STR_LIT("");
    sb_str_t word = answer_field(&s);
    if (sb_widget_refused(req, word))
        return;
    sb_widget_cors(req, c->origin);
    if (sb_str_eq(word, "OTP")) {
        sb_resp_problem(req, 400, "this widget requires an OTP-verified session (mode \"otp\")", "mode");
        return;
    }
    bool ok = sb_str_eq(word, "OK");
    long long count, reset, expires = 0;
    if ((!ok && !sb_str_eq(word, "LIMIT")) || !answer_number(&s, &count) || !answer_number(&s, &reset) ||
        (ok && (!answer_number(&s, &expires) || s.len == 0))) {
        sb_api_unavailable(req);
        return;
    }
    if (ok)
        req->tenant_id = sb_req_strndup(req, s.p, s.len); /* for the log */
    session_answer(req, "anonymous", ok, count, reset, expires);
}

/* E.164: '+', a non-zero digit, 8 to 15 digits in all. */
static bool phone_valid(const char *p)
{
    size_t n = strlen(p);
    if (n < 9 || n > 16 || p[0] != '+' || p[1] < '1' || p[1] > '9')
        return false;
    for (size_t i = 2; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* A uniform 6-digit code from the CSPRNG (rejection sampling: no modulo bias). */
static void otp_code(char out[7])
{
    uint32_t r;
    do
        sb_random_bytes(&r, sizeof(r));
    while (r >= 4294000000u); /* the largest multiple of 10^6 that fits */
    snprintf(out, 7, "%06u", r % 1000000u);
}

static void otp_hash(const char *session_id, const char *code, char out[65])
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%s:%s", session_id, code);
    sb_sha256_hex(buf, (size_t)n, out);
}

static void on_otp_started(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    start_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    sb_widget_cors(req, c->origin);
    /* {'LIMIT', count, reset ms} | {'OK', count, reset ms, expiresAt ms} */
    const char *s = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3 ? reply->element[0]->str : NULL;
    bool ok = s && strcmp(s, "OK") == 0 && reply->elements == 4;
    if (!ok && !(s && strcmp(s, "LIMIT") == 0 && reply->elements == 3)) {
        sb_api_unavailable(req);
        return;
    }
    session_answer(req, "otp", ok, reply->element[1]->integer, reply->element[2]->integer,
                   ok ? reply->element[3]->integer : 0);
}

/* The widget is read first (its SMS webhook URL decides the delivery), then one script admits
 * the request, writes the session and queues the SMS. */
static void on_otp_widget(sb_store_t *st, redisReply *reply, void *data)
{
    sb_req_t *req = data;
    start_ctx_t *c = req->ctx;
    sb_str_t word;
    if (gate_answered(req, reply, &word))
        return;
    cJSON *w = sb_str_eq(word, "OK") && reply->elements == 3
                   ? cJSON_ParseWithLength(reply->element[1]->str, reply->element[1]->len)
                   : NULL;
    if (!w) {
        sb_api_unavailable(req);
        return;
    }
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "smsWebhookUrl"));
    const char *tid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "tenantId"));
    if (!url || !tid) {
        cJSON_Delete(w);
        sb_widget_cors(req, c->origin);
        sb_resp_problem(req, 409, "this widget has no SMS webhook: OTP sessions are not possible", "mode");
        return;
    }
    char code[7], hash[65], ep[17], expires[32], did[48];
    otp_code(code);
    otp_hash(c->session_id, code, hash);
    sb_endpoint_id(url, ep);
    int64_t now = sb_now_ms();
    const sb_config_t *cfg = req->loop->srv->cfg;
    sb_time_rfc3339(now + (int64_t)cfg->otp_code_ttl_s * 1000, expires);
    /* The SMS provider's payload (docs/widget.md). */
    cJSON *sms = cJSON_CreateObject();
    char text[128];
    if (cfg->otp_code_ttl_s % 60 == 0)
        snprintf(text, sizeof(text), "Your verification code is %s. It is valid for %u minute%s.", code,
                 cfg->otp_code_ttl_s / 60, cfg->otp_code_ttl_s == 60 ? "" : "s");
    else
        snprintf(text, sizeof(text), "Your verification code is %s. It is valid for %u seconds.", code,
                 cfg->otp_code_ttl_s);
    cJSON_AddStringToObject(sms, "to", c->phone);
    cJSON_AddStringToObject(sms, "message", text);
    cJSON_AddStringToObject(sms, "code", code);
    cJSON_AddStringToObject(sms, "widgetId", c->wid);
    cJSON_AddStringToObject(sms, "sessionId", c->session_id);
    cJSON_AddStringToObject(sms, "expiresAt", expires);
    char *body = cJSON_PrintUnformatted(sms);
    cJSON_Delete(sms);
    snprintf(did, sizeof(did), "sms_%s", c->session_id);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "id", did);
    cJSON_AddStringToObject(d, "t", tid);
    cJSON_AddStringToObject(d, "k", "sms");
    cJSON_AddStringToObject(d, "ev", "otp_sms");
    cJSON_AddStringToObject(d, "url", url);
    cJSON_AddStringToObject(d, "ep", ep);
    cJSON_AddStringToObject(d, "body", body);
    cJSON_AddNumberToObject(d, "to", 3000);
    cJSON_AddNumberToObject(d, "n", 0);
    cJSON_AddNumberToObject(d, "ca", (double)now);
    char *dj = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    cJSON_free(body);

    char ip[SB_CLIENT_SUBJECT_MAX], k_rl[SB_KEY_MAX], k_secret[SB_KEY_MAX], tokhash[65];
    char window[16], limit[16], ttl[16], code_ttl[16], secret[64], apikey[32];
    sb_client_subject(req, ip);
    sb_ratelimit_key(k_rl, &sb_rule_session_start, ip);
    sb_key_tenant(k_secret, tid, "whsecret");
    sb_sha256_hex(c->token, strlen(c->token), tokhash);
    sb_ratelimit_args(&sb_rule_session_start, window, limit);
    snprintf(ttl, sizeof(ttl), "%d", OTP_PENDING_TTL_MS);
    snprintf(code_ttl, sizeof(code_ttl), "%llu", (unsigned long long)cfg->otp_code_ttl_s * 1000);
    sb_webhook_secret_new(secret);
    sb_webhook_api_key_new(apikey);
    const char *argv[] = {k_rl, SB_Q_FRESH, k_secret, c->wid,   tid, window, limit,  tokhash,   c->session_id,
                          ttl,  c->phone,   hash,     code_ttl, dj,  secret, apikey, c->conv_id};
    int rc = sb_store_eval(st, &sb_script_otp_start, 3, SB_ARRAY_SIZE(argv), argv, NULL, on_otp_started, req);
    cJSON_free(dj);
    cJSON_Delete(w);
    if (rc < 0)
        sb_api_unavailable(req);
}

static void otp_start(sb_req_t *req, const char *wid)
{
    start_ctx_t *c = req->ctx;
    snprintf(c->wid, sizeof(c->wid), "%s", wid);
    sb_random_token(c->token, 32);
    sb_uuid4(c->session_id);
    sb_uuid4(c->conv_id);
    char k_idx[SB_KEY_MAX];
    sb_key_global(k_idx, "idx", "widgets");
    const char *argv[] = {k_idx, wid, c->origin};
    if (sb_store_eval(sb_api_store(req), &sb_script_widget_config, 1, 3, argv, NULL, on_otp_widget, req) < 0)
        sb_api_unavailable(req);
}

/* ---------- POST /api/widget/{widgetId}/session/otp-verify ---------- */

static void otp_problem(sb_req_t *req, int status, const char *detail, long long attempts_left)
{
    char left[40];
    snprintf(left, sizeof(left), "\"attemptsLeft\":%lld", attempts_left);
    sb_resp_problem_ex(req, status, detail, NULL, attempts_left >= 0 ? left : NULL);
}

static void on_otp_verified(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    start_ctx_t *c = req->ctx;
    sb_str_t word;
    if (gate_answered(req, reply, &word))
        return;
    sb_widget_cors(req, c->origin);
    const char *s = word.len ? reply->element[0]->str : "";
    long long v = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 ? reply->element[1]->integer : 0;
    if (strcmp(s, "OK") == 0) {
        char expires[32];
        sb_time_rfc3339(v, expires);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "sessionId", c->session_id);
        cJSON_AddBoolToObject(o, "verified", true);
        cJSON_AddStringToObject(o, "expiresAt", expires);
        sb_resp_json(req, 200, o);
        cJSON_Delete(o);
    } else if (strcmp(s, "LOCKED") == 0 && reply->elements == 3) {
        /* {'LOCKED', attempts in the window, ms until the oldest leaves it} */
        long long reset = reply->element[2]->integer;
        char ra[24];
        snprintf(ra, sizeof(ra), "%lld", reset <= 0 ? 1 : (reset + 999) / 1000);
        sb_ratelimit_headers(req, &sb_rule_otp_verify, v, reset);
        sb_resp_header(req, "Retry-After", ra);
        otp_problem(req, 429, "too many attempts: verification is locked for the rest of the 15-minute window", 0);
    } else if (strcmp(s, "WRONG") == 0) {
        sb_resp_header(req, "WWW-Authenticate", "OTP");
        otp_problem(req, 401, "wrong or already used code", v < 0 ? 0 : v);
    } else if (strcmp(s, "EXPIRED") == 0) {
        sb_resp_header(req, "WWW-Authenticate", "OTP");
        otp_problem(req, 401, "the code has expired: start a new session", v < 0 ? 0 : v);
    } else {
        otp_problem(req, 401, "unknown or expired session", -1);
    }
}

void sb_widget_otp_verify(sb_req_t *req)
{
    const char *wid = sb_widget_id_param(req);
    if (!wid)
        return;
    start_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    req->ctx = c;
    sb_widget_origin(req, c->origin);
    cJSON *body = sb_widget_body(req, wid, c->origin, false);
    if (!body)
        return;
    sb_verr_t e;
    const cJSON *sid, *code;
    if (sb_v_uuid(body, "sessionId", NULL, true, false, &sid, &e) < 0 ||
        sb_v_string(body, "code", NULL, true, 1, 16, &code, &e) < 0 ||
        ((strlen(code->valuestring) != 6 || strspn(code->valuestring, "0123456789") != 6) &&
         sb_verr_set(&e, "code", "'code' must be the 6 digits of the SMS") < 0)) {
        cJSON_Delete(body);
        sb_widget_fail_verr(req, wid, c->origin, &e);
        return;
    }
    snprintf(c->session_id, sizeof(c->session_id), "%s", sid->valuestring);
    char hash[65], ip[SB_CLIENT_SUBJECT_MAX], k_idx[SB_KEY_MAX], k_rl[SB_KEY_MAX], window[16], limit[16], ttl[16],
        attempt[37];
    otp_hash(c->session_id, code->valuestring, hash);
    cJSON_Delete(body);
    sb_client_subject(req, ip);
    sb_key_global(k_idx, "idx", "widgets");
    sb_ratelimit_key(k_rl, &sb_rule_otp_verify, ip);
    sb_ratelimit_args(&sb_rule_otp_verify, window, limit);
    snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)req->loop->srv->cfg->widget_verified_ttl_s * 1000);
    sb_uuid4(attempt);
    const char *argv[] = {k_idx, k_rl, wid, c->session_id, hash, window, limit, ttl, attempt, c->origin};
    if (sb_store_eval(sb_api_store(req), &sb_script_otp_verify, 2, SB_ARRAY_SIZE(argv), argv, NULL, on_otp_verified,
                      req) < 0)
        sb_api_unavailable(req);
}

void sb_widget_session_start(sb_req_t *req)
{
    const char *wid = sb_widget_id_param(req);
    if (!wid)
        return;
    start_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    req->ctx = c;
    sb_widget_origin(req, c->origin);
    cJSON *body = sb_widget_body(req, wid, c->origin, true);
    if (!body)
        return;
    sb_verr_t e;
    const cJSON *mode;
    if (sb_v_string(body, "mode", NULL, false, 1, 16, &mode, &e) < 0 ||
        (mode && strcmp(mode->valuestring, "otp") != 0 && strcmp(mode->valuestring, "anonymous") != 0 &&
         sb_verr_set(&e, "mode", "'mode' must be \"anonymous\" or \"otp\"") < 0)) {
        cJSON_Delete(body);
        sb_widget_fail_verr(req, wid, c->origin, &e);
        return;
    }
    bool otp = mode && strcmp(mode->valuestring, "otp") == 0;
    if (otp) {
        const cJSON *phone;
        if (sb_v_string(body, "phone", NULL, true, 1, 16, &phone, &e) < 0 ||
            (!phone_valid(phone->valuestring) &&
             sb_verr_set(&e, "phone", "'phone' must be an E.164 number such as +905551234567") < 0)) {
            cJSON_Delete(body);
            sb_widget_fail_verr(req, wid, c->origin, &e);
            return;
        }
        snprintf(c->phone, sizeof(c->phone), "%s", phone->valuestring);
    }
    cJSON_Delete(body);
    if (otp) {
        otp_start(req, wid);
        return;
    }
    sb_random_token(c->token, 32);
    sb_uuid4(c->session_id);
    char ip[SB_CLIENT_SUBJECT_MAX], k_idx[SB_KEY_MAX], k_rl[SB_KEY_MAX], hash[65], window[16], limit[16], ttl[24];
    sb_client_subject(req, ip);
    sb_key_global(k_idx, "idx", "widgets");
    sb_ratelimit_key(k_rl, &sb_rule_session_start, ip);
    sb_sha256_hex(c->token, strlen(c->token), hash);
    sb_ratelimit_args(&sb_rule_session_start, window, limit);
    sb_fmt_u64((uint64_t)req->loop->srv->cfg->widget_session_ttl_s * 1000, ttl);
    sb_uuid4(c->conv_id);
    const char *argv[] = {k_idx, k_rl, wid, c->origin, window, limit, hash, c->session_id, ttl, c->conv_id};
    if (sb_store_eval(sb_api_store(req), &sb_script_session_start, 2, SB_ARRAY_SIZE(argv), argv, NULL,
                      on_session_started, req) < 0)
        sb_api_unavailable(req);
}
