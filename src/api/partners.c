/* API chat partner API (SPEC 5.6, seed 004; docs/apichat.md): partner keys on the admin API
 * (native: problem+json), and a workspace's API chat webhook on the partner API (the seed's
 * envelope {"status":"ok","data":{...}} / {"status":"error","message"}): GET shows it, POST
 * verifies the URL with the seed's hub_* form call (3 s) and only then saves it, DELETE removes
 * it and its bot code. Partner keys are made and checked like tenant API keys: 32 random bytes,
 * only their SHA-256 stored, looked up by that hash (sb_auth_partner, auth.c). */
#include <stdio.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/client.h"
#include "switchboard/clock.h"
#include "switchboard/crypto.h"
#include "switchboard/text.h"

#define PARTNER_MAX_TENANTS 1000
#define PARTNER_NAME_CHARS  200
#define WEBHOOK_KEY_CHARS   256
#define VERIFY_TIMEOUT_MS   3000
#define BOT_CODE_BYTES      24 /* 192 bits, 32 base64url characters */

/* ========== admin: partner keys (problem+json) ========== */

/* A partner body, validated: name (NULL: absent) and tenant ids (lower-case; n -1: absent). */
typedef struct partner_in {
    const char *name;
    const char **tenants;
    int n;
} partner_in_t;

static int partner_body(sb_req_t *req, const cJSON *body, bool create, partner_in_t *in, sb_verr_t *e)
{
    static const char *const allowed[] = {"name", "tenantIds", NULL};
    const cJSON *v;
    in->name = NULL;
    in->tenants = NULL;
    in->n = -1;
    if (sb_v_only(body, allowed, NULL, e) < 0)
        return -EINVAL;
    if (sb_v_string(body, "name", NULL, create, 1, 4 * PARTNER_NAME_CHARS, &v, e) < 0)
        return -EINVAL;
    if (v && sb_utf8_chars(v->valuestring, strlen(v->valuestring)) > PARTNER_NAME_CHARS)
        return sb_verr_set(e, "name", "'name' is longer than %d characters", PARTNER_NAME_CHARS);
    if (v)
        in->name = sb_req_strndup(req, v->valuestring, strlen(v->valuestring));
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(body, "tenantIds");
    if (!ids)
        return create ? sb_verr_set(e, "tenantIds", "'tenantIds' is required") : 0;
    if (!cJSON_IsArray(ids))
        return sb_verr_set(e, "tenantIds", "'tenantIds' must be an array of tenant ids");
    int n = cJSON_GetArraySize(ids);
    if (n == 0)
        return sb_verr_set(e, "tenantIds", "'tenantIds' must not be empty");
    if (n > PARTNER_MAX_TENANTS)
        return sb_verr_set(e, "tenantIds", "'tenantIds' holds at most %d tenant ids", PARTNER_MAX_TENANTS);
    in->tenants = sb_req_alloc(req, (size_t)n * sizeof(*in->tenants));
    int i = 0;
    cJSON_ArrayForEach(v, ids)
    {
        char field[32];
        snprintf(field, sizeof(field), "tenantIds[%d]", i);
        if (!cJSON_IsString(v) || !sb_uuid_valid(v->valuestring, strlen(v->valuestring)))
            return sb_verr_set(e, field, "'%s' must be a tenant id (a UUID string)", field);
        char *low = sb_req_strndup(req, v->valuestring, 36);
        for (char *p = low; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p + 32);
        /* at most 1000 ids of 36 bytes: the quadratic search stays under a millisecond */
        for (int j = 0; j < i; j++)
            if (memcmp(in->tenants[j], low, 36) == 0)
                return sb_verr_set(e, field, "'%s' repeats tenantIds[%d]", field, j);
        in->tenants[i++] = low;
    }
    in->n = n;
    return 0;
}

/* {id, name, tenantIds, createdAt, updatedAt} from partner_view's {id, name, createdAt,
 * updatedAt, tenant id, ...} (src/store/lua/lib/partner.lua); NULL when r is not one. */
