/* Admin API: widgets, agents and channel bindings of a tenant (SPEC 3). One generic CRUD flow
 * over a per-kind descriptor: validate (and merge, for PUT) -> compare-and-set in one script.
 * Records are JSON in a tenant hash; secrets are stored but never returned after creation. */
#include <stdio.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/clock.h"
#include "switchboard/crypto.h"
#include "switchboard/delivery.h"
#include "switchboard/json.h"
#include "switchboard/platform.h"
#include "switchboard/text.h"

typedef struct kind {
    const char *noun;       /* "widget" */
    const char *collection; /* hash part: "widgets" */
    const char *index;      /* global index hash ("widgets", "channels") or NULL */
    const char *index_mode; /* entity_delete: "id", "binding" or "" */
    /* Validates `in` and merges it into rec (empty for a create). */
    int (*merge)(cJSON *rec, const cJSON *in, bool create, sb_verr_t *e);
    /* The public view (secrets removed); rec is consumed. */
    cJSON *(*view)(cJSON *rec);
} kind_t;

/* ---------- shared field helpers ---------- */

static void put(cJSON *rec, const char *field, const cJSON *v)
{
    cJSON *dup = cJSON_Duplicate(v, 1);
    if (cJSON_GetObjectItemCaseSensitive(rec, field))
        cJSON_ReplaceItemInObjectCaseSensitive(rec, field, dup);
    else
        cJSON_AddItemToObject(rec, field, dup);
}

static void put_default(cJSON *rec, const char *field, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(rec, field))
        cJSON_Delete(v);
    else
        cJSON_AddItemToObject(rec, field, v);
}

/* ---------- widgets ---------- */

static int merge_widget(cJSON *rec, const cJSON *in, bool create, sb_verr_t *e)
{
    const cJSON *v;
    if (sb_v_string(in, "name", NULL, create, 1, 200, &v, e) < 0)
        return -EINVAL;
    if (v)
        put(rec, "name", v);
    if (sb_v_string(in, "greeting", NULL, false, 0, 2000, &v, e) < 0)
        return -EINVAL;
    if (v)
        put(rec, "greeting", v);
    if (sb_v_bool(in, "otpRequired", NULL, &v, e) < 0)
        return -EINVAL;
    if (v)
        put(rec, "otpRequired", v);
    if (sb_v_url(in, "smsWebhookUrl", NULL, false, true, &v, e) < 0)
        return -EINVAL;
    if (v)
        put(rec, "smsWebhookUrl", v);
    if (sb_v_uuid(in, "agentId", NULL, false, true, &v, e) < 0)
        return -EINVAL;
    if (v)
        put(rec, "agentId", v);
    const cJSON *origins = cJSON_GetObjectItemCaseSensitive(in, "allowedOrigins");
    if (origins) {
        if (!cJSON_IsArray(origins))
            return sb_verr_set(e, "allowedOrigins", "'allowedOrigins' must be an array of origins");
        if (cJSON_GetArraySize(origins) > 100)
            return sb_verr_set(e, "allowedOrigins", "'allowedOrigins' holds at most 100 origins");
        cJSON *list = cJSON_CreateArray();
        int i = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, origins)
        {
            char field[48];
            snprintf(field, sizeof(field), "allowedOrigins[%d]", i++);
            if (!cJSON_IsString(o) || strlen(o->valuestring) > 300 || !sb_origin_valid(o->valuestring)) {
                cJSON_Delete(list);
                return sb_verr_set(e, field, "'%s' must be an origin like https://shop.example.com[:port] (no path)",
                                   field);
            }
            /* Origins compare case-insensitively in scheme and host: store them lower-case. */
            char low[301];
            size_t n = strlen(o->valuestring);
            for (size_t k = 0; k <= n; k++)
                low[k] = (char)((o->valuestring[k] >= 'A' && o->valuestring[k] <= 'Z') ? o->valuestring[k] + 32
                                                                                       : o->valuestring[k]);
            cJSON_AddItemToArray(list, cJSON_CreateString(low));
        }
        cJSON_DeleteItemFromObjectCaseSensitive(rec, "allowedOrigins");
        cJSON_AddItemToObject(rec, "allowedOrigins", list);
    }
    const cJSON *theme = cJSON_GetObjectItemCaseSensitive(in, "theme");
    if (theme) {
        if (!cJSON_IsObject(theme) && !cJSON_IsNull(theme))
            return sb_verr_set(e, "theme", "'theme' must be an object");
        char *s = cJSON_PrintUnformatted(theme);
        size_t n = s ? strlen(s) : 0;
        cJSON_free(s);
        if (n > 8192)
            return sb_verr_set(e, "theme", "'theme' is larger than 8192 bytes");
        put(rec, "theme", theme);
    }
    put_default(rec, "greeting", cJSON_CreateString(""));
    put_default(rec, "allowedOrigins", cJSON_CreateArray());
    put_default(rec, "otpRequired", cJSON_CreateFalse());
    put_default(rec, "smsWebhookUrl", cJSON_CreateNull());
    put_default(rec, "agentId", cJSON_CreateNull());
    put_default(rec, "theme", cJSON_CreateObject());
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "otpRequired")) && !sb_json_str(rec, "smsWebhookUrl"))
        return sb_verr_set(e, "smsWebhookUrl", "'smsWebhookUrl' is required when 'otpRequired' is true");
    return 0;
}

