/* Admin API: tenants and their API keys (SPEC 3). Keys are shown once, stored as SHA-256. */
#include <stdio.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/clock.h"
#include "switchboard/crypto.h"
#include "switchboard/text.h"

static const char *const tenant_fields[] = {"id", "name", "status", "createdAt", "updatedAt"};

/* The tenant id path parameter, or NULL after answering 404 (a malformed id names nothing). */
static const char *tenant_param(sb_req_t *req)
{
    const char *tid = sb_req_param(req, "tenantId");
    if (!tid || !sb_uuid_valid(tid, strlen(tid))) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return NULL;
    }
    return tid;
}

static cJSON *tenant_from_fields(const redisReply *r)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < SB_ARRAY_SIZE(tenant_fields) && i < r->elements; i++)
        cJSON_AddStringToObject(o, tenant_fields[i], r->element[i]->str ? r->element[i]->str : "");
    return o;
}

/* A new API key "sbk_<tenant>_<32 random bytes>" with its stored record. */
typedef struct new_key {
    char id[37];
    char key[SB_PREFIXED_KEY_SIZE];
    char hash[65];
    char *record; /* JSON, cJSON-allocated */
    char created[32];
    const char *name; /* borrowed: outlives the key (a literal or the request arena) */
} new_key_t;

static void new_key_make(new_key_t *k, const char *tid, const char *name)
{
    k->name = name;
    sb_uuid4(k->id);
    sb_prefixed_key_new("sbk_", tid, k->key, k->hash);
    sb_now_rfc3339(k->created);
    /* The key's visible beginning, so an operator can tell keys apart in a list. */
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%.45s", k->key);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", k->id);
    cJSON_AddStringToObject(r, "name", name);
    cJSON_AddStringToObject(r, "createdAt", k->created);
    cJSON_AddStringToObject(r, "prefix", prefix);
    cJSON_AddStringToObject(r, "hash", k->hash);
    k->record = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
}

/* ---------- POST /api/admin/tenants ---------- */

typedef struct create_ctx {
    char id[37];
    char *name;
    char secret[48];
    new_key_t key;
} create_ctx_t;

static void on_tenant_created(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    create_ctx_t *c = req->ctx;
    cJSON_free(c->key.record);
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_STRING) {
        sb_api_unavailable(req);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddStringToObject(o, "status", "active");
    cJSON_AddStringToObject(o, "apiKey", c->key.key);
    cJSON_AddStringToObject(o, "apiKeyId", c->key.id);
    cJSON_AddStringToObject(o, "apiSecret", c->secret);
    cJSON_AddStringToObject(o, "createdAt", c->key.created);
    cJSON_AddStringToObject(o, "updatedAt", c->key.created);
    char loc[80];
    snprintf(loc, sizeof(loc), "/api/admin/tenants/%s", c->id);
    sb_resp_header(req, "Location", loc);
    sb_resp_json(req, 201, o);
    cJSON_Delete(o);
}

void sb_admin_tenant_create(sb_req_t *req)
{
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    sb_verr_t e;
    const cJSON *name;
    if (sb_v_string(body, "name", NULL, true, 1, 200, &name, &e) < 0) {
        cJSON_Delete(body);
        sb_resp_verr(req, &e);
        return;
    }
    create_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    req->ctx = c;
    sb_uuid4(c->id);
    c->name = sb_req_strndup(req, name->valuestring, strlen(name->valuestring));
    cJSON_Delete(body);
    sb_random_token(c->secret, 32);
    new_key_make(&c->key, c->id, "default");

    char k_tenant[SB_KEY_MAX], k_index[SB_KEY_MAX], k_keys[SB_KEY_MAX], k_byhash[SB_KEY_MAX], k_seq[SB_KEY_MAX];
    sb_key_tenant(k_tenant, c->id, "tenant");
    sb_key_global(k_index, "tenants", NULL);
    sb_key_tenant(k_keys, c->id, "apikeys");
    sb_key_tenant(k_byhash, c->id, "apikeys:byhash");
    sb_key_global(k_seq, "tenants", "seq");
    const char *argv[] = {k_tenant, k_index,        k_keys,    k_byhash,  k_seq,         c->id,
                          c->name,  c->key.created, c->secret, c->key.id, c->key.record, c->key.hash};
    if (sb_store_eval(sb_api_store(req), &sb_script_tenant_create, 5, SB_ARRAY_SIZE(argv), argv, NULL,
                      on_tenant_created, req) < 0) {
        cJSON_free(c->key.record);
        sb_api_unavailable(req);
    }
}

/* ---------- GET /api/admin/tenants ---------- */

