/* Proactive messages (SPEC 10, seed 000's ProactiveMessageController; docs/proactive.md): a
 * tenant's messages that switchboard sends on its own, their CRUD and the manual firing. A
 * record is validated and encoded here once (trigger, payload, the message pieces the scripts
 * put together); pm_put.lua stores it and moves its pending firings; the scheduler that fires
 * them is the delivery layer's (sweeps.c, pm_run.lua). */
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/channels.h"
#include "switchboard/clock.h"
#include "switchboard/conv.h"
#include "switchboard/cron.h"
#include "switchboard/crypto.h"
#include "switchboard/text.h"

#define PM_PER_AGENT  "100"   /* proactive messages of one agent (each event scans its agent's list) */
#define DELAY_MAX     86400   /* seconds: an event trigger's delaySeconds */
#define IDLE_MAX      2592000 /* seconds (30 days): an idle trigger's afterSeconds */
#define MAX_FIRES_MAX 1000
#define CRON_MAX      128 /* characters of a cron expression */

typedef struct pm_ctx {
    unsigned page, size;
    char id[37];
    bool update;
    cJSON *body; /* PUT: the request's members, laid over the stored record once it is read */
} pm_ctx_t;

static pm_ctx_t *pm_begin(sb_req_t *req, bool with_id)
{
    pm_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    memset(c, 0, sizeof(*c));
    req->ctx = c;
    if (with_id) {
        /* ASP.NET's {messageId:guid}: anything else matches no route */
        const char *id = sb_req_param(req, "messageId");
        if (!id || !sb_uuid_valid(id, strlen(id))) {
            sb_resp_problem(req, 404, "no such proactive message", NULL);
            return NULL;
        }
        snprintf(c->id, sizeof(c->id), "%s", id);
    }
    return c;
}

/* ---------- the record: validation and encoding ---------- */

static bool integral(const cJSON *v, double lo, double hi)
{
    return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
           (double)(long long)v->valuedouble == v->valuedouble;
}

static int parse_schedule(const cJSON *t, int64_t now_ms, cJSON *n, cJSON *rec, sb_verr_t *e)
{
    static const char *const allowed[] = {"type", "at", "cron", "timezone", NULL};
    const cJSON *at, *cron, *zone;
    if (sb_v_only(t, allowed, "trigger", e) < 0 || sb_v_string(t, "at", "trigger", false, 1, 64, &at, e) < 0 ||
        sb_v_string(t, "cron", "trigger", false, 1, CRON_MAX, &cron, e) < 0 ||
        sb_v_string(t, "timezone", "trigger", false, 1, 64, &zone, e) < 0)
        return -EINVAL;
    if (!at == !cron)
        return sb_verr_set(e, "trigger", "a schedule trigger has either 'at' (RFC 3339) or 'cron'");
    if (at) {
        int64_t ms;
        if (zone)
            return sb_verr_set(e, "trigger.timezone", "'timezone' goes with 'cron' ('at' carries its offset)");
        if (sb_rfc3339_parse(at->valuestring, &ms) < 0 || ms < 0)
            return sb_verr_set(e, "trigger.at", "'trigger.at' must be an RFC 3339 time, e.g. 2026-12-24T09:00:00Z");
        char rfc[32];
        sb_time_rfc3339(ms, rfc);
        cJSON_AddStringToObject(n, "at", rfc);
        cJSON_AddNumberToObject(rec, "next", (double)ms);
        return 0;
    }
    sb_cron_t cr;
    const char *err = NULL;
    if (sb_cron_parse(cron->valuestring, &cr, &err) < 0)
        return sb_verr_set(e, "trigger.cron", "'trigger.cron': %s", err ? err : "not a 5-field cron expression");
    const char *name = zone ? zone->valuestring : "UTC";
    const sb_tz_t *z = sb_tz_find(name);
    if (!z)
        return sb_verr_set(e, "trigger.timezone", "'trigger.timezone': no time zone '%.64s' in the system's tzdata",
                           name);
    int64_t next;
    if (sb_cron_next(&cr, z, now_ms / 1000, &next) < 0)
        return sb_verr_set(e, "trigger.cron", "'trigger.cron' matches no time in the next 5 years");
    cJSON_AddStringToObject(n, "cron", cron->valuestring);
    cJSON_AddStringToObject(n, "timezone", name);
    cJSON_AddNumberToObject(rec, "next", (double)next * 1000);
    cJSON_AddStringToObject(rec, "cron", cron->valuestring);
    cJSON_AddStringToObject(rec, "tz", name);
    return 0;
}