static cJSON *partner_json(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 4)
        return NULL;
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->element[0]->str);
    cJSON_AddStringToObject(o, "name", r->element[1]->str);
    cJSON *ids = cJSON_AddArrayToObject(o, "tenantIds");
    for (size_t i = 4; i < r->elements; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(r->element[i]->str));
    cJSON_AddStringToObject(o, "createdAt", r->element[2]->str);
    cJSON_AddStringToObject(o, "updatedAt", r->element[3]->str);
    return o;
}

/* The partner id path parameter, or NULL after answering 404. */
static const char *partner_param(sb_req_t *req)
{
    const char *pid = sb_req_param(req, "partnerId");
    if (!pid || !sb_uuid_valid(pid, strlen(pid))) {
        sb_resp_problem(req, 404, "no such partner", NULL);
        return NULL;
    }
    return pid;
}

/* 'NOTENANT <i>' of partner_create / partner_update: 400 naming tenantIds[i]; false otherwise. */
static bool unknown_tenant(sb_req_t *req, const redisReply *reply)
{
    int i;
    if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING)
        return false;
    if (sscanf(reply->str, "NOTENANT %d", &i) != 1)
        return false;
    char field[32], detail[96];
    snprintf(field, sizeof(field), "tenantIds[%d]", i);
    snprintf(detail, sizeof(detail), "'%s' names no tenant", field);
    sb_resp_problem(req, 400, detail, field);
    return true;
}

/* argv of a script that takes the tenant ids last: `fixed` leading entries, then the ids. */
static const char **argv_with_tenants(sb_req_t *req, const char *const *fixed, int nfixed, const partner_in_t *in,
                                      int *argc)
{
    int n = in->n > 0 ? in->n : 0;
    const char **argv = sb_req_alloc(req, (size_t)(nfixed + n) * sizeof(*argv));
    memcpy(argv, fixed, (size_t)nfixed * sizeof(*argv));
    for (int i = 0; i < n; i++)
        argv[nfixed + i] = in->tenants[i];
    *argc = nfixed + n;
    return argv;
}

/* ---------- POST /api/admin/partners ---------- */

typedef struct partner_new {
    char id[37];
    char key[SB_PREFIXED_KEY_SIZE];
    char created[32];
    partner_in_t in;
} partner_new_t;

static void on_partner_created(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    partner_new_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply) || unknown_tenant(req, reply))
        return;
    if (!reply->str || strcmp(reply->str, "OK") != 0) {
        sb_resp_problem(req, 409, "a partner with this id exists already, retry", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "name", c->in.name);
    cJSON *ids = cJSON_AddArrayToObject(o, "tenantIds");
    for (int i = 0; i < c->in.n; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(c->in.tenants[i]));
    cJSON_AddStringToObject(o, "key", c->key);
    cJSON_AddStringToObject(o, "createdAt", c->created);
    cJSON_AddStringToObject(o, "updatedAt", c->created);
    char loc[80];
    snprintf(loc, sizeof(loc), "/api/admin/partners/%s", c->id);
    sb_resp_header(req, "Location", loc);
    sb_resp_json(req, 201, o);
    cJSON_Delete(o);
}

void sb_admin_partner_create(sb_req_t *req)
{
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    partner_new_t *c = sb_req_alloc(req, sizeof(*c));
    req->ctx = c;
    sb_verr_t e;
    int rc = partner_body(req, body, true, &c->in, &e);
    cJSON_Delete(body);
    if (rc < 0) {
        sb_resp_verr(req, &e);
        return;
    }
    sb_uuid4(c->id);
    char hash[65];
    sb_prefixed_key_new("sbp_", c->id, c->key, hash);
    sb_now_rfc3339(c->created);
    char k_partner[SB_KEY_MAX], k_index[SB_KEY_MAX], k_seq[SB_KEY_MAX], k_keys[SB_KEY_MAX], pre[16], suf[SB_KEY_MAX];
    sb_key_global(k_partner, "partner", c->id);
    sb_key_global(k_index, "partners", NULL);
    sb_key_global(k_seq, "partners", "seq");
    sb_key_global(k_keys, "idx", "partnerkeys");
    sb_key_tenant_affixes("tenant", pre, suf);
    const char *fixed[] = {k_partner, k_index, k_seq, k_keys, c->id, c->in.name, c->created, hash, pre, suf};
    int argc;
    const char **argv = argv_with_tenants(req, fixed, SB_ARRAY_SIZE(fixed), &c->in, &argc);
    if (sb_store_eval(sb_api_store(req), &sb_script_partner_create, 4, argc, argv, NULL, on_partner_created, req) < 0)
        sb_api_unavailable(req);
}