static void on_tenant_list(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    sb_page_t *p = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        sb_api_unavailable(req);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 1; i < reply->elements; i++) {
        const redisReply *r = reply->element[i];
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 5 && r->element[0]->str)
            cJSON_AddItemToArray(items, tenant_from_fields(r));
    }
    cJSON *o = sb_page_envelope(items, p->page, p->size, (unsigned long)reply->element[0]->integer);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_admin_tenant_list(sb_req_t *req)
{
    sb_page_t *p = sb_req_alloc(req, sizeof(*p));
    req->ctx = p;
    if (sb_page_params(req, &p->page, &p->size) < 0)
        return;
    char k_index[SB_KEY_MAX], off[24], cnt[24], k_pre[16], k_suf[SB_KEY_MAX];
    sb_key_global(k_index, "tenants", NULL);
    sb_key_tenant_affixes("tenant", k_pre, k_suf);
    snprintf(off, sizeof(off), "%lu", (unsigned long)(p->page - 1) * p->size);
    snprintf(cnt, sizeof(cnt), "%u", p->size);
    const char *argv[] = {k_index, off, cnt, k_pre, k_suf};
    if (sb_store_eval(sb_api_store(req), &sb_script_tenant_list, 1, SB_ARRAY_SIZE(argv), argv, NULL, on_tenant_list,
                      req) < 0)
        sb_api_unavailable(req);
}

/* ---------- GET / PUT / DELETE /api/admin/tenants/{tenantId} ---------- */

static void on_tenant_fields(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 5 || reply->element[0]->type != REDIS_REPLY_STRING) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return;
    }
    cJSON *o = tenant_from_fields(reply);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_admin_tenant_get(sb_req_t *req)
{
    const char *tid = tenant_param(req);
    if (!tid)
        return;
    char key[SB_KEY_MAX];
    sb_key_tenant(key, tid, "tenant");
    const char *argv[] = {"HMGET", key, "id", "name", "status", "createdAt", "updatedAt"};
    if (sb_store_cmd(sb_api_store(req), on_tenant_fields, req, SB_ARRAY_SIZE(argv), argv, NULL) < 0)
        sb_api_unavailable(req);
}

void sb_admin_tenant_update(sb_req_t *req)
{
    const char *tid = tenant_param(req);
    if (!tid)
        return;
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    sb_verr_t e;
    const cJSON *name, *status;
    if (sb_v_string(body, "name", NULL, false, 1, 200, &name, &e) < 0 ||
        sb_v_string(body, "status", NULL, false, 1, 20, &status, &e) < 0 ||
        (status && strcmp(status->valuestring, "active") != 0 && strcmp(status->valuestring, "suspended") != 0 &&
         sb_verr_set(&e, "status", "'status' must be \"active\" or \"suspended\"") < 0)) {
        cJSON_Delete(body);
        sb_resp_verr(req, &e);
        return;
    }
    char key[SB_KEY_MAX], now[32];
    sb_key_tenant(key, tid, "tenant");
    sb_now_rfc3339(now);
    const char *argv[] = {key, name ? name->valuestring : "", status ? status->valuestring : "", now};
    int rc = sb_store_eval(sb_api_store(req), &sb_script_tenant_update, 1, SB_ARRAY_SIZE(argv), argv, NULL,
                           on_tenant_fields, req);
    cJSON_Delete(body);
    if (rc < 0)
        sb_api_unavailable(req);
}

void sb_admin_tenant_delete(sb_req_t *req)
{
    const char *tid = tenant_param(req);
    if (!tid)
        return;
    char k[15][SB_KEY_MAX];
    sb_key_tenant(k[0], tid, "tenant");
    sb_key_global(k[1], "tenants", NULL);
    sb_key_tenant(k[2], tid, "apikeys");
    sb_key_tenant(k[3], tid, "apikeys:byhash");
    sb_key_tenant(k[4], tid, "widgets");
    sb_key_tenant(k[5], tid, "agents");
    sb_key_tenant(k[6], tid, "channels");
    sb_key_global(k[7], "idx", "widgets");
    sb_key_global(k[8], "idx", "channels");
    sb_key_tenant(k[9], tid, "subs");
    sb_key_tenant(k[10], tid, "whsecret");
    sb_key_tenant(k[11], tid, "dead");
    sb_key_tenant(k[12], tid, "dead:idx");
    sb_key_global(k[13], "q", "dead");
    sb_key_global(k[14], "purge", NULL);
    char ep_prefix[SB_KEY_MAX];
    sb_key_tenant(ep_prefix, tid, "ep:");
    const char *argv[] = {k[0], k[1],  k[2],  k[3],  k[4],  k[5],  k[6], k[7],     k[8],
                          k[9], k[10], k[11], k[12], k[13], k[14], tid,  ep_prefix};
    sb_api_eval_delete(req, &sb_script_tenant_delete, 15, SB_ARRAY_SIZE(argv), argv, "no such tenant");
}