static cJSON *view_plain(cJSON *rec)
{
    return rec;
}

/* ---------- agents ---------- */

static int merge_agent(cJSON *rec, const cJSON *in, bool create, sb_verr_t *e)
{
    const cJSON *v;
    if (sb_v_string(in, "name", NULL, create, 1, 200, &v, e) < 0)
        return -EINVAL;
    if (v)
        put(rec, "name", v);
    if (sb_v_url(in, "webhookUrl", NULL, create, false, &v, e) < 0)
        return -EINVAL;
    if (v) {
        put(rec, "webhookUrl", v);
        char ep[17]; /* the delivery engine's endpoint of the agent (attempt log, enable/disable) */
        sb_endpoint_id(v->valuestring, ep);
        cJSON_DeleteItemFromObjectCaseSensitive(rec, "endpointId");
        cJSON_AddStringToObject(rec, "endpointId", ep);
    }
    if (sb_v_string(in, "secret", NULL, false, 16, 512, &v, e) < 0)
        return -EINVAL;
    if (v)
        put(rec, "secret", v);
    if (create && !v) {
        char secret[48];
        sb_random_token(secret, 32);
        cJSON_AddStringToObject(rec, "secret", secret);
    }
    return 0;
}

static cJSON *view_agent(cJSON *rec)
{
    bool has = sb_json_str(rec, "secret") != NULL;
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "secret");
    cJSON_AddBoolToObject(rec, "hasSecret", has);
    return rec;
}

/* ---------- channels ---------- */

/* The config schema and the index fields of each type are its platform's (platform.h). */

/* "'type' must be one of slack, teams, ..." from the table of platforms. */
static int bad_type(sb_verr_t *e)
{
    char list[256] = "";
    size_t n = 0;
    const sb_platform_t *p;
    for (size_t i = 0; (p = sb_platform_at(i)) != NULL && n < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", p->type);
    return sb_verr_set(e, "type", "'type' must be one of %s", list);
}

static int merge_channel(cJSON *rec, const cJSON *in, bool create, sb_verr_t *e)
{
    const cJSON *v;
    if (sb_v_string(in, "type", NULL, create, 1, 32, &v, e) < 0)
        return -EINVAL;
    const char *cur_type = sb_json_str(rec, "type");
    if (v) {
        if (!sb_platform_find(v->valuestring))
            return bad_type(e);
        if (cur_type && strcmp(cur_type, v->valuestring) != 0)
            return sb_verr_set(e, "type", "a channel's 'type' cannot change; create a new channel");
        put(rec, "type", v);
    }
    const sb_platform_t *p = sb_platform_find(sb_json_str(rec, "type"));
    if (!p)
        return bad_type(e);
    if (sb_v_uuid(in, "agentId", NULL, create, false, &v, e) < 0)
        return -EINVAL;
    if (v)
        put(rec, "agentId", v);
    const cJSON *cfg_in = cJSON_GetObjectItemCaseSensitive(in, "config");
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(rec, "config");
    if (!cfg) {
        cfg = cJSON_CreateObject();
        cJSON_AddItemToObject(rec, "config", cfg);
    }
    if (cfg_in || create) {
        if (!cfg_in)
            return sb_verr_set(e, "config", "'config' is required");
        if (p->config_check(cfg, cfg_in, e) < 0)
            return -EINVAL;
    }
    /* Every index field of the binding (docs/channels.md): the platform identity (also the
     * bindingKey), then what the requests that carry no identity are found by. */
    cJSON *keys = cJSON_CreateArray();
    p->binding_fields(cfg, sb_json_str(rec, "tenantId"), keys);
    const char *binding = cJSON_GetStringValue(cJSON_GetArrayItem(keys, 0));
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "bindingKey");
    if (binding)
        cJSON_AddStringToObject(rec, "bindingKey", binding);
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "bindingKeys");
    cJSON_AddItemToObject(rec, "bindingKeys", keys);
    return 0;
}

