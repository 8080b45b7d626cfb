/* Tenant API of the delivery engine (docs/deliveries.md): subscriptions (seed 001), the
 * webhook secret, test events, /commands, and the operations routes (endpoints, attempt logs,
 * dead letters). */
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/clock.h"
#include "switchboard/delivery.h"
#include "switchboard/text.h"

#define MAX_SUBS   100
#define MAX_EVENTS 50

/* ---------- subscriptions ---------- */

/* Validates one URL's value and returns its normalized record (or NULL with e filled). */
static cJSON *normalize_sub(const char *url, const cJSON *v, sb_verr_t *e)
{
    const cJSON *events = v;
    const char *format = "hotline";
    double timeout = 3000;
    bool paced = false, plain = true;
    if (cJSON_IsObject(v)) {
        static const char *const allowed[] = {"events", "format", "timeoutMs", "paced", NULL};
        plain = false;
        const cJSON *it;
        cJSON_ArrayForEach(it, v)
        {
            bool ok = false;
            for (const char *const *a = allowed; *a; a++)
                ok = ok || strcmp(*a, it->string) == 0;
            if (!ok) {
                sb_verr_set(e, url, "unknown option '%s' for %s", it->string, url);
                return NULL;
            }
        }
        events = cJSON_GetObjectItemCaseSensitive(v, "events");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, "format");
        if (f) {
            if (!cJSON_IsString(f) || (strcmp(f->valuestring, "hotline") && strcmp(f->valuestring, "olay"))) {
                sb_verr_set(e, url, "'format' of %s must be \"hotline\" or \"olay\"", url);
                return NULL;
            }
            format = f->valuestring;
        }
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "timeoutMs");
        if (t) {
            if (!cJSON_IsNumber(t) || t->valuedouble < 3000 || t->valuedouble > 30000 ||
                t->valuedouble != (double)(long)t->valuedouble) {
                sb_verr_set(e, url, "'timeoutMs' of %s must be an integer from 3000 to 30000", url);
                return NULL;
            }
            timeout = t->valuedouble;
        }
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(v, "paced");
        if (p) {
            if (!cJSON_IsBool(p)) {
                sb_verr_set(e, url, "'paced' of %s must be true or false", url);
                return NULL;
            }
            paced = cJSON_IsTrue(p);
        }
    }
    if (!cJSON_IsArray(events)) {
        sb_verr_set(e, url, "the value of %s must be a list of events and /commands", url);
        return NULL;
    }
    if (cJSON_GetArraySize(events) > MAX_EVENTS) {
        sb_verr_set(e, url, "%s lists more than %d events", url, MAX_EVENTS);
        return NULL;
    }
    cJSON *list = cJSON_CreateArray();
    int i = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, events)
    {
        char field[2100];
        snprintf(field, sizeof(field), "%s[%d]", url, i++);
        bool ok = cJSON_IsString(ev) && (ev->valuestring[0] == '/' ? sb_command_name_valid(ev->valuestring)
                                                                   : sb_event_known(ev->valuestring));
        if (!ok) {
            sb_verr_set(e, field, "'%s' is not a known event or a /command (lower-case letters, digits, _)",
                        cJSON_IsString(ev) ? ev->valuestring : "(not a string)");
            cJSON_Delete(list);
            return NULL;
        }
        const cJSON *seen;
        cJSON_ArrayForEach(seen, list)
        {
            if (strcmp(seen->valuestring, ev->valuestring) == 0) {
                sb_verr_set(e, field, "'%s' is listed twice", ev->valuestring);
                cJSON_Delete(list);
                return NULL;
            }
        }
        cJSON_AddItemToArray(list, cJSON_CreateString(ev->valuestring));
    }
    char ep[17];
    sb_endpoint_id(url, ep);
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddItemToObject(rec, "events", list);
    cJSON_AddStringToObject(rec, "format", format);
    cJSON_AddNumberToObject(rec, "timeoutMs", timeout);
    cJSON_AddBoolToObject(rec, "paced", paced);
    cJSON_AddBoolToObject(rec, "plain", plain);
    cJSON_AddStringToObject(rec, "ep", ep);
    return rec;
}

