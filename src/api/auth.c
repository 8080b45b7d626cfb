/* Authentication middleware: the admin Bearer token, tenant API keys and partner keys. Tokens are compared
 * in constant time; API keys are looked up by their SHA-256, never stored in clear.
 * 401: no or unknown credential. 403: a known credential that may not do this. */
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/validate.h"
#include "switchboard/crypto.h"
#include "switchboard/text.h"

static bool bearer(const sb_req_t *req, sb_str_t *token)
{
    const sb_header_t *h = sb_req_header(req, "authorization");
    if (!h || h->value.len < 7 || !sb_ascii_ieq(h->value.p, 7, "bearer "))
        return false;
    token->p = h->value.p + 7;
    token->len = h->value.len - 7;
    while (token->len && *token->p == ' ') {
        token->p++;
        token->len--;
    }
    return token->len > 0;
}

void sb_auth_admin(sb_req_t *req)
{
    const char *admin = req->loop->srv->cfg->admin_token;
    if (!admin) {
        sb_resp_problem(req, 403, "the admin API is disabled: start the server with --admin-token", NULL);
        return;
    }
    sb_str_t tok;
    if (!bearer(req, &tok)) {
        sb_resp_header(req, "WWW-Authenticate", "Bearer realm=\"switchboard-admin\"");
        sb_resp_problem(req, 401, "admin Bearer token required", NULL);
        return;
    }
    /* Hash both sides so the comparison is constant-time regardless of lengths. */
    unsigned char a[32], b[32];
    sb_sha256(tok.p, tok.len, a);
    sb_sha256(admin, strlen(admin), b);
    if (!sb_ct_equal(a, 32, b, 32)) {
        sb_resp_header(req, "WWW-Authenticate", "Bearer realm=\"switchboard-admin\", error=\"invalid_token\"");
        sb_resp_problem(req, 401, "invalid admin token", NULL);
        return;
    }
    req->match.route->handler(req);
}

bool sb_api_key_parse(const char *key, size_t len, char tenant_id[37])
{
    return sb_prefixed_key_id(key, len, "sbk_", tenant_id);
}

bool sb_partner_key_parse(const char *key, size_t len, char partner_id[37])
{
    return sb_prefixed_key_id(key, len, "sbp_", partner_id);
}

static void key_unauthorized(sb_req_t *req, const char *detail)
{
    sb_resp_header(req, "WWW-Authenticate", "ApiKey header=\"X-API-Key\"");
    sb_resp_problem(req, 401, detail, NULL);
}

static void on_key(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        req->tenant_id = NULL;
        key_unauthorized(req, "unknown or revoked API key");
        return;
    }
    if (strcmp(reply->element[1]->str, "active") != 0) {
        sb_resp_problem(req, 403, "this tenant is suspended", NULL);
        return;
    }
    req->key_id = sb_req_strndup(req, reply->element[0]->str, reply->element[0]->len);
    req->match.route->handler(req);
}

void sb_auth_tenant(sb_req_t *req)
{
    const sb_header_t *h = sb_req_header(req, "x-api-key");
    char tid[37];
    if (!h) {
        key_unauthorized(req, "X-API-Key header required");
        return;
    }
    if (!sb_api_key_parse(h->value.p, h->value.len, tid)) {
        key_unauthorized(req, "unknown or revoked API key");
        return;
    }
    char hash[65], k_byhash[SB_KEY_MAX], k_tenant[SB_KEY_MAX];
    sb_sha256_hex(h->value.p, h->value.len, hash);
    sb_key_tenant(k_byhash, tid, "apikeys:byhash");
    sb_key_tenant(k_tenant, tid, "tenant");
    req->tenant_id = sb_req_strndup(req, tid, 36);
    const char *argv[3] = {k_byhash, k_tenant, hash};
    if (sb_store_eval(sb_api_store(req), &sb_script_auth_key, 2, 3, argv, NULL, on_key, req) < 0)
        sb_api_unavailable(req);
}

/* ---------- partner keys (SPEC 5.6, seed 004; docs/apichat.md) ---------- */

static void partner_unauthorized(sb_req_t *req, const char *detail)
{
    sb_resp_header(req, "WWW-Authenticate", "Bearer realm=\"switchboard-partner\"");
    sb_partner_fail(req, 401, detail, NULL);
}

/* The route's {workspace_id}, lower-case as tenant ids are: NULL when it has none, "" when it
 * is not a tenant id. */
static const char *partner_workspace(sb_req_t *req)
{
    const char *ws = sb_req_param(req, "workspace_id");
    if (!ws)
        return NULL;
    if (!sb_uuid_valid(ws, strlen(ws)))
        return "";
    char *low = sb_req_strndup(req, ws, 36);
    for (char *p = low; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p + 32);
    return low;
}

static void on_partner(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        sb_partner_fail(req, 503, "storage is unavailable, retry shortly", NULL);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        partner_unauthorized(req, "unknown or revoked partner key");
        return;
    }
    const char *ws = partner_workspace(req);
    if (reply->elements != 2 || strcmp(reply->element[0]->str, "OK") != 0 || (ws && !*ws)) {
        sb_partner_fail(req, 403, "this workspace is not one of the partner's workspaces", NULL);
        return;
    }
    if (ws && strcmp(reply->element[1]->str, "active") != 0) {
        sb_partner_fail(req, 403, "this workspace is suspended", NULL);
        return;
    }
    req->tenant_id = ws;
    req->match.route->handler(req);
}

void sb_auth_partner(sb_req_t *req)
{
    sb_str_t tok;
    char pid[37];
    if (!bearer(req, &tok)) {
        partner_unauthorized(req, "partner key required (Authorization: Bearer <key>)");
        return;
    }
    if (!sb_partner_key_parse(tok.p, tok.len, pid)) {
        partner_unauthorized(req, "unknown or revoked partner key");
        return;
    }
    const char *ws = partner_workspace(req);
    bool one = ws && *ws; /* a workspace to check */
    char hash[65], k_partner[SB_KEY_MAX], k_index[SB_KEY_MAX], k_tenant[SB_KEY_MAX];
    sb_sha256_hex(tok.p, tok.len, hash);
    sb_key_global(k_partner, "partner", pid);
    sb_key_global(k_index, "idx", "partnerkeys");
    if (one)
        sb_key_tenant(k_tenant, ws, "tenant");
    req->key_id = sb_req_strndup(req, pid, 36);
    const char *argv[6] = {k_partner, k_index};
    int nkeys = 2, argc;
    if (one)
        argv[nkeys++] = k_tenant;
    argc = nkeys;
    argv[argc++] = hash;
    argv[argc++] = pid;
    argv[argc++] = one ? ws : "";
    if (sb_store_eval(sb_api_store(req), &sb_script_partner_auth, nkeys, argc, argv, NULL, on_partner, req) < 0)
        sb_partner_fail(req, 503, "storage is unavailable, retry shortly", NULL);
}