/* The index fields of a channel record, newline-separated for entity_put (NULL if none). */
static char *binding_fields(sb_req_t *req, const cJSON *rec)
{
    sb_buf_t b;
    sb_buf_init(&b, 4096);
    const cJSON *k;
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(rec, "bindingKeys"))
    {
        if (cJSON_IsString(k)) {
            if (b.len)
                sb_buf_putc(&b, '\n');
            sb_buf_puts(&b, k->valuestring);
        }
    }
    const char *one = sb_json_str(rec, "bindingKey"); /* a record written before bindingKeys */
    if (!b.len && one)
        sb_buf_puts(&b, one);
    char *out = b.len ? sb_req_strndup(req, b.data, b.len) : NULL;
    sb_buf_free(&b);
    return out;
}

static cJSON *view_channel(cJSON *rec)
{
    const sb_platform_t *p = sb_platform_find(sb_json_str(rec, "type"));
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(rec, "config");
    cJSON *set = cJSON_CreateArray();
    if (p && cfg) {
        for (const char *const *s = p->secrets; *s; s++) {
            if (cJSON_GetObjectItemCaseSensitive(cfg, *s)) {
                cJSON_AddItemToArray(set, cJSON_CreateString(*s));
                cJSON_DeleteItemFromObjectCaseSensitive(cfg, *s);
            }
        }
    }
    cJSON_AddItemToObject(rec, "secretsSet", set);
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "bindingKeys"); /* hashes of secrets among them */
    return rec;
}

static const kind_t widget_kind = {"widget", "widgets", "widgets", "id", merge_widget, view_plain};
static const kind_t agent_kind = {"agent", "agents", NULL, "", merge_agent, view_agent};
static const kind_t channel_kind = {"channel", "channels", "channels", "binding", merge_channel, view_channel};

/* ---------- generic flow ---------- */

typedef struct res_ctx {
    const kind_t *kind;
    const char *tid;
    const char *id;
    cJSON *patch; /* PUT body, kept across compare-and-set retries */
    char *stored; /* the JSON the record is built from (PUT), in the request arena */
    char *json;   /* the JSON written */
    char *secret; /* agent secret shown once at creation */
    unsigned page, size;
    int attempts;
    bool create;
} res_ctx_t;

static void not_found(sb_req_t *req, const kind_t *k)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "no such %s", k->noun);
    sb_resp_problem(req, 404, msg, NULL);
}

/* Path parameters; answers 404 and returns NULL when malformed. */
static res_ctx_t *res_ctx(sb_req_t *req, const kind_t *k, bool with_id)
{
    const char *tid = sb_req_param(req, "tenantId");
    if (!tid || !sb_uuid_valid(tid, strlen(tid))) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return NULL;
    }
    res_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->kind = k;
    c->tid = tid;
    if (with_id) {
        c->id = sb_req_param(req, "id");
        if (!c->id || !sb_uuid_valid(c->id, strlen(c->id))) {
            not_found(req, k);
            return NULL;
        }
    }
    req->ctx = c;
    return c;
}