static int parse_event(const cJSON *t, cJSON *n, cJSON *rec, sb_verr_t *e)
{
    static const char *const allowed[] = {"type", "event", "delaySeconds", "unlessReplied", NULL};
    static const char *const events[] = {"dialog_created", "dialog_reopened", "dialog_closed", "message_received"};
    const cJSON *ev, *unless;
    if (sb_v_only(t, allowed, "trigger", e) < 0 || sb_v_string(t, "event", "trigger", true, 1, 32, &ev, e) < 0 ||
        sb_v_bool(t, "unlessReplied", "trigger", &unless, e) < 0)
        return -EINVAL;
    size_t i = 0;
    while (i < SB_ARRAY_SIZE(events) && strcmp(events[i], ev->valuestring) != 0)
        i++;
    if (i == SB_ARRAY_SIZE(events))
        return sb_verr_set(e, "trigger.event",
                           "'trigger.event' must be dialog_created, dialog_reopened, dialog_closed or message_received");
    const cJSON *delay = cJSON_GetObjectItemCaseSensitive(t, "delaySeconds");
    if (delay && !integral(delay, 0, DELAY_MAX))
        return sb_verr_set(e, "trigger.delaySeconds", "'trigger.delaySeconds' must be an integer from 0 to %d",
                           DELAY_MAX);
    double d = delay ? delay->valuedouble : 0;
    bool u = unless && cJSON_IsTrue(unless);
    cJSON_AddStringToObject(n, "event", ev->valuestring);
    cJSON_AddNumberToObject(n, "delaySeconds", d);
    cJSON_AddBoolToObject(n, "unlessReplied", u);
    cJSON_AddStringToObject(rec, "ev", ev->valuestring);
    cJSON_AddNumberToObject(rec, "d", d * 1000);
    cJSON_AddBoolToObject(rec, "u", u);
    return 0;
}

static int parse_idle(const cJSON *t, cJSON *n, cJSON *rec, sb_verr_t *e)
{
    static const char *const allowed[] = {"type", "afterSeconds", "maxFires", NULL};
    if (sb_v_only(t, allowed, "trigger", e) < 0)
        return -EINVAL;
    const cJSON *after = cJSON_GetObjectItemCaseSensitive(t, "afterSeconds");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(t, "maxFires");
    if (!integral(after, 1, IDLE_MAX))
        return sb_verr_set(e, "trigger.afterSeconds", "'trigger.afterSeconds' must be an integer from 1 to %d",
                           IDLE_MAX);
    if (max && !cJSON_IsNull(max) && !integral(max, 1, MAX_FIRES_MAX))
        return sb_verr_set(e, "trigger.maxFires", "'trigger.maxFires' must be null or an integer from 1 to %d",
                           MAX_FIRES_MAX);
    bool bounded = max && !cJSON_IsNull(max);
    cJSON_AddNumberToObject(n, "afterSeconds", after->valuedouble);
    if (bounded)
        cJSON_AddNumberToObject(n, "maxFires", max->valuedouble);
    else
        cJSON_AddNullToObject(n, "maxFires");
    cJSON_AddNumberToObject(rec, "idle", after->valuedouble * 1000);
    cJSON_AddNumberToObject(rec, "max", bounded ? max->valuedouble : 0);
    return 0;
}

static void add_string(cJSON *rec, const char *name, char *s, bool cjson_owned)
{
    cJSON_AddStringToObject(rec, name, s ? s : "");
    if (cjson_owned)
        cJSON_free(s);
    else
        sb_free(s);
}

static int parse_payload(const cJSON *p, cJSON *rec, sb_verr_t *e)
{
    if (!cJSON_IsObject(p))
        return sb_verr_set(e, "payload", "'payload' must be an object {text, buttons?, cards?, attachments?}");
    sb_content_t c;
    if (sb_content_parse(p, SB_CONTENT_RICH, NULL, &c, e) < 0) {
        char field[sizeof(e->field) + 8];
        int n = snprintf(field, sizeof(field), "payload%s%s", e->field[0] ? "." : "", e->field);
        size_t len = n < 0 ? 0 : (size_t)n < sizeof(e->field) ? (size_t)n : sizeof(e->field) - 1;
        memcpy(e->field, field, len);
        e->field[len] = '\0';
        return -EINVAL;
    }
    cJSON *o = cJSON_CreateObject();
    sb_content_add(o, &c, true);
    if (!c.text)
        cJSON_DeleteItemFromObjectCaseSensitive(o, "text"); /* what the client sent, read back as it is taken */
    add_string(rec, "payload", cJSON_PrintUnformatted(o), true);
    cJSON_Delete(o);
    char *cbody, *ebody;
    sb_msg_content(&c, &cbody, &ebody);
    add_string(rec, "cbody", cbody, true);
    add_string(rec, "ebody", ebody, true);
    add_string(rec, "tx", sb_content_plain(&c), false);
    add_string(rec, "rm", sb_content_rich_json(&c), true);
    add_string(rec, "unfit", sb_content_unfit(&c), false);
    sb_content_free(&c);
    return 0;
}

