/* The incoming "send" webhook (seed 002, SPEC 9; docs/incoming.md): the activation a CRM POSTs
 * to the tenant's secret URL, in the seed's envelope ({"status":"success","data":...} or
 * {"status":40X,"data":{},"message":...}); the webhook's management, send records and log
 * (tenant X-API-Key); the tenants' send credits. The activation is one script (inwh_accept):
 * the body is checked here first, and its verdict is answered only after the token, the
 * webhook's state and the URL's rate limit, as the seed's clients expect. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/channels.h"
#include "switchboard/clock.h"
#include "switchboard/conv.h"
#include "switchboard/crypto.h"
#include "switchboard/json.h"
#include "switchboard/log.h"
#include "switchboard/text.h"

#define BODY_MAX        (64 * 1024)
#define LOG_BODY_MAX    4096 /* bytes of a request body the activation log keeps */
#define FILE_NAME_MAX   240
#define FILE_URL_MAX    2048
#define CHAT_NAME_MAX   256
#define PHONE_DIGITS_MIN 8
#define PHONE_DIGITS_MAX 15
#define PER_MINUTE_MAX  1000000
#define RETENTION_MAX_H 168
#define GAP_MAX_MS      600000
#define BALANCE_MAX     1000000000.0
#define TOKEN_BYTES     24 /* 32 base64url characters */

static const char SENDER[] = "{\"type\":\"integration\",\"id\":\"incoming-webhook\"}";
static const char ID_PREFIX[] = "wa_backend:";

/* ---------- the activation ---------- */

typedef struct act {
    char verdict[320]; /* "" good, else "<status> <message>" */
    const char *kind, *to, *text, *file_url, *file_name;
    char digits[PHONE_DIGITS_MAX + 1], acct[PHONE_DIGITS_MAX + 1];
} act_t;

static int act_fail(act_t *x, int status, const char *fmt, const char *a)
{
    snprintf(x->verdict, sizeof(x->verdict), "%d ", status);
    size_t n = strlen(x->verdict);
    snprintf(x->verdict + n, sizeof(x->verdict) - n, fmt, a);
    return -EINVAL;
}

/* A string member: absent (NULL, 0), a string (0), or anything else (-EINVAL, named). */
static int member(const cJSON *o, const char *name, const char **out, act_t *x)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return act_fail(x, 400, "'%s' must be a string", name);
    *out = v->valuestring;
    return 0;
}

/* "+" and 8..15 digits, nothing between them (E.164). */
static bool phone_digits(const char *s, char out[PHONE_DIGITS_MAX + 1])
{
    size_t n = 0;
    if (*s++ != '+')
        return false;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            if (n == PHONE_DIGITS_MAX)
                return false;
            out[n++] = *s;
        } else {
            return false;
        }
    }
    out[n] = '\0';
    return n >= PHONE_DIGITS_MIN && out[0] != '0';
}

/* <digits>@s.whatsapp.net or <digits>@c.us; a group (@g.us) is refused by name. */
static int jid_digits(const char *s, act_t *x)
{
    const char *at = strchr(s, '@');
    size_t n = at ? (size_t)(at - s) : 0;
    if (at && strcmp(at, "@g.us") == 0)
        return act_fail(x, 400, "'jid' names a group (%s): the WhatsApp Cloud API sends to people only", s);
    if (!at || (strcmp(at, "@s.whatsapp.net") != 0 && strcmp(at, "@c.us") != 0) || n < PHONE_DIGITS_MIN ||
        n > PHONE_DIGITS_MAX || s[0] == '0')
        return act_fail(x, 400, "'jid' must be <digits>@s.whatsapp.net%s", "");
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return act_fail(x, 400, "'jid' must be <digits>@s.whatsapp.net%s", "");
    memcpy(x->digits, s, n);
    x->digits[n] = '\0';
    return 0;
}