/* The stored form back into the seed's shape. */
static cJSON *render_subs(const char *stored, size_t len)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *subs = stored ? cJSON_ParseWithLength(stored, len) : NULL;
    const cJSON *s;
    cJSON_ArrayForEach(s, subs)
    {
        cJSON *events = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(s, "events"), 1);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "plain"))) {
            cJSON_AddItemToObject(out, s->string, events);
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "events", events);
        cJSON_AddItemToObject(o, "format", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(s, "format"), 1));
        cJSON_AddItemToObject(o, "timeoutMs", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(s, "timeoutMs"), 1));
        cJSON_AddItemToObject(o, "paced", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(s, "paced"), 1));
        cJSON_AddItemToObject(out, s->string, o);
    }
    cJSON_Delete(subs);
    return out;
}

static void on_subs_get(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    cJSON *o = render_subs(reply->type == REDIS_REPLY_STRING ? reply->str : NULL, reply->len);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_webhooks_subs_get(sb_req_t *req)
{
    char k[SB_KEY_MAX];
    sb_key_tenant(k, req->tenant_id, "subs");
    const char *argv[] = {"GET", k};
    if (sb_store_cmd(sb_api_store(req), on_subs_get, req, 2, argv, NULL) < 0)
        sb_api_unavailable(req);
}

static void on_subs_put(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    char *stored = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    cJSON *o = render_subs(stored, strlen(stored));
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_webhooks_subs_put(sb_req_t *req)
{
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    sb_verr_t e;
    if (cJSON_GetArraySize(body) > MAX_SUBS) {
        cJSON_Delete(body);
        sb_resp_problem(req, 400, "at most 100 subscriber URLs", NULL);
        return;
    }
    cJSON *norm = cJSON_CreateObject();
    const cJSON *it;
    cJSON_ArrayForEach(it, body)
    {
        if (strlen(it->string) > 2048 || !sb_url_valid(it->string)) {
            sb_verr_set(&e, it->string, "'%s' is not an absolute http:// or https:// URL", it->string);
            goto bad;
        }
        cJSON *rec = normalize_sub(it->string, it, &e);
        if (!rec)
            goto bad;
        cJSON_AddItemToObject(norm, it->string, rec);
    }
    cJSON_Delete(body);
    char *json = cJSON_PrintUnformatted(norm);
    cJSON_Delete(norm);
    req->ctx = sb_req_strndup(req, json, strlen(json));
    cJSON_free(json);
    char k_subs[SB_KEY_MAX], k_secret[SB_KEY_MAX], prefix[SB_KEY_MAX], secret[64], key[32];
    sb_key_tenant(k_subs, req->tenant_id, "subs");
    sb_key_tenant(k_secret, req->tenant_id, "whsecret");
    sb_key_tenant(prefix, req->tenant_id, "ep:");
    sb_webhook_secret_new(secret);
    sb_webhook_api_key_new(key);
    const char *argv[] = {k_subs, k_secret, req->ctx, secret, key, prefix};
    if (sb_store_eval(sb_api_store(req), &sb_script_subs_put, 2, 6, argv, NULL, on_subs_put, req) < 0)
        sb_api_unavailable(req);
    return;
bad:
    cJSON_Delete(body);
    cJSON_Delete(norm);
    sb_resp_verr(req, &e);
}

/* ---------- secret ---------- */

static void on_secret(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        sb_api_unavailable(req);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "secret", reply->element[0]->str ? reply->element[0]->str : "");
    cJSON_AddStringToObject(o, "apiKey", reply->element[1]->str ? reply->element[1]->str : "");
    if (req->ctx) {
        char until[32];
        sb_time_rfc3339(*(int64_t *)req->ctx, until);
        cJSON_AddStringToObject(o, "previousValidUntil", until);
    }
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_webhooks_secret_get(sb_req_t *req)
{
    char k[SB_KEY_MAX], secret[64], key[32], now_s[24];
    sb_key_tenant(k, req->tenant_id, "whsecret");
    sb_webhook_secret_new(secret);
    sb_webhook_api_key_new(key);
    snprintf(now_s, sizeof(now_s), "%lld", (long long)sb_now_ms());
    const char *argv[] = {k, secret, key, now_s};
    if (sb_store_eval(sb_api_store(req), &sb_script_secret_get, 1, 4, argv, NULL, on_secret, req) < 0)
        sb_api_unavailable(req);
}

void sb_webhooks_secret_rotate(sb_req_t *req)
{
    char k[SB_KEY_MAX], secret[64], key[32], until_s[24];
    sb_key_tenant(k, req->tenant_id, "whsecret");
    sb_webhook_secret_new(secret);
    sb_webhook_api_key_new(key);
    int64_t *until = sb_req_alloc(req, sizeof(*until));
    *until = sb_now_ms() + 24ll * 3600 * 1000;
    req->ctx = until;
    snprintf(until_s, sizeof(until_s), "%lld", (long long)*until);
    const char *argv[] = {k, secret, key, until_s};
    if (sb_store_eval(sb_api_store(req), &sb_script_secret_rotate, 1, 4, argv, NULL, on_secret, req) < 0)
        sb_api_unavailable(req);
}

/* ---------- test event ---------- */

static void on_test_emitted(void *data, int status, const redisReply *reply)
{
    sb_req_t *req = data;
    if (status < 0 || !reply) {
        sb_api_unavailable(req);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(o, "deliveries");
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *r = reply->element[i];
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            continue;
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "id", r->element[0]->str ? r->element[0]->str : "");
        cJSON_AddStringToObject(d, "url", r->element[1]->str ? r->element[1]->str : "");
        cJSON_AddItemToArray(list, d);
    }
    sb_resp_json(req, 202, o);
    cJSON_Delete(o);
}

void sb_webhooks_test(sb_req_t *req)
{
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    sb_verr_t e;
    const cJSON *ev;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(body, "data");
    if (sb_v_string(body, "event", NULL, true, 1, 64, &ev, &e) < 0 ||
        (!sb_event_known(ev->valuestring) && sb_verr_set(&e, "event", "'%s' is not a system event", ev->valuestring)) ||
        (data && !cJSON_IsObject(data) && sb_verr_set(&e, "data", "'data' must be an object"))) {
        cJSON_Delete(body);
        sb_resp_verr(req, &e);
        return;
    }
    cJSON *empty = data ? NULL : cJSON_CreateObject();
    int rc = sb_emit(sb_api_store(req), req->loop->srv->cfg, req->tenant_id, ev->valuestring, data ? data : empty,
                     on_test_emitted, req);
    cJSON_Delete(empty);
    cJSON_Delete(body);
    if (rc < 0)
        sb_api_unavailable(req);
}

/* ---------- commands ---------- */

cJSON *sb_command_answer(const char *command, const char *result, bool is_error, const char *url)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "command", command);
    cJSON_AddStringToObject(o, "result", result);
    cJSON_AddBoolToObject(o, "isError", is_error);
    cJSON_AddStringToObject(o, "url", url ? url : "");
    return o;
}