/* ---------- GET /api/admin/partners ---------- */

static void on_partner_list(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    sb_page_t *p = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_INTEGER) {
        sb_api_unavailable(req);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 1; i < reply->elements; i++) {
        cJSON *o = partner_json(reply->element[i]);
        if (o)
            cJSON_AddItemToArray(items, o);
    }
    cJSON *o = sb_page_envelope(items, p->page, p->size, (unsigned long)reply->element[0]->integer);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_admin_partner_list(sb_req_t *req)
{
    sb_page_t *p = sb_req_alloc(req, sizeof(*p));
    req->ctx = p;
    if (sb_page_params(req, &p->page, &p->size) < 0)
        return;
    char k_index[SB_KEY_MAX], k_prefix[SB_KEY_MAX], off[24], cnt[24], pre[16], suf[SB_KEY_MAX];
    sb_key_global(k_index, "partners", NULL);
    sb_key_global(k_prefix, "partner:", NULL); /* "sb:partner:": the script appends each id */
    sb_key_tenant_affixes("tenant", pre, suf);
    snprintf(off, sizeof(off), "%lu", (unsigned long)(p->page - 1) * p->size);
    snprintf(cnt, sizeof(cnt), "%u", p->size);
    const char *argv[] = {k_index, off, cnt, k_prefix, pre, suf};
    if (sb_store_eval(sb_api_store(req), &sb_script_partner_list, 1, SB_ARRAY_SIZE(argv), argv, NULL, on_partner_list,
                      req) < 0)
        sb_api_unavailable(req);
}

/* ---------- GET / PUT / DELETE /api/admin/partners/{partnerId} ---------- */

static void on_partner_fields(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply) || unknown_tenant(req, reply))
        return;
    cJSON *o = partner_json(reply);
    if (!o) {
        sb_resp_problem(req, 404, "no such partner", NULL);
        return;
    }
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_admin_partner_get(sb_req_t *req)
{
    const char *pid = partner_param(req);
    if (!pid)
        return;
    char k_partner[SB_KEY_MAX], pre[16], suf[SB_KEY_MAX];
    sb_key_global(k_partner, "partner", pid);
    sb_key_tenant_affixes("tenant", pre, suf);
    const char *argv[] = {k_partner, pre, suf};
    if (sb_store_eval(sb_api_store(req), &sb_script_partner_get, 1, SB_ARRAY_SIZE(argv), argv, NULL, on_partner_fields,
                      req) < 0)
        sb_api_unavailable(req);
}

void sb_admin_partner_update(sb_req_t *req)
{
    const char *pid = partner_param(req);
    if (!pid)
        return;
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    partner_in_t in;
    sb_verr_t e;
    int rc = partner_body(req, body, false, &in, &e);
    cJSON_Delete(body);
    if (rc < 0) {
        sb_resp_verr(req, &e);
        return;
    }
    char k_partner[SB_KEY_MAX], now[32], pre[16], suf[SB_KEY_MAX];
    sb_key_global(k_partner, "partner", pid);
    sb_key_tenant_affixes("tenant", pre, suf);
    sb_now_rfc3339(now);
    const char *fixed[] = {k_partner, in.name ? in.name : "", now, in.n > 0 ? "1" : "0", pre, suf};
    int argc;
    const char **argv = argv_with_tenants(req, fixed, SB_ARRAY_SIZE(fixed), &in, &argc);
    if (sb_store_eval(sb_api_store(req), &sb_script_partner_update, 1, argc, argv, NULL, on_partner_fields, req) < 0)
        sb_api_unavailable(req);
}