static bool file_name_ok(const char *s)
{
    size_t chars = sb_utf8_chars(s, strlen(s));
    if (chars < 1 || chars > FILE_NAME_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
            return false;
    return true;
}

/* The body's members (seed 002): 0, or -EINVAL with the verdict set. */
static int act_parse(const cJSON *o, act_t *x)
{
    if (!cJSON_IsObject(o))
        return act_fail(x, 400, "the body must be a JSON object%s", "");
    const char *action, *acct;
    if (member(o, "action", &action, x) < 0 || member(o, "text", &x->text, x) < 0 ||
        member(o, "file_url", &x->file_url, x) < 0 || member(o, "file_name", &x->file_name, x) < 0 ||
        member(o, "whatsapp account phone", &acct, x) < 0)
        return -EINVAL;
    if (!action)
        return act_fail(x, 400, "'action' is required%s", "");
    if (strcmp(action, "send") != 0)
        return act_fail(x, 400, "'action' must be \"send\"%s", "");
    if (!x->text)
        return act_fail(x, 400, "'text' is required%s", "");
    if (sb_utf8_chars(x->text, strlen(x->text)) > SB_MSG_TEXT_MAX)
        return act_fail(x, 400, "'text' must be at most %s characters", "4096");
    if (x->file_url && (strlen(x->file_url) > FILE_URL_MAX || !sb_url_valid(x->file_url)))
        return act_fail(x, 400, "'file_url' must be an absolute http(s) URL%s", "");
    if (x->file_url && !x->file_name)
        return act_fail(x, 400, "'file_name' is required with 'file_url'%s", "");
    if (x->file_url && !file_name_ok(x->file_name))
        return act_fail(x, 400, "'file_name' must be 1 to 240 characters without / or \\ or control characters%s",
                        "");
    if (!x->file_url)
        x->file_name = NULL;
    if (!x->text[0] && !x->file_url)
        return act_fail(x, 400, "'text' must not be empty without 'file_url'%s", "");
    static const char *const recipients[] = {"chat_id", "jid", "phone", "chat_name"};
    int given = 0;
    for (size_t i = 0; i < SB_ARRAY_SIZE(recipients); i++) {
        const char *v;
        if (member(o, recipients[i], &v, x) < 0)
            return -EINVAL;
        if (v) {
            given++;
            x->kind = recipients[i];
            x->to = v;
        }
    }
    if (given == 0)
        return act_fail(x, 400, "one of 'chat_id', 'jid', 'phone' or 'chat_name' is required%s", "");
    if (given > 1)
        return act_fail(x, 400, "give only one of 'chat_id', 'jid', 'phone' or 'chat_name'%s", "");
    if (strcmp(x->kind, "chat_id") == 0 && !sb_uuid_valid(x->to, strlen(x->to)))
        return act_fail(x, 404, "chat not found%s", "");
    if (strcmp(x->kind, "phone") == 0) {
        if (!phone_digits(x->to, x->digits))
            return act_fail(x, 400, "'phone' must be + and 8 to 15 digits%s", "");
        x->to = x->digits;
    }
    if (strcmp(x->kind, "jid") == 0) {
        if (jid_digits(x->to, x) < 0)
            return -EINVAL;
        x->to = x->digits;
    }
    if (strcmp(x->kind, "chat_name") == 0 && (!x->to[0] || sb_utf8_chars(x->to, strlen(x->to)) > CHAT_NAME_MAX))
        return act_fail(x, 400, "'chat_name' must be 1 to 256 characters%s", "");
    if (acct && !phone_digits(acct, x->acct))
        return act_fail(x, 400, "'whatsapp account phone' must be + and 8 to 15 digits%s", "");
    return 0;
}

/* The conversation's attachment type by the file's name (what it is sent as is decided by its
 * bytes at send time). */
static const char *type_by_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    static const struct {
        const char *ext, *type;
    } t[] = {{"jpg", "image"}, {"jpeg", "image"}, {"png", "image"}, {"mp4", "video"}, {"3gp", "video"},
             {"aac", "audio"}, {"amr", "audio"},  {"mp3", "audio"}, {"m4a", "audio"}, {"ogg", "audio"},
             {"opus", "audio"}};
    for (size_t i = 0; dot && i < SB_ARRAY_SIZE(t); i++)
        if (sb_ascii_ieq(dot + 1, strlen(dot + 1), t[i].ext))
            return t[i].type;
    return "file";
}