static void ctx_cleanup(res_ctx_t *c)
{
    cJSON_Delete(c->patch);
    c->patch = NULL;
    cJSON_free(c->json);
    c->json = NULL;
}

static void res_fetch_for_update(sb_req_t *req);

static void on_put(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    res_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply)) {
        ctx_cleanup(c);
        return;
    }
    const char *r = reply->str ? reply->str : "";
    if (strcmp(r, "OK") == 0) {
        cJSON *rec = cJSON_Parse(c->json);
        cJSON *view = c->kind->view(rec);
        if (c->secret)
            cJSON_AddStringToObject(view, "secret", c->secret);
        if (c->create) {
            char loc[200];
            snprintf(loc, sizeof(loc), "/api/admin/tenants/%s/%s/%s", c->tid, c->kind->collection, c->id);
            sb_resp_header(req, "Location", loc);
        }
        sb_resp_json(req, c->create ? 201 : 200, view);
        cJSON_Delete(view);
    } else if (strcmp(r, "CHANGED") == 0 && ++c->attempts < 5) {
        /* Someone updated the record between our read and write: merge again onto the new one. */
        cJSON_free(c->json);
        c->json = NULL;
        res_fetch_for_update(req);
        return;
    } else if (strcmp(r, "NOTENANT") == 0) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
    } else if (strcmp(r, "NOTFOUND") == 0) {
        not_found(req, c->kind);
    } else if (strcmp(r, "NOREF") == 0) {
        sb_resp_problem(req, 400, "'agentId' names no agent of this tenant", "agentId");
    } else if (strcmp(r, "DUPLICATE") == 0) {
        sb_resp_problem(req, 409, "another channel already binds this platform identifier", "config");
    } else {
        sb_resp_problem(req, 409, "the record changed concurrently, retry", NULL);
    }
    ctx_cleanup(c);
}

/* A widget's entry in the widget index, which the public widget routes read instead of the
 * widget record: 'tid|otp 0/1|agent id|origin origin ...' (widget_gate in src/store/lua/lib/widget.lua). */
static void widget_gate(sb_buf_t *b, const char *tid, const cJSON *rec)
{
    const char *agent = sb_json_str(rec, "agentId");
    bool otp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "otpRequired"));
    sb_buf_printf(b, "%s|%c|%s|", tid, otp ? '1' : '0', agent ? agent : "");
    const cJSON *o;
    int n = 0;
    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(rec, "allowedOrigins"))
    {
        if (!cJSON_IsString(o))
            continue;
        if (n++)
            sb_buf_putc(b, ' ');
        sb_buf_puts(b, o->valuestring);
    }
}

/* Writes c->json (built from rec) with one entity_put call. expected: the stored JSON (PUT). */
static void res_write(sb_req_t *req, res_ctx_t *c, cJSON *rec, const char *expected, const char *old_binding)
{
    char k_tenant[SB_KEY_MAX], k_coll[SB_KEY_MAX], k_agents[SB_KEY_MAX], k_index[SB_KEY_MAX];
    sb_key_tenant(k_tenant, c->tid, "tenant");
    sb_key_tenant(k_coll, c->tid, c->kind->collection);
    sb_key_tenant(k_agents, c->tid, "agents");
    if (c->kind->index)
        sb_key_global(k_index, "idx", c->kind->index);
    else
        memcpy(k_index, k_coll, sizeof(k_index));
    const char *agent = sb_json_str(rec, "agentId");
    const char *idx_field = "", *idx_old = "";
    sb_buf_t idx_value;
    sb_buf_init(&idx_value, 64 * 1024);
    if (c->kind == &widget_kind) {
        idx_field = c->id;
        widget_gate(&idx_value, c->tid, rec);
    } else if (c->kind == &channel_kind) {
        idx_field = binding_fields(req, rec);
        idx_old = old_binding ? old_binding : "";
        sb_buf_printf(&idx_value, "%s:%s", c->tid, c->id);
    }
    const char *argv[] = {k_tenant,
                          k_coll,
                          k_agents,
                          k_index,
                          c->id,
                          c->json,
                          expected ? expected : "",
                          agent ? agent : "",
                          idx_field,
                          idx_value.data ? idx_value.data : "",
                          idx_old};
    int rc = sb_store_eval(sb_api_store(req), &sb_script_entity_put, 4, SB_ARRAY_SIZE(argv), argv, NULL, on_put, req);
    sb_buf_free(&idx_value);
    if (rc < 0) {
        ctx_cleanup(c);
        sb_api_unavailable(req);
    }
}