void sb_admin_partner_delete(sb_req_t *req)
{
    const char *pid = partner_param(req);
    if (!pid)
        return;
    char k_partner[SB_KEY_MAX], k_index[SB_KEY_MAX], k_keys[SB_KEY_MAX];
    sb_key_global(k_partner, "partner", pid);
    sb_key_global(k_index, "partners", NULL);
    sb_key_global(k_keys, "idx", "partnerkeys");
    const char *argv[] = {k_partner, k_index, k_keys, pid};
    sb_api_eval_delete(req, &sb_script_partner_delete, 3, SB_ARRAY_SIZE(argv), argv, "no such partner");
}

/* ========== partner API: a workspace's API chat webhook (the seed's envelope) ========== */

void sb_partner_fail(sb_req_t *req, int status, const char *message, const char *field)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "error");
    cJSON_AddStringToObject(o, "message", message);
    if (field)
        cJSON_AddStringToObject(o, "field", field);
    if (status == 503) /* the store reconnects within about a second */
        sb_resp_header(req, "Retry-After", "1");
    sb_resp_json(req, status, o);
    cJSON_Delete(o);
}

static void partner_unavailable(sb_req_t *req)
{
    sb_partner_fail(req, 503, "storage is unavailable, retry shortly", NULL);
}

static bool partner_reply_failed(sb_req_t *req, const redisReply *reply)
{
    if (reply && reply->type != REDIS_REPLY_ERROR)
        return false;
    partner_unavailable(req);
    return true;
}

/* {"status":"ok","data":{webhook_url, webhook_verification_key, webhook_status, bot_url}}: every
 * field "" when there is no webhook (code NULL or ""). */
static void webhook_answer(sb_req_t *req, const char *url, const char *key, const char *status, const char *code)
{
    char bot[2400] = "";
    if (code && *code) {
        char base[2048];
        sb_api_public_base(req, base, sizeof(base));
        snprintf(bot, sizeof(bot), "%s/api/apichat/%s", base, code);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON *d = cJSON_AddObjectToObject(o, "data");
    cJSON_AddStringToObject(d, "webhook_url", url ? url : "");
    cJSON_AddStringToObject(d, "webhook_verification_key", key ? key : "");
    cJSON_AddStringToObject(d, "webhook_status", status ? status : "");
    cJSON_AddStringToObject(d, "bot_url", bot);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

/* ---------- GET .../apichat-webhook ---------- */

static void on_webhook(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (partner_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        partner_unavailable(req);
        return;
    }
    const char *f[4];
    for (int i = 0; i < 4; i++)
        f[i] = reply->element[i]->type == REDIS_REPLY_STRING ? reply->element[i]->str : "";
    if (!*f[3]) /* no code: no webhook */
        webhook_answer(req, "", "", "", NULL);
    else
        webhook_answer(req, f[0], f[1], f[2], f[3]);
}

void sb_partner_webhook_get(sb_req_t *req)
{
    char k_apichat[SB_KEY_MAX];
    sb_key_tenant(k_apichat, req->tenant_id, "apichat");
    const char *argv[] = {"HMGET", k_apichat, "url", "key", "status", "code"};
    if (sb_store_cmd(sb_api_store(req), on_webhook, req, SB_ARRAY_SIZE(argv), argv, NULL) < 0)
        partner_unavailable(req);
}

/* ---------- POST .../apichat-webhook ---------- */

typedef struct verify {
    char *url, *key;
    char challenge[33];
} verify_t;

/* s as an application/x-www-form-urlencoded value, appended to b. */
static void form_encode(sb_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '.' || *p == '_' || *p == '*')
            sb_buf_putc(b, (char)*p);
        else if (*p == ' ')
            sb_buf_putc(b, '+');
        else {
            sb_buf_putc(b, '%');
            sb_buf_putc(b, hex[*p >> 4]);
            sb_buf_putc(b, hex[*p & 15]);
        }
    }
}

/* The verification answer's body is the challenge, alone or with one trailing newline (LF or
 * CRLF: what echo and print add); nothing else, and nothing cut off. */