static void seed_answer(sb_req_t *req, int status, const char *json, size_t len, long retry_after)
{
    if (retry_after > 0) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%ld", retry_after);
        sb_resp_header(req, "Retry-After", ra);
    }
    sb_resp_send(req, status, "application/json", json, len);
}

static void seed_unavailable(sb_req_t *req)
{
    static const char body[] = "{\"status\":503,\"data\":{},\"message\":\"storage is unavailable, retry shortly\"}";
    seed_answer(req, 503, body, sizeof(body) - 1, 0);
}

static void on_accepted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER || reply->element[1]->type != REDIS_REPLY_STRING) {
        seed_unavailable(req);
        return;
    }
    seed_answer(req, (int)reply->element[0]->integer, reply->element[1]->str, reply->element[1]->len,
                reply->element[2]->type == REDIS_REPLY_INTEGER ? (long)reply->element[2]->integer : 0);
}

void sb_incoming_activate(sb_req_t *req)
{
    const char *token = sb_req_param(req, "token");
    static const char notfound[] = "{\"status\":404,\"data\":{},\"message\":\"Webhook not found\"}";
    if (!token || strlen(token) < 16 || strlen(token) > 128) {
        seed_answer(req, 404, notfound, sizeof(notfound) - 1, 0);
        return;
    }
    char th[65];
    sb_sha256_hex(token, strlen(token), th);

    act_t x;
    memset(&x, 0, sizeof(x));
    cJSON *o = NULL;
    if (req->body.len > BODY_MAX) {
        act_fail(&x, 400, "the body must be at most 64 KiB%s", "");
    } else {
        char jerr[SB_JSON_ERR_MAX];
        o = sb_json_parse(req->body.data ? req->body.data : "", req->body.len, jerr);
        if (!o)
            act_fail(&x, 400, "the body is not valid JSON: %s", jerr);
        else
            act_parse(o, &x);
    }
    size_t blen = req->body.len < LOG_BODY_MAX ? req->body.len : LOG_BODY_MAX;
    char *excerpt = sb_req_alloc(req, blen + 1);
    sb_utf8_excerpt(req->body.data ? req->body.data : "", blen, LOG_BODY_MAX, excerpt);
    char ip[46];
    sb_client_ip(req, &req->loop->srv->cfg->trusted_proxies, ip);

    char cost[4] = "1", mid[37] = "";
    if (!x.verdict[0]) {
        sb_uuid4(mid);
        if (x.file_url && x.text[0])
            cost[0] = '2';
    }
    const char *argv[] = {SB_Q_IN,
                          th,
                          ip,
                          excerpt,
                          x.verdict,
                          x.kind ? x.kind : "",
                          x.to ? x.to : "",
                          x.acct,
                          mid,
                          cost,
                          x.text ? x.text : "",
                          x.file_url ? x.file_url : "",
                          x.file_name ? x.file_name : ""};
    int rc = sb_store_eval(sb_api_store(req), &sb_script_inwh_accept, 1, SB_ARRAY_SIZE(argv), argv, NULL,
                           on_accepted, req);
    cJSON_Delete(o);
    if (rc < 0)
        seed_unavailable(req);
}

/* ---------- the second step: the queue's item becomes the conversation's message ---------- */

static void on_stored(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_inbound_job_t *p = data;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        sb_log(SB_LOG_WARN, "incoming webhook message not stored; it stays queued", "\"entry\":\"%s\",\"error\":\"%s\"",
               p->entry, reply && reply->str ? reply->str : "no reply");
    else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 && reply->element[0]->str &&
             strcmp(reply->element[0]->str, "DROPPED") == 0 && reply->element[1]->str)
        sb_log(SB_LOG_INFO, "incoming webhook message not sent", "\"entry\":\"%s\",\"status\":\"%s\"", p->entry,
               reply->element[1]->str);
    sb_inbound_job_end(p);
}