static void on_command(void *data, int status, const char *result, bool is_error, const char *url)
{
    sb_req_t *req = data;
    if (status != 200) {
        sb_resp_problem(req, status, result, NULL);
        return;
    }
    cJSON *o = sb_command_answer((const char *)req->ctx, result, is_error, url);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

int sb_command_body(const cJSON *body, const cJSON **cmd, const cJSON **args, const cJSON **data, sb_verr_t *e)
{
    *data = cJSON_GetObjectItemCaseSensitive(body, "data");
    if (sb_v_string(body, "command", NULL, true, 2, 33, cmd, e) < 0 ||
        (!sb_command_name_valid((*cmd)->valuestring) &&
         sb_verr_set(e, "command", "'command' must be / followed by lower-case letters, digits or _")) ||
        sb_v_string(body, "args", NULL, false, 0, 4096, args, e) < 0 ||
        (*data && !cJSON_IsObject(*data) && sb_verr_set(e, "data", "'data' must be an object")))
        return -EINVAL;
    return 0;
}

void sb_webhooks_command(sb_req_t *req)
{
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    sb_verr_t e;
    const cJSON *cmd, *args, *data;
    if (sb_command_body(body, &cmd, &args, &data, &e) < 0) {
        cJSON_Delete(body);
        sb_resp_verr(req, &e);
        return;
    }
    req->ctx = sb_req_strndup(req, cmd->valuestring, strlen(cmd->valuestring));
    int rc = sb_command_run(sb_api_store(req), sb_services(req)->client, req->loop->srv->cfg,
                            req->tenant_id, cmd->valuestring, args ? args->valuestring : "", data, on_command, req);
    cJSON_Delete(body);
    if (rc < 0)
        sb_api_unavailable(req);
}

/* ---------- operations ---------- */

/* One endpoint from its script tuple {url, id, enabled, failingSince, lastStatus, lastAttemptAt,
 * recent successes, recent failures}. */
static cJSON *endpoint_json(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 8)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->element[1]->str ? r->element[1]->str : "");
    cJSON_AddStringToObject(o, "url", r->element[0]->str ? r->element[0]->str : "");
    cJSON_AddBoolToObject(o, "enabled", !r->element[2]->str || strcmp(r->element[2]->str, "0") != 0);
    char t[32];
    uint64_t v;
    if (r->element[3]->len && sb_parse_u64(r->element[3]->str, r->element[3]->len, INT64_MAX, &v) == 0) {
        sb_time_rfc3339((int64_t)v, t);
        cJSON_AddStringToObject(o, "failingSince", t);
    } else {
        cJSON_AddNullToObject(o, "failingSince");
    }
    if (r->element[4]->len && sb_parse_u64(r->element[4]->str, r->element[4]->len, 999, &v) == 0)
        cJSON_AddNumberToObject(o, "lastStatus", (double)v);
    else
        cJSON_AddNullToObject(o, "lastStatus");
    if (r->element[5]->len && sb_parse_u64(r->element[5]->str, r->element[5]->len, INT64_MAX, &v) == 0) {
        sb_time_rfc3339((int64_t)v, t);
        cJSON_AddStringToObject(o, "lastAttemptAt", t);
    } else {
        cJSON_AddNullToObject(o, "lastAttemptAt");
    }
    cJSON *recent = cJSON_AddObjectToObject(o, "recent");
    cJSON_AddNumberToObject(recent, "success", (double)r->element[6]->integer);
    cJSON_AddNumberToObject(recent, "failure", (double)r->element[7]->integer);
    return o;
}