static bool challenge_answered(const sb_client_resp_t *r, const char *challenge)
{
    size_t n = strlen(challenge);
    if (r->body_total != r->body_len || r->body_len < n || memcmp(r->body, challenge, n) != 0)
        return false;
    size_t rest = r->body_len - n;
    const char *t = r->body + n;
    return rest == 0 || (rest == 1 && t[0] == '\n') || (rest == 2 && t[0] == '\r' && t[1] == '\n');
}

static void verify_failed(sb_req_t *req, const char *why)
{
    char msg[320];
    snprintf(msg, sizeof(msg), "webhook verification failed: %s", why);
    sb_partner_fail(req, 422, msg, NULL);
}

static void on_saved(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    verify_t *v = req->ctx;
    if (partner_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
        partner_unavailable(req);
        return;
    }
    if (strcmp(reply->str, "NOTENANT") == 0) { /* deleted while the URL was being verified */
        sb_partner_fail(req, 403, "this workspace is not one of the partner's workspaces", NULL);
        return;
    }
    webhook_answer(req, v->url, v->key, "verified", reply->str);
}

static void on_verified(void *data, const sb_client_resp_t *r)
{
    sb_req_t *req = data;
    verify_t *v = req->ctx;
    char why[256];
    switch (r->error) {
    case SB_CLIENT_OK: break;
    case SB_CLIENT_ERR_TIMEOUT: verify_failed(req, "no answer within 3 s"); return;
    case SB_CLIENT_ERR_BLOCKED:
        verify_failed(req, "the URL's address is not a public one (loopback, private, link-local ...)");
        return;
    case SB_CLIENT_ERR_DNS: verify_failed(req, "the URL's host name does not resolve"); return;
    case SB_CLIENT_ERR_SHUTDOWN: sb_partner_fail(req, 503, "the server is stopping, retry", NULL); return;
    case SB_CLIENT_ERR_TLS:
        snprintf(why, sizeof(why), "TLS failed (%s)", r->error_text);
        verify_failed(req, why);
        return;
    case SB_CLIENT_ERR_PROTOCOL: verify_failed(req, "the URL's answer is not valid HTTP"); return;
    case SB_CLIENT_ERR_URL: verify_failed(req, "the URL cannot be called"); return;
    default:
        snprintf(why, sizeof(why), "could not connect to the URL (%s)", r->error_text);
        verify_failed(req, why);
        return;
    }
    if (r->status < 200 || r->status > 299) {
        snprintf(why, sizeof(why), "the URL answered %d%s", r->status,
                 r->status >= 300 && r->status < 400 ? " (redirects are not followed)" : "");
        verify_failed(req, why);
        return;
    }
    if (!challenge_answered(r, v->challenge)) {
        snprintf(why, sizeof(why), "the URL answered %d, but its body is not the hub_challenge", r->status);
        verify_failed(req, why);
        return;
    }
    char code[48], now[32], k_apichat[SB_KEY_MAX], k_codes[SB_KEY_MAX], k_tenant[SB_KEY_MAX];
    sb_random_token(code, BOT_CODE_BYTES);
    sb_now_rfc3339(now);
    sb_key_tenant(k_apichat, req->tenant_id, "apichat");
    sb_key_global(k_codes, "idx", "apichat");
    sb_key_tenant(k_tenant, req->tenant_id, "tenant");
    const char *argv[] = {k_apichat, k_codes, k_tenant, v->url, v->key, code, now, req->tenant_id};
    if (sb_store_eval(sb_api_store(req), &sb_script_apichat_set, 3, SB_ARRAY_SIZE(argv), argv, NULL, on_saved, req) < 0)
        partner_unavailable(req);
}