/* What inwh_accept writes into an item and inwh_store relies on. */
static bool item_ok(const cJSON *o, const char *tid, const char *mid, const char *tx, const char *fu, const char *fn)
{
    static const char *const strings[] = {"ch", "pg", "at", "ph"}, *const numbers[] = {"cr", "ts", "xa"};
    for (size_t i = 0; i < SB_ARRAY_SIZE(strings); i++)
        if (!sb_json_str(o, strings[i]))
            return false;
    for (size_t i = 0; i < SB_ARRAY_SIZE(numbers); i++)
        if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, numbers[i])))
            return false;
    return tid && sb_uuid_valid(tid, strlen(tid)) && mid && sb_uuid_valid(mid, strlen(mid)) && tx && (!fu || fn) &&
           (tx[0] || fu) && (sb_json_str(o, "cid") || sb_json_str(o, "to"));
}

void sb_incoming_store(sb_store_t *st, const sb_config_t *cfg, const char *owner, const char *entry, const char *json,
                       size_t len, void (*done)(void *data), void *data)
{
    sb_inbound_job_t *p = sb_inbound_job_new(entry, done, data);
    cJSON *o = cJSON_ParseWithLength(json, len);
    const char *tid = sb_json_str(o, "t"), *mid = sb_json_str(o, "mid"), *tx = sb_json_str(o, "tx"),
               *fu = sb_json_str(o, "fu"), *fn = sb_json_str(o, "fn");
    int rc = 0;
    if (!item_ok(o, tid, mid, tx, fu, fn)) {
        sb_inbound_job_drop(st, p, "dropping a malformed incoming webhook queue entry");
    } else {
        sb_event_cx_t cx;
        sb_event_cx_init(&cx, cfg);
        sb_content_t c;
        sb_content_text(&c, tx[0] ? tx : NULL);
        if (fu) {
            c.attachments = cJSON_CreateArray();
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "type", type_by_name(fn));
            cJSON_AddStringToObject(a, "url", fu);
            cJSON_AddStringToObject(a, "name", fn);
            cJSON_AddItemToArray(c.attachments, a);
        }
        sb_msg_t m;
        sb_msg_init_as(&m, &cx, "out", &c, NULL, mid);
        cJSON_Delete(c.attachments);
        char cid[37];
        sb_uuid4(cid);
        const char *argv[] = {SB_Q_IN, SB_Q_IN_LEASE, cx.json, entry, owner, json, cid, SENDER, m.mtail, m.etail};
        rc = sb_store_eval(st, &sb_script_inwh_store, 2, SB_ARRAY_SIZE(argv), argv, NULL, on_stored, p);
        sb_msg_free(&m);
        sb_event_cx_free(&cx);
    }
    cJSON_Delete(o);
    if (rc < 0)
        sb_inbound_job_end(p);
}

/* ---------- management (tenant X-API-Key) ---------- */

/* The script's state with the URL in front and the accounts as an array. */
static void state_answer(sb_req_t *req, const char *json, size_t len, bool purge_counts)
{
    cJSON *in = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        sb_api_unavailable(req);
        return;
    }
    cJSON *out = cJSON_CreateObject();
    if (purge_counts) {
        cJSON_AddItemToObject(out, "purged", cJSON_DetachItemFromObject(in, "purged"));
        cJSON_AddItemToObject(out, "refunded", cJSON_DetachItemFromObject(in, "refunded"));
    } else {
        char base[2048], url[2400];
        sb_api_public_base(req, base, sizeof(base));
        const char *token = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "token"));
        snprintf(url, sizeof(url), "%s/api/incoming/%s", base, token ? token : "");
        cJSON_AddStringToObject(out, "url", url);
        static const char *const order[] = {"token",          "enabled", "createdAt", "updatedAt", "rateLimit",
                                            "retentionHours", "pacing"};
        for (size_t i = 0; i < SB_ARRAY_SIZE(order); i++) {
            cJSON *v = cJSON_DetachItemFromObject(in, order[i]);
            cJSON_AddItemToObject(out, order[i], v ? v : cJSON_CreateNull());
        }
        cJSON *acc = cJSON_DetachItemFromObject(in, "accounts"); /* Lua's empty table is {} */
        if (!cJSON_IsArray(acc)) {
            cJSON_Delete(acc);
            acc = cJSON_CreateArray();
        }
        cJSON_AddItemToObject(out, "accounts", acc);
    }
    cJSON_Delete(in);
    sb_resp_json(req, 200, out);
    cJSON_Delete(out);
}