/* {agentId, trigger, payload, enabled?} -> the record pm_put.lua stores, or NULL with e set. */
static cJSON *pm_record(const cJSON *in, sb_verr_t *e)
{
    static const char *const allowed[] = {"agentId", "trigger", "payload", "enabled", NULL};
    const cJSON *agent, *enabled;
    if (sb_v_only(in, allowed, NULL, e) < 0 || sb_v_uuid(in, "agentId", NULL, true, false, &agent, e) < 0 ||
        sb_v_bool(in, "enabled", NULL, &enabled, e) < 0)
        return NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(in, "trigger");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "payload");
    if (!t) {
        sb_verr_set(e, "trigger", "'trigger' is required");
        return NULL;
    }
    if (!p) {
        sb_verr_set(e, "payload", "'payload' is required");
        return NULL;
    }
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "agentId", agent->valuestring);
    cJSON_AddBoolToObject(rec, "enabled", !enabled || cJSON_IsTrue(enabled));
    const cJSON *type = cJSON_IsObject(t) ? cJSON_GetObjectItemCaseSensitive(t, "type") : NULL;
    const char *ty = cJSON_GetStringValue(type);
    cJSON *n = cJSON_CreateObject();
    int rc;
    if (!cJSON_IsObject(t))
        rc = sb_verr_set(e, "trigger", "'trigger' must be an object {type, ...}");
    else if (ty && strcmp(ty, "schedule") == 0)
        rc = parse_schedule(t, sb_now_ms(), n, rec, e);
    else if (ty && strcmp(ty, "event") == 0)
        rc = parse_event(t, n, rec, e);
    else if (ty && strcmp(ty, "idle") == 0)
        rc = parse_idle(t, n, rec, e);
    else
        rc = sb_verr_set(e, "trigger.type", "'trigger.type' must be \"schedule\", \"event\" or \"idle\"");
    if (rc == 0)
        rc = parse_payload(p, rec, e);
    if (rc < 0) {
        cJSON_Delete(n);
        cJSON_Delete(rec);
        return NULL;
    }
    cJSON_AddStringToObject(rec, "kind", ty);
    cJSON *typed = cJSON_CreateObject(); /* type first, as clients write it */
    cJSON_AddStringToObject(typed, "type", ty);
    cJSON *m;
    while ((m = n->child)) {
        cJSON_DetachItemViaPointer(n, m);
        cJSON_AddItemToObject(typed, m->string, m);
    }
    cJSON_Delete(n);
    add_string(rec, "trigger", cJSON_PrintUnformatted(typed), true);
    cJSON_Delete(typed);
    return rec;
}

/* ---------- the Dto ---------- */

static const redisReply *field_of(const redisReply *h, const char *name)
{
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->str && strcmp(h->element[i]->str, name) == 0)
            return h->element[i + 1];
    return NULL;
}

static const char *str_of(const redisReply *h, const char *name)
{
    const redisReply *v = field_of(h, name);
    return v && v->str ? v->str : "";
}

static void add_time_or_null(cJSON *o, const char *name, const char *rfc)
{
    if (rfc[0])
        cJSON_AddStringToObject(o, name, rfc);
    else
        cJSON_AddNullToObject(o, name);
}

/* ProactiveMessageDto from the record's HGETALL */
static cJSON *pm_dto(const redisReply *h)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", str_of(h, "id"));
    cJSON_AddStringToObject(o, "agentId", str_of(h, "agentId"));
    cJSON *t = cJSON_Parse(str_of(h, "trigger"));
    cJSON_AddItemToObject(o, "trigger", t ? t : cJSON_CreateNull());
    cJSON *p = cJSON_Parse(str_of(h, "payload"));
    cJSON_AddItemToObject(o, "payload", p ? p : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "enabled", strcmp(str_of(h, "enabled"), "1") == 0);
    cJSON_AddStringToObject(o, "createdAt", str_of(h, "createdAt"));
    cJSON_AddStringToObject(o, "updatedAt", str_of(h, "updatedAt"));
    add_time_or_null(o, "lastFiredAt", str_of(h, "lastFiredAt"));
    cJSON_AddNumberToObject(o, "fireCount", (double)strtoll(str_of(h, "fireCount"), NULL, 10));
    const char *next = str_of(h, "nextFireAt");
    char rfc[32] = "";
    if (next[0])
        sb_time_rfc3339(strtoll(next, NULL, 10), rfc);
    add_time_or_null(o, "nextFireAt", rfc);
    return o;
}