static void on_endpoints(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
        cJSON *o = endpoint_json(reply->element[i]);
        if (o)
            cJSON_AddItemToArray(list, o);
    }
    sb_resp_json(req, 200, list);
    cJSON_Delete(list);
}

void sb_webhooks_endpoints(sb_req_t *req)
{
    char k_subs[SB_KEY_MAX], prefix[SB_KEY_MAX];
    sb_key_tenant(k_subs, req->tenant_id, "subs");
    sb_key_tenant(prefix, req->tenant_id, "ep:");
    const char *argv[] = {k_subs, prefix};
    if (sb_store_eval(sb_api_store(req), &sb_script_endpoints, 1, 2, argv, NULL, on_endpoints, req) < 0)
        sb_api_unavailable(req);
}

static bool ep_param(sb_req_t *req, char k_ep[SB_KEY_MAX], char k_log[SB_KEY_MAX])
{
    const char *ep = sb_req_param(req, "endpointId");
    bool ok = ep && strlen(ep) == 16;
    for (size_t i = 0; ok && i < 16; i++)
        ok = (ep[i] >= '0' && ep[i] <= '9') || (ep[i] >= 'a' && ep[i] <= 'f');
    if (!ok) {
        sb_resp_problem(req, 404, "no such endpoint", NULL);
        return false;
    }
    char log_id[40];
    sb_key_tenant_item(k_ep, req->tenant_id, "ep", ep);
    snprintf(log_id, sizeof(log_id), "%s:attempts", ep);
    if (k_log)
        sb_key_tenant_item(k_log, req->tenant_id, "ep", log_id);
    req->ctx = (void *)ep;
    return true;
}