static void on_admin(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    bool purge = req->ctx != NULL;
    if (sb_api_reply_failed(req, reply))
        return;
    const char *s = reply->type == REDIS_REPLY_ARRAY && reply->elements ? reply->element[0]->str : NULL;
    const char *arg = reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 ? reply->element[1]->str : NULL;
    if (!s || !arg) {
        if (s && strcmp(s, "NOTENANT") == 0)
            sb_resp_problem(req, 404, "no such tenant", NULL);
        else
            sb_api_unavailable(req);
    } else if (strcmp(s, "OK") == 0) {
        state_answer(req, arg, reply->element[1]->len, purge);
    } else if (strcmp(s, "NOACCOUNT") == 0) {
        char f[96], d[240];
        snprintf(f, sizeof(f), purge ? "channelId" : "accounts.%.60s", arg);
        snprintf(d, sizeof(d), "'%s': %.60s is not a WhatsApp channel of this tenant", f, arg);
        sb_resp_problem(req, 400, d, f);
    } else if (strcmp(s, "BADGAP") == 0) {
        char d[200];
        snprintf(d, sizeof(d), "'%.80s': minGapMs must not exceed maxGapMs", arg);
        sb_resp_problem(req, 400, d, arg);
    } else {
        sb_api_unavailable(req);
    }
}

static void admin_eval(sb_req_t *req, const char *mode, const char *settings)
{
    char token[48], th[65];
    sb_random_token(token, TOKEN_BYTES);
    sb_sha256_hex(token, strlen(token), th);
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, req->loop->srv->cfg);
    const char *argv[] = {req->tenant_id, mode, token, th, cx.json, settings ? settings : "{}"};
    int rc = sb_store_eval(sb_api_store(req), &sb_script_inwh_admin, 0, SB_ARRAY_SIZE(argv), argv, NULL, on_admin,
                           req);
    sb_event_cx_free(&cx);
    if (rc < 0)
        sb_api_unavailable(req);
}

void sb_incoming_get(sb_req_t *req)
{
    req->ctx = NULL;
    admin_eval(req, "get", NULL);
}

void sb_incoming_regenerate(sb_req_t *req)
{
    req->ctx = NULL;
    admin_eval(req, "regen", NULL);
}

/* An integer member in [lo, hi]: 0 absent, 1 with *out, -EINVAL named. */
static int int_member(const cJSON *o, const char *name, const char *path, double lo, double hi, double *out,
                      sb_verr_t *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v)
        return 0;
    char f[128];
    snprintf(f, sizeof(f), "%s%s", path, name);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble || v->valuedouble < lo ||
        v->valuedouble > hi)
        return sb_verr_set(e, f, "'%s' must be an integer from %.0f to %.0f", f, lo, hi);
    *out = v->valuedouble;
    return 1;
}

/* A window {minGapMs?, maxGapMs?} (both required for the default's) into out as gmin/gmax or
 * minGapMs/maxGapMs. */