/* {webhook_url, webhook_verification_key}; other members are ignored (the seed's clients). */
static int webhook_body(const cJSON *body, const cJSON **url, const cJSON **key, sb_verr_t *e)
{
    if (sb_v_url(body, "webhook_url", NULL, true, false, url, e) < 0)
        return -EINVAL;
    if (sb_v_string(body, "webhook_verification_key", NULL, true, 1, 4 * WEBHOOK_KEY_CHARS, key, e) < 0)
        return -EINVAL;
    if (sb_utf8_chars((*key)->valuestring, strlen((*key)->valuestring)) > WEBHOOK_KEY_CHARS)
        return sb_verr_set(e, "webhook_verification_key", "'webhook_verification_key' is longer than %d characters",
                           WEBHOOK_KEY_CHARS);
    return 0;
}

void sb_partner_webhook_set(sb_req_t *req)
{
    sb_verr_t e;
    cJSON *body = sb_json_body_parse(req, false, &e);
    if (!body) {
        sb_partner_fail(req, 400, e.detail, e.field[0] ? e.field : NULL);
        return;
    }
    const cJSON *url, *key;
    if (webhook_body(body, &url, &key, &e) < 0) {
        cJSON_Delete(body);
        sb_partner_fail(req, 400, e.detail, e.field[0] ? e.field : NULL);
        return;
    }
    verify_t *v = sb_req_alloc(req, sizeof(*v));
    req->ctx = v;
    v->url = sb_req_strndup(req, url->valuestring, strlen(url->valuestring));
    v->key = sb_req_strndup(req, key->valuestring, strlen(key->valuestring));
    cJSON_Delete(body);
    unsigned char raw[16];
    sb_random_bytes(raw, sizeof(raw));
    sb_hex_encode(raw, sizeof(raw), v->challenge);
    sb_buf_t form;
    sb_buf_init(&form, 64 * 1024);
    sb_buf_puts(&form, "hub_mode=subscribe&hub_verify_token=");
    form_encode(&form, v->key);
    sb_buf_puts(&form, "&hub_challenge=");
    sb_buf_puts(&form, v->challenge);
    sb_client_req_t cr = {.url = v->url,
                          .method = "POST",
                          .headers = "Content-Type: application/x-www-form-urlencoded\r\nAccept: text/plain, */*\r\n",
                          .body = form.data,
                          .body_len = form.len,
                          .timeout_ms = VERIFY_TIMEOUT_MS,
                          .keep_body = 256};
    sb_client_t *cl = sb_services(req)->client;
    int rc = cl ? sb_client_send(cl, &cr, on_verified, req) : -ESHUTDOWN;
    sb_buf_free(&form);
    if (rc == -EINVAL)
        verify_failed(req, "the URL cannot be called");
    else if (rc < 0)
        sb_partner_fail(req, 503, "the server is stopping, retry", NULL);
}

/* ---------- DELETE .../apichat-webhook ---------- */

static void on_webhook_deleted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (partner_reply_failed(req, reply))
        return;
    webhook_answer(req, "", "", "", NULL);
}

void sb_partner_webhook_delete(sb_req_t *req)
{
    char k_apichat[SB_KEY_MAX], k_codes[SB_KEY_MAX];
    sb_key_tenant(k_apichat, req->tenant_id, "apichat");
    sb_key_global(k_codes, "idx", "apichat");
    const char *argv[] = {k_apichat, k_codes};
    if (sb_store_eval(sb_api_store(req), &sb_script_apichat_delete, 2, SB_ARRAY_SIZE(argv), argv, NULL,
                      on_webhook_deleted, req) < 0)
        partner_unavailable(req);
}

/* ---------- for the bot_url route ---------- */

int sb_apichat_lookup(sb_store_t *st, const char *code, sb_store_cb cb, void *data)
{
    if (!code || !*code)
        return -EINVAL;
    char k_codes[SB_KEY_MAX], pre[16], suf_apichat[SB_KEY_MAX], pre2[16], suf_tenant[SB_KEY_MAX];
    sb_key_global(k_codes, "idx", "apichat");
    sb_key_tenant_affixes("apichat", pre, suf_apichat);
    sb_key_tenant_affixes("tenant", pre2, suf_tenant);
    const char *argv[] = {k_codes, code, pre, suf_apichat, suf_tenant};
    return sb_store_eval(st, &sb_script_apichat_lookup, 1, SB_ARRAY_SIZE(argv), argv, NULL, cb, data);
}