static void on_attempts(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        sb_resp_problem(req, 404, "no such endpoint", NULL);
        return;
    }
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < reply->elements; i++) {
        cJSON *a = cJSON_ParseWithLength(reply->element[i]->str, reply->element[i]->len);
        if (a) {
            cJSON_DeleteItemFromObjectCaseSensitive(a, "ok");
            cJSON_AddItemToArray(list, a);
        }
    }
    sb_resp_json(req, 200, list);
    cJSON_Delete(list);
}

void sb_webhooks_attempts(sb_req_t *req)
{
    char k_ep[SB_KEY_MAX], k_log[SB_KEY_MAX];
    if (!ep_param(req, k_ep, k_log))
        return;
    const char *argv[] = {k_ep, k_log};
    if (sb_store_eval(sb_api_store(req), &sb_script_attempts, 2, 2, argv, NULL, on_attempts, req) < 0)
        sb_api_unavailable(req);
}

static void on_enabled(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    cJSON *o = endpoint_json(reply);
    if (!o) {
        sb_resp_problem(req, 404, "no such endpoint", NULL);
        return;
    }
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

static void set_enabled(sb_req_t *req, bool on)
{
    char k_ep[SB_KEY_MAX], now_s[24];
    if (!ep_param(req, k_ep, NULL))
        return;
    snprintf(now_s, sizeof(now_s), "%lld", (long long)sb_now_ms());
    const char *argv[] = {k_ep, on ? "1" : "0", now_s, (const char *)req->ctx};
    if (sb_store_eval(sb_api_store(req), &sb_script_endpoint_enable, 1, 4, argv, NULL, on_enabled, req) < 0)
        sb_api_unavailable(req);
}

void sb_webhooks_enable(sb_req_t *req)
{
    set_enabled(req, true);
}

void sb_webhooks_disable(sb_req_t *req)
{
    set_enabled(req, false);
}

static void on_dead_list(sb_store_t *st, redisReply *reply, void *data)
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
        cJSON *x = cJSON_ParseWithLength(reply->element[i]->str, reply->element[i]->len);
        if (!x)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(x, "delivery");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(x, "failedAt");
        if (cJSON_IsNumber(at)) {
            char t[32];
            sb_time_rfc3339((int64_t)at->valuedouble, t);
            cJSON_ReplaceItemInObjectCaseSensitive(x, "failedAt", cJSON_CreateString(t));
        }
        cJSON_AddItemToArray(items, x);
    }
    cJSON *o = sb_page_envelope(items, p->page, p->size, (unsigned long)reply->element[0]->integer);
    sb_resp_json(req, 200, o);
    cJSON_Delete(o);
}