static int window(const cJSON *w, const char *path, bool both, cJSON *out, const char *kmin, const char *kmax,
                  sb_verr_t *e)
{
    static const char *const allowed[] = {"minGapMs", "maxGapMs", NULL};
    static const char *const allowed_acct[] = {"minGapMs", "maxGapMs", "enabled", NULL};
    if (sb_v_only(w, both ? allowed : allowed_acct, path, e) < 0)
        return -EINVAL;
    double lo = 0, hi = 0;
    int a = int_member(w, "minGapMs", path, 0, GAP_MAX_MS, &lo, e);
    int b = a < 0 ? -1 : int_member(w, "maxGapMs", path, 0, GAP_MAX_MS, &hi, e);
    if (a < 0 || b < 0)
        return -EINVAL;
    if (both && (!a || !b))
        return sb_verr_set(e, path[0] ? "pacing" : "pacing", "'pacing' needs minGapMs and maxGapMs");
    if (a && b && lo > hi)
        return sb_verr_set(e, both ? "pacing" : "accounts", "'%.80s': minGapMs must not exceed maxGapMs", path);
    if (a)
        cJSON_AddNumberToObject(out, kmin, lo);
    if (b)
        cJSON_AddNumberToObject(out, kmax, hi);
    return 0;
}

/* The PUT body as the script's settings (docs/incoming.md "Management"). */
static int settings_of(const cJSON *in, cJSON *s, sb_verr_t *e)
{
    static const char *const allowed[] = {"enabled", "purge",    "rateLimit", "retentionHours",
                                          "pacing",  "accounts", NULL};
    if (sb_v_only(in, allowed, "", e) < 0)
        return -EINVAL;
    const cJSON *b;
    if (sb_v_bool(in, "enabled", NULL, &b, e) < 0)
        return -EINVAL;
    if (b)
        cJSON_AddBoolToObject(s, "enabled", cJSON_IsTrue(b));
    if (sb_v_bool(in, "purge", NULL, &b, e) < 0)
        return -EINVAL;
    if (b)
        cJSON_AddBoolToObject(s, "purge", cJSON_IsTrue(b));
    const cJSON *rl = cJSON_GetObjectItemCaseSensitive(in, "rateLimit");
    double v = 0;
    if (rl) {
        static const char *const rl_allowed[] = {"perMinute", NULL};
        if (!cJSON_IsObject(rl))
            return sb_verr_set(e, "rateLimit", "'rateLimit' must be an object");
        if (sb_v_only(rl, rl_allowed, "rateLimit", e) < 0)
            return -EINVAL;
        int r = int_member(rl, "perMinute", "rateLimit.", 1, PER_MINUTE_MAX, &v, e);
        if (r < 0)
            return -EINVAL;
        if (r)
            cJSON_AddNumberToObject(s, "rl", v);
    }
    int r = int_member(in, "retentionHours", "", 1, RETENTION_MAX_H, &v, e);
    if (r < 0)
        return -EINVAL;
    if (r)
        cJSON_AddNumberToObject(s, "ret", v);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "pacing");
    if (p && !cJSON_IsObject(p))
        return sb_verr_set(e, "pacing", "'pacing' must be an object");
    if (p && window(p, "pacing", true, s, "gmin", "gmax", e) < 0)
        return -EINVAL;
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(in, "accounts");
    if (acc && !cJSON_IsObject(acc))
        return sb_verr_set(e, "accounts", "'accounts' must be an object of channel ids");
    cJSON *out = acc ? cJSON_AddObjectToObject(s, "accounts") : NULL;
    const cJSON *a;
    cJSON_ArrayForEach(a, acc)
    {
        char path[96];
        snprintf(path, sizeof(path), "accounts.%.60s", a->string);
        if (!sb_uuid_valid(a->string, strlen(a->string)))
            return sb_verr_set(e, path, "'%s': not a channel id", path);
        if (cJSON_IsNull(a)) {
            cJSON_AddFalseToObject(out, a->string);
            continue;
        }
        if (!cJSON_IsObject(a))
            return sb_verr_set(e, path, "'%s' must be an object or null", path);
        cJSON *one = cJSON_AddObjectToObject(out, a->string);
        char sub[100];
        snprintf(sub, sizeof(sub), "%s.", path);
        if (window(a, sub, false, one, "minGapMs", "maxGapMs", e) < 0)
            return -EINVAL;
        if (sb_v_bool(a, "enabled", sub, &b, e) < 0)
            return -EINVAL;
        if (b)
            cJSON_AddBoolToObject(one, "enabled", cJSON_IsTrue(b));
    }
    return 0;
}

