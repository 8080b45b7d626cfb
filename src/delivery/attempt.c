/* An attempt of a delivery, its common part (engine.h): the job of the fresh and retry lanes
 * reads the queue entry and hands it to webhook.c (events, agent deliveries) or send.c
 * (platform sends); whichever carried it out records its outcome here, in the one finish script
 * that writes the attempt log, the endpoint state, the retry or the dead letter and only then
 * acknowledges the entry, and counts it in the metrics. It may call the store, emit.c (the
 * endpoint_disabled event), the clock, the log and outcome.h. */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "switchboard/alloc.h"
#include "switchboard/clock.h"
#include "switchboard/log.h"
#include "switchboard/text.h"

void sb__attempt_free(sb__attempt_t *a)
{
    sb_job_done_fn done = a->done;
    void *done_data = a->done_data;
    cJSON_Delete(a->dj);
    cJSON_Delete(a->chrec);
    cJSON_Delete(a->rich);
    cJSON_Delete(a->part_cfg);
    sb_free(a->shown_url);
    sb_free(a->resp_body);
    sb_free(a);
    done(done_data);
}

char *sb__excerpt(const char *s, size_t n, size_t max_chars)
{
    char *out = sb_malloc(n + 1);
    sb_utf8_excerpt(s, n, max_chars, out);
    return out;
}

/* ---------- outcome ---------- */

static void on_finished_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb__attempt_t *a = data;
    sb_delivery_t *d = a->d;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[0]->str &&
        strcmp(reply->element[0]->str, "drop") != 0) {
        const char *o = reply->element[0]->str;
        int slot = strcmp(o, "success") == 0         ? SB_OUTCOME_SUCCESS
                   : strcmp(o, "retry") == 0         ? SB_OUTCOME_RETRY
                   : a->outcome == SB_OUTCOME_FAILED ? SB_OUTCOME_FAILED
                                                     : SB_OUTCOME_DEAD;
        sb_metrics_add(&d->metrics->deliveries[slot], 1);
        const sb__attempt_kind_t *k = a->send ? &d->send : &d->webhook;
        if (reply->element[1]->integer == 1 && k->forget) /* forget the cached "enabled" at once */
            k->forget(a);
        if (reply->element[1]->integer == 1 && !d->closing) {
            /* Tell the tenant's other subscribers. */
            sb_log(SB_LOG_WARN, "endpoint disabled", "\"tenant\":\"%s\",\"endpoint\":\"%s\"", a->tenant, a->ep);
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddStringToObject(ev, "endpoint_id", a->ep);
            cJSON_AddStringToObject(ev, "url", a->url);
            cJSON_AddNumberToObject(ev, "last_status", a->resp.status);
            cJSON_AddStringToObject(ev, "reason", a->resp.status == 410 ? "410 Gone" : "failing continuously");
            sb_emit(d->store, d->cfg, a->tenant, "endpoint_disabled", ev, NULL, NULL);
            cJSON_Delete(ev);
        }
    }
    /* No reply: Redis went away before the outcome was written. The entry stays pending and is
     * taken over after the visibility timeout: at least once, never lost. */
    sb__attempt_free(a);
}

static void on_finished(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((sb__attempt_t *)data)->d;
    on_finished_body(st, reply, data);
    sb__d_called_back(d);
}