/* ---------- API keys ---------- */

static void on_key_created(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    new_key_t *k = req->ctx;
    cJSON_free(k->record);
    if (sb_api_reply_failed(req, reply))
        return;
    if (!reply->str || strcmp(reply->str, "OK") != 0) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return;
    }
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "id", k->id);
    cJSON_AddStringToObject(rec, "key", k->key);
    cJSON_AddStringToObject(rec, "name", k->name);
    cJSON_AddStringToObject(rec, "createdAt", k->created);
    sb_resp_json(req, 201, rec);
    cJSON_Delete(rec);
}

void sb_admin_key_create(sb_req_t *req)
{
    const char *tid = tenant_param(req);
    if (!tid)
        return;
    cJSON *body = sb_json_body(req, true);
    if (!body)
        return;
    sb_verr_t e;
    const cJSON *name;
    if (sb_v_string(body, "name", NULL, false, 1, 200, &name, &e) < 0) {
        cJSON_Delete(body);
        sb_resp_verr(req, &e);
        return;
    }
    const char *kname = name ? sb_req_strndup(req, name->valuestring, strlen(name->valuestring)) : "";
    cJSON_Delete(body);
    new_key_t *k = sb_req_alloc(req, sizeof(*k));
    req->ctx = k;
    new_key_make(k, tid, kname);
    char k_tenant[SB_KEY_MAX], k_keys[SB_KEY_MAX], k_byhash[SB_KEY_MAX];
    sb_key_tenant(k_tenant, tid, "tenant");
    sb_key_tenant(k_keys, tid, "apikeys");
    sb_key_tenant(k_byhash, tid, "apikeys:byhash");
    const char *argv[] = {k_tenant, k_keys, k_byhash, k->id, k->record, k->hash};
    if (sb_store_eval(sb_api_store(req), &sb_script_key_create, 3, SB_ARRAY_SIZE(argv), argv, NULL, on_key_created,
                      req) < 0) {
        cJSON_free(k->record);
        sb_api_unavailable(req);
    }
}

static void on_key_list(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    sb_page_t *p = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return;
    }
    cJSON *all = cJSON_CreateArray();
    for (size_t i = 0; i < reply->elements; i++) {
        cJSON *rec = cJSON_ParseWithLength(reply->element[i]->str, reply->element[i]->len);
        if (!rec)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(rec, "hash");
        cJSON_AddItemToArray(all, rec);
    }
    cJSON *o = sb_page_slice(all, p->page, p->size);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_admin_key_list(sb_req_t *req)
{
    const char *tid = tenant_param(req);
    if (!tid)
        return;
    sb_page_t *p = sb_req_alloc(req, sizeof(*p));
    req->ctx = p;
    if (sb_page_params(req, &p->page, &p->size) < 0)
        return;
    char k_tenant[SB_KEY_MAX], k_keys[SB_KEY_MAX];
    sb_key_tenant(k_tenant, tid, "tenant");
    sb_key_tenant(k_keys, tid, "apikeys");
    const char *argv[] = {k_tenant, k_keys};
    if (sb_store_eval(sb_api_store(req), &sb_script_entity_list, 2, 2, argv, NULL, on_key_list, req) < 0)
        sb_api_unavailable(req);
}

static void on_key_revoked(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->str && strcmp(reply->str, "OK") == 0)
        sb_resp_no_content(req);
    else if (reply->str && strcmp(reply->str, "NOTENANT") == 0)
        sb_resp_problem(req, 404, "no such tenant", NULL);
    else
        sb_resp_problem(req, 404, "no such API key", NULL);
}

void sb_admin_key_revoke(sb_req_t *req)
{
    const char *tid = tenant_param(req);
    if (!tid)
        return;
    const char *kid = sb_req_param(req, "keyId");
    if (!kid || !sb_uuid_valid(kid, strlen(kid))) {
        sb_resp_problem(req, 404, "no such API key", NULL);
        return;
    }
    char k_tenant[SB_KEY_MAX], k_keys[SB_KEY_MAX], k_byhash[SB_KEY_MAX];
    sb_key_tenant(k_tenant, tid, "tenant");
    sb_key_tenant(k_keys, tid, "apikeys");
    sb_key_tenant(k_byhash, tid, "apikeys:byhash");
    const char *argv[] = {k_tenant, k_keys, k_byhash, kid};
    if (sb_store_eval(sb_api_store(req), &sb_script_key_revoke, 3, SB_ARRAY_SIZE(argv), argv, NULL, on_key_revoked,
                      req) < 0)
        sb_api_unavailable(req);
}