/* ---------- POST /api/proactive-messages, PUT /api/proactive-messages/{messageId} ---------- */

static void on_put(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    pm_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    const char *s = reply->type == REDIS_REPLY_ARRAY && reply->elements ? reply->element[0]->str : NULL;
    if (s && strcmp(s, "OK") == 0 && reply->elements == 2 && reply->element[1]->type == REDIS_REPLY_ARRAY) {
        cJSON *o = pm_dto(reply->element[1]);
        if (!c->update) {
            char loc[64];
            snprintf(loc, sizeof(loc), "/api/proactive-messages/%s", c->id);
            sb_resp_header(req, "Location", loc);
        }
        sb_resp_json(req, c->update ? 200 : 201, o);
        cJSON_Delete(o);
    } else if (s && strcmp(s, "NOAGENT") == 0) {
        sb_resp_problem(req, 400, "'agentId' names no agent of this tenant", "agentId");
    } else if (s && strcmp(s, "FULL") == 0) {
        sb_resp_problem(req, 409, "an agent has at most " PM_PER_AGENT " proactive messages", "agentId");
    } else if (s && strcmp(s, "NOTFOUND") == 0) {
        sb_resp_problem(req, 404, "no such proactive message", NULL); /* deleted meanwhile */
    } else {
        sb_api_unavailable(req);
    }
}

static void pm_store(sb_req_t *req, const cJSON *in, bool create)
{
    pm_ctx_t *c = req->ctx;
    sb_verr_t e;
    cJSON *rec = pm_record(in, &e);
    if (!rec) {
        sb_resp_verr(req, &e);
        return;
    }
    char *rj = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, req->loop->srv->cfg);
    const char *argv[] = {cx.json, req->tenant_id, c->id, create ? "create" : "update", rj, PM_PER_AGENT};
    int rc = sb_store_eval(sb_api_store(req), &sb_script_pm_put, 0, 6, argv, NULL, on_put, req);
    sb_event_cx_free(&cx);
    cJSON_free(rj);
    if (rc < 0)
        sb_api_unavailable(req);
}

static cJSON *object_body(sb_req_t *req)
{
    cJSON *body = sb_json_body(req, false);
    if (body && !cJSON_IsObject(body)) {
        cJSON_Delete(body);
        sb_resp_problem(req, 400, "the body must be a JSON object", NULL);
        return NULL;
    }
    return body;
}

void sb_pm_create(sb_req_t *req)
{
    pm_ctx_t *c = pm_begin(req, false);
    cJSON *body = object_body(req);
    if (!body)
        return;
    sb_uuid4(c->id);
    pm_store(req, body, true);
    cJSON_Delete(body);
}

/* The stored record as the input it was made from, with the PUT's members laid over it. */
static void on_update_read(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    pm_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply)) {
        cJSON_Delete(c->body);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        cJSON_Delete(c->body);
        sb_resp_problem(req, 404, "no such proactive message", NULL);
        return;
    }
    cJSON *in = pm_dto(reply);
    static const char *const out_only[] = {"id", "createdAt", "updatedAt", "lastFiredAt", "fireCount", "nextFireAt"};
    for (size_t i = 0; i < SB_ARRAY_SIZE(out_only); i++)
        cJSON_DeleteItemFromObjectCaseSensitive(in, out_only[i]);
    cJSON *m;
    while ((m = c->body->child)) {
        cJSON_DetachItemViaPointer(c->body, m);
        cJSON_DeleteItemFromObjectCaseSensitive(in, m->string);
        cJSON_AddItemToObject(in, m->string, m);
    }
    cJSON_Delete(c->body);
    c->body = NULL;
    pm_store(req, in, false);
    cJSON_Delete(in);
}

void sb_pm_update(sb_req_t *req)
{
    pm_ctx_t *c = pm_begin(req, true);
    if (!c)
        return;
    cJSON *body = object_body(req);
    if (!body)
        return;
    c->body = body;
    c->update = true;
    char k[SB_KEY_MAX];
    sb_key_tenant_item(k, req->tenant_id, "pm", c->id);
    const char *argv[] = {"HGETALL", k};
    if (sb_store_cmd(sb_api_store(req), on_update_read, req, 2, argv, NULL) < 0) {
        cJSON_Delete(body);
        sb_api_unavailable(req);
    }
}