void sb_incoming_update(sb_req_t *req)
{
    cJSON *in = sb_json_body(req, false);
    if (!in)
        return;
    cJSON *s = cJSON_CreateObject();
    sb_verr_t e;
    int rc = settings_of(in, s, &e);
    cJSON_Delete(in);
    if (rc < 0) {
        cJSON_Delete(s);
        sb_resp_verr(req, &e);
        return;
    }
    char *json = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    req->ctx = NULL;
    admin_eval(req, "put", json);
    cJSON_free(json);
}

void sb_incoming_purge(sb_req_t *req)
{
    cJSON *in = sb_json_body(req, true);
    if (!in)
        return;
    static const char *const allowed[] = {"channelId", NULL};
    sb_verr_t e;
    const cJSON *ch;
    if (sb_v_only(in, allowed, "", &e) < 0 || sb_v_uuid(in, "channelId", NULL, false, true, &ch, &e) < 0) {
        cJSON_Delete(in);
        sb_resp_verr(req, &e);
        return;
    }
    cJSON *s = cJSON_CreateObject();
    if (cJSON_IsString(ch))
        cJSON_AddStringToObject(s, "channelId", ch->valuestring);
    cJSON_Delete(in);
    char *json = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    req->ctx = (void *)"purge";
    admin_eval(req, "purge", json);
    cJSON_free(json);
}

/* ---------- send records and the log ---------- */

static cJSON *send_dto(const redisReply *h)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const order[] = {"messageId", "status",    "conversationId", "seq",     "to",
                                        "accountPhone", "channelId", "credits",      "createdAt", "updatedAt",
                                        "platformMessageId", "error"};
    for (size_t k = 0; k < SB_ARRAY_SIZE(order); k++) {
        bool got = false;
        for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
            const redisReply *f = h->element[i], *v = h->element[i + 1];
            if (!f->str || !v->str || strcmp(f->str, order[k]) != 0)
                continue;
            got = true;
            if (strcmp(order[k], "seq") == 0 || strcmp(order[k], "credits") == 0)
                cJSON_AddNumberToObject(o, order[k], strtod(v->str, NULL));
            else
                cJSON_AddStringToObject(o, order[k], v->str);
        }
        /* not stored yet (docs/incoming.md "The two steps"): the members are there, null */
        if (!got && k < 4 && cJSON_GetArraySize(o) > 0)
            cJSON_AddNullToObject(o, order[k]);
    }
    return o;
}

static void on_sends(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    const sb_page_t *p = req->ctx;
    sb_api_page_answer(req, reply, p->page, p->size, send_dto);
}

void sb_incoming_sends(sb_req_t *req)
{
    sb_page_t *p = sb_req_alloc(req, sizeof(*p));
    if (sb_page_params(req, &p->page, &p->size) < 0)
        return;
    req->ctx = p;
    char off[24], n[8];
    snprintf(off, sizeof(off), "%llu", (unsigned long long)(p->page - 1) * p->size);
    snprintf(n, sizeof(n), "%u", p->size);
    const char *argv[] = {req->tenant_id, off, n};
    if (sb_store_eval(sb_api_store(req), &sb_script_inwh_sends, 0, 3, argv, NULL, on_sends, req) < 0)
        sb_api_unavailable(req);
}

void sb_incoming_send_get(sb_req_t *req)
{
    const char *id = sb_req_param(req, "messageId");
    if (id && strncmp(id, ID_PREFIX, sizeof(ID_PREFIX) - 1) == 0)
        id += sizeof(ID_PREFIX) - 1;
    if (!id || !sb_uuid_valid(id, strlen(id))) {
        sb_resp_problem(req, 404, "no such send", NULL);
        return;
    }
    /* the script: a send the queue has not stored yet answers from its queue item */
    const char *argv[] = {req->tenant_id, id};
    sb_api_eval_hash(req, &sb_script_inwh_sends, 2, argv, send_dto, "no such send");
}