void sb_webhooks_dead_list(sb_req_t *req)
{
    sb_page_t *p = sb_req_alloc(req, sizeof(*p));
    req->ctx = p;
    if (sb_page_params(req, &p->page, &p->size) < 0)
        return;
    char k_dead[SB_KEY_MAX], k_idx[SB_KEY_MAX], off[24], cnt[16];
    sb_key_tenant(k_dead, req->tenant_id, "dead");
    sb_key_tenant(k_idx, req->tenant_id, "dead:idx");
    snprintf(off, sizeof(off), "%lu", (unsigned long)(p->page - 1) * p->size);
    snprintf(cnt, sizeof(cnt), "%u", p->size);
    const char *argv[] = {k_dead, k_idx, off, cnt};
    if (sb_store_eval(sb_api_store(req), &sb_script_dead_list, 2, 4, argv, NULL, on_dead_list, req) < 0)
        sb_api_unavailable(req);
}

static void on_replayed(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type == REDIS_REPLY_NIL) { /* recover: an endpoint this tenant does not have */
        sb_resp_problem(req, 404, "no such endpoint", NULL);
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "replayed", (double)reply->integer);
        sb_resp_json(req, 202, o);
        cJSON_Delete(o);
        return;
    }
    if (!reply->str || strcmp(reply->str, "OK") != 0) {
        sb_resp_problem(req, 404, "no such dead letter", NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", (const char *)req->ctx);
    cJSON_AddStringToObject(o, "status", "queued");
    sb_resp_json(req, 202, o);
    cJSON_Delete(o);
}

void sb_webhooks_dead_replay(sb_req_t *req)
{
    const char *id = sb_req_param(req, "id");
    if (!id || strlen(id) > 80 || strpbrk(id, "{} ")) {
        sb_resp_problem(req, 404, "no such dead letter", NULL);
        return;
    }
    req->ctx = (void *)id;
    char k_dead[SB_KEY_MAX], k_idx[SB_KEY_MAX];
    sb_key_tenant(k_dead, req->tenant_id, "dead");
    sb_key_tenant(k_idx, req->tenant_id, "dead:idx");
    const char *argv[] = {k_dead, k_idx, SB_Q_FRESH, id};
    if (sb_store_eval(sb_api_store(req), &sb_script_dead_replay, 3, 4, argv, NULL, on_replayed, req) < 0)
        sb_api_unavailable(req);
}

void sb_webhooks_recover(sb_req_t *req)
{
    char k_ep[SB_KEY_MAX];
    if (!ep_param(req, k_ep, NULL))
        return;
    const char *ep = req->ctx;
    cJSON *body = sb_json_body(req, false);
    if (!body)
        return;
    sb_verr_t e;
    const cJSON *since, *until;
    int64_t s_ms = 0, u_ms = sb_now_ms();
    if (sb_v_string(body, "since", NULL, true, 1, 64, &since, &e) < 0 ||
        (sb_rfc3339_parse(since->valuestring, &s_ms) < 0 &&
         sb_verr_set(&e, "since", "'since' must be an RFC 3339 time")) ||
        sb_v_string(body, "until", NULL, false, 1, 64, &until, &e) < 0 ||
        (until && sb_rfc3339_parse(until->valuestring, &u_ms) < 0 &&
         sb_verr_set(&e, "until", "'until' must be an RFC 3339 time")) ||
        (u_ms < s_ms && sb_verr_set(&e, "until", "'until' is before 'since'"))) {
        cJSON_Delete(body);
        sb_resp_verr(req, &e);
        return;
    }
    cJSON_Delete(body);
    char k_dead[SB_KEY_MAX], k_idx[SB_KEY_MAX], s_s[24], u_s[24];
    sb_key_tenant(k_dead, req->tenant_id, "dead");
    sb_key_tenant(k_idx, req->tenant_id, "dead:idx");
    snprintf(s_s, sizeof(s_s), "%lld", (long long)s_ms);
    snprintf(u_s, sizeof(u_s), "%lld", (long long)u_ms);
    const char *argv[] = {k_dead, k_idx, SB_Q_FRESH, k_ep, ep, s_s, u_s};
    if (sb_store_eval(sb_api_store(req), &sb_script_dead_recover, 4, 7, argv, NULL, on_replayed, req) < 0)
        sb_api_unavailable(req);
}