/* ---------- GET one, GET a page, DELETE ---------- */

void sb_pm_get(sb_req_t *req)
{
    pm_ctx_t *c = pm_begin(req, true);
    if (!c)
        return;
    char k[SB_KEY_MAX];
    sb_key_tenant_item(k, req->tenant_id, "pm", c->id);
    sb_api_get_hash(req, k, pm_dto, "no such proactive message");
}

static void on_list(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    pm_ctx_t *c = req->ctx;
    if (sb_api_reply_failed(req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        sb_api_unavailable(req);
        return;
    }
    cJSON *items = cJSON_CreateArray();
    for (size_t i = 1; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_ARRAY && reply->element[i]->elements)
            cJSON_AddItemToArray(items, pm_dto(reply->element[i]));
    cJSON *env = sb_page_envelope(items, c->page, c->size, (unsigned long)reply->element[0]->integer);
    sb_resp_json(req, 200, env);
    cJSON_Delete(env);
}

void sb_pm_list(sb_req_t *req)
{
    pm_ctx_t *c = pm_begin(req, false);
    if (sb_page_params(req, &c->page, &c->size) < 0)
        return;
    const char *agent = NULL;
    int ra = sb_req_query_get(req, "agentId", &agent);
    if (ra == -EINVAL || (ra == 0 && !sb_uuid_valid(agent, strlen(agent)))) {
        sb_resp_problem(req, 400, "'agentId' must be a GUID", "agentId");
        return;
    }
    char off[24], n[8];
    snprintf(off, sizeof(off), "%llu", (unsigned long long)(c->page - 1) * c->size);
    snprintf(n, sizeof(n), "%u", c->size);
    const char *argv[] = {req->tenant_id, ra == 0 ? agent : "", off, n};
    if (sb_store_eval(sb_api_store(req), &sb_script_pm_list, 0, 4, argv, NULL, on_list, req) < 0)
        sb_api_unavailable(req);
}

void sb_pm_delete(sb_req_t *req)
{
    pm_ctx_t *c = pm_begin(req, true);
    if (!c)
        return;
    const char *argv[] = {req->tenant_id, c->id};
    sb_api_eval_delete(req, &sb_script_pm_delete, 0, 2, argv, "no such proactive message");
}

/* ---------- POST /api/proactive-messages/{messageId}/fire ---------- */

static void on_fired(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_req_t *req = data;
    if (sb_api_reply_failed(req, reply))
        return;
    const char *s = reply->type == REDIS_REPLY_ARRAY && reply->elements ? reply->element[0]->str : NULL;
    if (s && strcmp(s, "OK") == 0 && reply->elements == 2 && reply->element[1]->str)
        sb_resp_send(req, 201, "application/json", reply->element[1]->str, reply->element[1]->len);
    else if (s && strcmp(s, "NOTFOUND") == 0)
        sb_resp_problem(req, 404, "no such proactive message", NULL);
    else if (s && strcmp(s, "NOCONV") == 0)
        sb_resp_problem(req, 404, "no such conversation", "conversationId");
    else if (s && strcmp(s, "DISABLED") == 0)
        sb_resp_problem(req, 409, "the proactive message is disabled", NULL);
    else if (s && strcmp(s, "AGENT") == 0)
        sb_resp_problem(req, 409, "the conversation is not routed to this message's agent", "conversationId");
    else if (s && strcmp(s, "UNFIT") == 0 && reply->elements == 3 && reply->element[1]->str && reply->element[2]->str)
        sb_resp_problem(req, 400, reply->element[2]->str, reply->element[1]->str);
    else
        sb_api_unavailable(req);
}

void sb_pm_fire(sb_req_t *req)
{
    pm_ctx_t *c = pm_begin(req, true);
    if (!c)
        return;
    cJSON *body = object_body(req);
    if (!body)
        return;
    static const char *const allowed[] = {"conversationId", NULL};
    sb_verr_t e;
    const cJSON *cid;
    if (sb_v_only(body, allowed, NULL, &e) < 0 || sb_v_uuid(body, "conversationId", NULL, true, false, &cid, &e) < 0) {
        cJSON_Delete(body);
        sb_resp_verr(req, &e);
        return;
    }
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, req->loop->srv->cfg);
    const char *argv[] = {cx.json, req->tenant_id, c->id, cid->valuestring};
    int rc = sb_store_eval(sb_api_store(req), &sb_script_pm_fire, 0, 4, argv, NULL, on_fired, req);
    sb_event_cx_free(&cx);
    cJSON_Delete(body);
    if (rc < 0)
        sb_api_unavailable(req);
}