static void res_create(sb_req_t *req, const kind_t *k)
{
    res_ctx_t *c = res_ctx(req, k, false);
    if (!c)
        return;
    cJSON *in = sb_json_body(req, false);
    if (!in)
        return;
    char id[37], now[32];
    sb_uuid4(id);
    sb_now_rfc3339(now);
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "id", id);
    cJSON_AddStringToObject(rec, "tenantId", c->tid);
    sb_verr_t e;
    int rc = k->merge(rec, in, true, &e);
    cJSON_Delete(in);
    if (rc < 0) {
        cJSON_Delete(rec);
        sb_resp_verr(req, &e);
        return;
    }
    cJSON_AddStringToObject(rec, "createdAt", now);
    cJSON_AddStringToObject(rec, "updatedAt", now);
    c->id = sb_req_strndup(req, id, 36);
    c->create = true;
    const char *secret = k == &agent_kind ? sb_json_str(rec, "secret") : NULL;
    if (secret)
        c->secret = sb_req_strndup(req, secret, strlen(secret));
    c->json = cJSON_PrintUnformatted(rec);
    res_write(req, c, rec, NULL, NULL);
    cJSON_Delete(rec);
}

static void on_get_for_update(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    res_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply)) {
        ctx_cleanup(c);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        ctx_cleanup(c);
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return;
    }
    if (reply->len == 0) {
        ctx_cleanup(c);
        not_found(req, c->kind);
        return;
    }
    c->stored = sb_req_strndup(req, reply->str, reply->len);
    cJSON *rec = cJSON_Parse(c->stored);
    if (!rec) {
        ctx_cleanup(c);
        sb_resp_problem(req, 500, "stored record is not valid JSON", NULL);
        return;
    }
    char *old_binding = binding_fields(req, rec);
    sb_verr_t e;
    if (c->kind->merge(rec, c->patch, false, &e) < 0) {
        cJSON_Delete(rec);
        ctx_cleanup(c);
        sb_resp_verr(req, &e);
        return;
    }
    char now[32];
    sb_now_rfc3339(now);
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "updatedAt");
    cJSON_AddStringToObject(rec, "updatedAt", now);
    c->json = cJSON_PrintUnformatted(rec);
    res_write(req, c, rec, c->stored, old_binding);
    cJSON_Delete(rec);
}

static void res_fetch(sb_req_t *req, sb_store_cb cb)
{
    res_ctx_t *c = req->ctx;
    char k_tenant[SB_KEY_MAX], k_coll[SB_KEY_MAX];
    sb_key_tenant(k_tenant, c->tid, "tenant");
    sb_key_tenant(k_coll, c->tid, c->kind->collection);
    const char *argv[] = {k_tenant, k_coll, c->id};
    if (sb_store_eval(sb_api_store(req), &sb_script_entity_get, 2, 3, argv, NULL, cb, req) < 0) {
        ctx_cleanup(c);
        sb_api_unavailable(req);
    }
}

static void res_fetch_for_update(sb_req_t *req)
{
    res_fetch(req, on_get_for_update);
}

static void res_update(sb_req_t *req, const kind_t *k)
{
    res_ctx_t *c = res_ctx(req, k, true);
    if (!c)
        return;
    c->patch = sb_json_body(req, false);
    if (!c->patch)
        return;
    res_fetch_for_update(req);
}

static void on_get(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    res_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_STRING) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return;
    }
    cJSON *rec = reply->len ? cJSON_ParseWithLength(reply->str, reply->len) : NULL;
    if (!rec) {
        not_found(req, c->kind);
        return;
    }
    cJSON *view = c->kind->view(rec);
    sb_resp_json(req, 200, view);
    cJSON_Delete(view);
}

static void res_get(sb_req_t *req, const kind_t *k)
{
    if (res_ctx(req, k, true))
        res_fetch(req, on_get);
}