void sb__record_outcome(sb__attempt_t *a, const char *outcome, const char *error, bool logged, uint64_t delay_ms)
{
    sb_delivery_t *d = a->d;
    int64_t now = sb_now_ms();
    char now_s[24], due_s[24], status_s[16], at[32];
    snprintf(now_s, sizeof(now_s), "%lld", (long long)now);
    snprintf(status_s, sizeof(status_s), "%d", a->resp.status);
    sb_time_rfc3339(now, at);

    char *log_json = NULL;
    if (logged) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "at", at);
        cJSON_AddStringToObject(l, "deliveryId", a->id);
        cJSON_AddStringToObject(l, "event", a->event);
        cJSON_AddNumberToObject(l, "attempt", a->n + 1);
        cJSON_AddNumberToObject(l, "status", a->resp.status);
        cJSON_AddNumberToObject(l, "latencyMs", (double)(a->resp.latency_us / 1000));
        cJSON_AddBoolToObject(l, "ok", strcmp(outcome, "success") == 0);
        if (error)
            cJSON_AddStringToObject(l, "error", error);
        else
            cJSON_AddNullToObject(l, "error");
        cJSON_AddStringToObject(l, "response", a->resp_body ? a->resp_body : "");
        log_json = cJSON_PrintUnformatted(l);
        cJSON_Delete(l);
    }
    char *retry_json = NULL;
    due_s[0] = '0';
    due_s[1] = '\0';
    if (strcmp(outcome, "retry") == 0) { /* the schedule had a next step (sb_outcome_decide) */
        snprintf(due_s, sizeof(due_s), "%lld", (long long)(now + (int64_t)delay_ms));
        cJSON_ReplaceItemInObjectCaseSensitive(a->dj, "n", cJSON_CreateNumber(a->n + 1));
        retry_json = cJSON_PrintUnformatted(a->dj);
    }
    char *dead_json = NULL;
    if (strcmp(outcome, "success") != 0 && strcmp(outcome, "drop") != 0) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", a->id);
        cJSON_AddItemToObject(x, "delivery", cJSON_Duplicate(a->dj, 1));
        cJSON_AddStringToObject(x, "endpointId", a->ep);
        cJSON_AddStringToObject(x, "url", a->url);
        cJSON_AddStringToObject(x, "event", a->event);
        cJSON_AddStringToObject(x, "error", error ? error : "");
        cJSON_AddNumberToObject(x, "status", a->resp.status);
        cJSON_AddNumberToObject(x, "attempts", a->n + 1);
        cJSON_AddNumberToObject(x, "failedAt", (double)now);
        dead_json = cJSON_PrintUnformatted(x);
        cJSON_Delete(x);
    }
    char k_ep[SB_KEY_MAX], k_log[SB_KEY_MAX], k_dead[SB_KEY_MAX], k_idx[SB_KEY_MAX], disable_s[24], log_id[48];
    sb_key_tenant_item(k_ep, a->tenant, "ep", a->ep);
    snprintf(log_id, sizeof(log_id), "%.20s:attempts", a->ep);
    sb_key_tenant_item(k_log, a->tenant, "ep", log_id);
    sb_key_tenant(k_dead, a->tenant, "dead");
    sb_key_tenant(k_idx, a->tenant, "dead:idx");
    snprintf(disable_s, sizeof(disable_s), "%llu", (unsigned long long)d->cfg->disable_after_ms);
    char gap_s[16];
    snprintf(gap_s, sizeof(gap_s), "%u", sb_pace_gap_ms(d->cfg->pace_ms, sb__random_u32()));
    const char *argv[] = {a->stream,
                          k_ep,
                          k_log,
                          SB_Q_DELAY,
                          k_dead,
                          k_idx,
                          SB_Q_RECV,
                          a->entry,
                          SB_Q_GROUP,
                          outcome,
                          log_json ? log_json : "",
                          now_s,
                          disable_s,
                          retry_json ? retry_json : "",
                          due_s,
                          dead_json ? dead_json : "",
                          a->id,
                          status_s,
                          a->url,
                          a->send ? a->pk : "",
                          gap_s};
    int rc = sb__d_eval(d, &sb_script_finish, 7, SB_ARRAY_SIZE(argv), argv, on_finished, a);
    cJSON_free(log_json);
    cJSON_free(retry_json);
    cJSON_free(dead_json);
    if (rc < 0)
        sb__attempt_free(a); /* unacknowledged: taken over later */
}

/* ---------- the lanes' job ---------- */

void sb__attempt_job(void *data, const char *entry, const char *json, size_t len, sb_job_done_fn done, void *done_data)
{
    const sb__lane_t *lane = data;
    sb_delivery_t *d = lane->d;
    sb__attempt_t *a = sb_calloc(1, sizeof(*a));
    a->d = d;
    a->stream = lane->stream;
    a->done = done;
    a->done_data = done_data;
    a->outcome = SB_OUTCOME_DEAD;
    snprintf(a->entry, sizeof(a->entry), "%s", entry);
    a->dj = cJSON_ParseWithLength(json, len);
    a->id = sb_json_str(a->dj, "id");
    a->tenant = sb_json_str(a->dj, "t");
    a->event = sb_json_str(a->dj, "ev");
    a->url = sb_json_str(a->dj, "url");
    a->ep = sb_json_str(a->dj, "ep");
    a->body = sb_json_str(a->dj, "body");
    const char *kind = sb_json_str(a->dj, "k");
    const sb__attempt_kind_t *k = kind && strcmp(kind, "send") == 0 ? &d->send : &d->webhook;
    if (k->parse && !k->parse(a))
        a->id = NULL; /* malformed: dropped below */
    if (kind && strcmp(kind, "agent") == 0) {
        a->agent = sb_json_str(a->dj, "ag");
        a->conv = sb_json_str(a->dj, "cid");
        if (!a->agent || !sb_uuid_valid(a->agent, strlen(a->agent)) || !a->conv ||
            !sb_uuid_valid(a->conv, strlen(a->conv)))
            a->agent = a->conv = NULL;
    }
    a->event = a->event ? a->event : "";
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(a->dj, "to");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(a->dj, "n");
    a->timeout_ms =
        cJSON_IsNumber(to) && to->valuedouble >= 100 && to->valuedouble <= 30000 ? (unsigned)to->valuedouble : 3000;
    a->n = cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble < 1000 ? (int)n->valuedouble : 0;
    char k_secret[SB_KEY_MAX], k_ep[SB_KEY_MAX];
    if (!a->id || !a->tenant || !a->url || !a->ep || !a->body || sb_key_tenant(k_secret, a->tenant, "whsecret") < 0 ||
        sb_key_tenant_item(k_ep, a->tenant, "ep", a->ep) < 0) {
        /* Not something we wrote: acknowledge and drop it rather than loop on it. */
        sb_log(SB_LOG_ERROR, "dropping a malformed queue entry", "\"entry\":\"%s\"", entry);
        const char *argv[] = {"XACK", a->stream, SB_Q_GROUP, entry};
        sb_store_cmd(d->store, NULL, NULL, 4, argv, NULL);
        sb__attempt_free(a);
        return;
    }
    k->start(a, k_secret, k_ep);
}