/* A log entry as kept: "<order> <JSON>", the order LOG_ORDER digits, the entries a sorted set
 * in the order's order (lib/incoming.lua inwh_log_entry): the JSON without the order. */
#define LOG_ORDER 18
static void log_entry(const redisReply *r, const char **json, size_t *len)
{
    *json = r->str;
    *len = r->len;
    if (r->len > LOG_ORDER && r->str[LOG_ORDER] == ' ' && strspn(r->str, "0123456789") == LOG_ORDER) {
        *json += LOG_ORDER + 1;
        *len -= LOG_ORDER + 1;
    }
}

static void on_log(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        sb_api_unavailable(req);
        return;
    }
    sb_buf_t b;
    sb_buf_init(&b, 64u * 1024 * 1024);
    sb_buf_puts(&b, "{\"items\":[");
    for (size_t i = 0, n = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING)
            continue;
        const char *json;
        size_t len;
        log_entry(reply->element[i], &json, &len);
        if (n++)
            sb_buf_putc(&b, ',');
        sb_buf_append(&b, json, len);
    }
    sb_buf_puts(&b, "]}");
    sb_resp_header(req, "Content-Disposition", "attachment; filename=\"incoming-webhook-log.json\"");
    sb_resp_send(req, 200, "application/json", b.data, b.len);
    sb_buf_free(&b);
}

void sb_incoming_log(sb_req_t *req)
{
    char k[SB_KEY_MAX];
    sb_key_tenant(k, req->tenant_id, "inwh:alog");
    const char *argv[] = {"ZRANGE", k, "0", "-1", "REV"}; /* newest first; it keeps 100 */
    if (sb_store_cmd(sb_api_store(req), on_log, req, 5, argv, NULL) < 0)
        sb_api_unavailable(req);
}

/* ---------- credits ---------- */

static void on_credits(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || reply->element[0]->type != REDIS_REPLY_STRING) {
        sb_api_unavailable(req);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (reply->element[0]->len)
        cJSON_AddNumberToObject(o, "balance", strtod(reply->element[0]->str, NULL));
    else
        cJSON_AddNullToObject(o, "balance");
    cJSON_AddNumberToObject(o, "held", (double)reply->element[1]->integer);
    cJSON_AddNumberToObject(o, "used", (double)reply->element[2]->integer);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

static void credits_eval(sb_req_t *req, const char *tid, const char *mode, const char *balance)
{
    const char *argv[] = {tid, mode, balance};
    if (sb_store_eval(sb_api_store(req), &sb_script_credits, 0, 3, argv, NULL, on_credits, req) < 0)
        sb_api_unavailable(req);
}

void sb_credits_get(sb_req_t *req)
{
    credits_eval(req, req->tenant_id, "get", "");
}

void sb_admin_credits_set(sb_req_t *req)
{
    const char *tid = sb_req_param(req, "tenantId");
    if (!tid || !sb_uuid_valid(tid, strlen(tid))) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return;
    }
    cJSON *in = sb_json_body(req, false);
    if (!in)
        return;
    static const char *const allowed[] = {"balance", NULL};
    sb_verr_t e;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(in, "balance");
    char v[24] = "";
    int rc = sb_v_only(in, allowed, "", &e);
    if (rc == 0 && !b)
        rc = sb_verr_set(&e, "balance", "'balance' is required (an integer, or null: no quota)");
    if (rc == 0 && !cJSON_IsNull(b)) {
        double n = 0;
        rc = int_member(in, "balance", "", 0, BALANCE_MAX, &n, &e) < 0 ? -EINVAL : 0;
        snprintf(v, sizeof(v), "%.0f", n);
    }
    cJSON_Delete(in);
    if (rc < 0) {
        sb_resp_verr(req, &e);
        return;
    }
    credits_eval(req, tid, "set", v);
}