static void on_list(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    res_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        sb_resp_problem(req, 404, "no such tenant", NULL);
        return;
    }
    cJSON *all = cJSON_CreateArray();
    for (size_t i = 0; i < reply->elements; i++) {
        cJSON *rec = cJSON_ParseWithLength(reply->element[i]->str, reply->element[i]->len);
        if (rec)
            cJSON_AddItemToArray(all, c->kind->view(rec));
    }
    cJSON *o = sb_page_slice(all, c->page, c->size);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

static void res_list(sb_req_t *req, const kind_t *k)
{
    res_ctx_t *c = res_ctx(req, k, false);
    if (!c || sb_page_params(req, &c->page, &c->size) < 0)
        return;
    char k_tenant[SB_KEY_MAX], k_coll[SB_KEY_MAX];
    sb_key_tenant(k_tenant, c->tid, "tenant");
    sb_key_tenant(k_coll, c->tid, k->collection);
    const char *argv[] = {k_tenant, k_coll};
    if (sb_store_eval(sb_api_store(req), &sb_script_entity_list, 2, 2, argv, NULL, on_list, req) < 0)
        sb_api_unavailable(req);
}

static void on_delete(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    res_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    const char *r = reply->str ? reply->str : "";
    if (strcmp(r, "OK") == 0)
        sb_resp_no_content(req);
    else if (strcmp(r, "NOTENANT") == 0)
        sb_resp_problem(req, 404, "no such tenant", NULL);
    else if (strcmp(r, "INUSE") == 0)
        sb_resp_problem(req, 409, "a widget or channel still routes to this agent", NULL);
    else if (strcmp(r, "PMINUSE") == 0)
        sb_resp_problem(req, 409, "proactive messages of this agent remain: delete them first", NULL);
    else
        not_found(req, c->kind);
}

static void res_delete(sb_req_t *req, const kind_t *k)
{
    res_ctx_t *c = res_ctx(req, k, true);
    if (!c)
        return;
    char k_tenant[SB_KEY_MAX], k_coll[SB_KEY_MAX], k_index[SB_KEY_MAX], k_w[SB_KEY_MAX], k_c[SB_KEY_MAX];
    sb_key_tenant(k_tenant, c->tid, "tenant");
    sb_key_tenant(k_coll, c->tid, k->collection);
    if (k->index)
        sb_key_global(k_index, "idx", k->index);
    else
        memcpy(k_index, k_coll, sizeof(k_index));
    sb_key_tenant(k_w, c->tid, "widgets");
    sb_key_tenant(k_c, c->tid, "channels");
    const char *argv[] = {k_tenant, k_coll, k_index, k_w, k_c, c->id, k->index_mode, k == &agent_kind ? c->id : ""};
    if (sb_store_eval(sb_api_store(req), &sb_script_entity_delete, 5, SB_ARRAY_SIZE(argv), argv, NULL, on_delete, req) <
        0)
        sb_api_unavailable(req);
}

/* ---------- route entry points ---------- */

#define RESOURCE_ROUTES(name, kind)                                                                                    \
    void sb_admin_##name##_create(sb_req_t *req)                                                                       \
    {                                                                                                                  \
        res_create(req, &kind);                                                                                        \
    }                                                                                                                  \
    void sb_admin_##name##_list(sb_req_t *req)                                                                         \
    {                                                                                                                  \
        res_list(req, &kind);                                                                                          \
    }                                                                                                                  \
    void sb_admin_##name##_get(sb_req_t *req)                                                                          \
    {                                                                                                                  \
        res_get(req, &kind);                                                                                           \
    }                                                                                                                  \
    void sb_admin_##name##_update(sb_req_t *req)                                                                       \
    {                                                                                                                  \
        res_update(req, &kind);                                                                                        \
    }                                                                                                                  \
    void sb_admin_##name##_delete(sb_req_t *req)                                                                       \
    {                                                                                                                  \
        res_delete(req, &kind);                                                                                        \
    }

RESOURCE_ROUTES(widget, widget_kind)
RESOURCE_ROUTES(agent, agent_kind)
RESOURCE_ROUTES(channel, channel_kind)
