/* The delivery engine of one loop thread (see delivery.h). It owns a second Redis connection
 * for the blocking XREADGROUP, the HTTP client, and a 20 ms tick that moves due retries,
 * dispatches paced deliveries, refreshes this consumer's heartbeat, takes over entries of
 * dead consumers and samples the queue depth. Fresh sends and retries are separate streams
 * with separate in-flight budgets, so a failing endpoint cannot starve new events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "switchboard/alloc.h"
#include "switchboard/channels.h"
#include "switchboard/clock.h"
#include "switchboard/conv.h"
#include "switchboard/crypto.h"
#include "switchboard/delivery.h"
#include "switchboard/hash.h"
#include "switchboard/json.h"
#include "switchboard/log.h"
#include "switchboard/text.h"

#define TICK_MS                20
#define HEARTBEAT_MS           2000
#define HEARTBEAT_TTL_MS       10000
#define RECLAIM_MS             2000
#define VISIBILITY_MS          60000 /* > the longest attempt (30 s) plus recording it */
#define POISON_LIMIT           5
#define DEPTH_MS               1000
#define IDLE_SWEEP_MS          1000    /* the idle-timeout close runs this often, on each instance's first loop */
#define PURGE_IDLE_MS          1000    /* a look for deleted tenants' keys to remove, each instance's first loop */
#define PURGE_BUSY_MS          100     /* the next step while a tenant's removal is under way */
#define PURGE_STEP_KEYS        "20000" /* keys a step looks at (SCAN), ~ a few ms of Redis */
#define READ_BATCH             64
#define LEASE_MS               "5000" /* the inbound lease lives this long unless renewed */
#define LEASE_RENEW_MS         1000   /* holders renew it and the others ask for it this often */
#define TAKEOVER_MAX           "1000" /* entries a new holder takes over at once (the rest: reclaim) */
#define RESPONSE_EXCERPT_CHARS 4096
#define PREP_SLOTS             1024
#define PREP_TTL_MS            1000 /* secrets and enabled state may be this stale: one script less per attempt */

typedef struct prep_entry {
    char key[96]; /* tenant id / endpoint id / agent id */
    uint64_t expires;
    bool enabled;
    sb_webhook_secret_t secret;
} prep_entry_t;

/* Fresh deliveries, retries, and inbound channel messages (docs/channels.md): the engine's
 * consumer machinery (group, budgets, reclaim of dead consumers) works all three queues.
 * An inbound entry is nothing but a script on the loop's Redis connection, queued in the same
 * pipeline as the webhook handlers' scripts, and only the one loop, cluster-wide, that holds
 * the inbound lease works that queue (docs/channels.md "Order"): its scripts run in the order
 * it sends them, so a chat's messages are stored in the order they were queued. The lane's
 * small budget keeps the acknowledgements that platforms wait for ahead of the storing, which
 * the queue lets wait. Deliveries mostly wait on the network. */
enum { LANE_FRESH = 0, LANE_RETRY = 1, LANE_IN = 2, NLANES = 3 };
static const char *const lane_keys[NLANES] = {SB_Q_FRESH, SB_Q_RETRY, SB_Q_IN};
static const unsigned lane_budget[NLANES] = {512, 128, 8};

struct sb_delivery {
    uv_loop_t *loop;
    const sb_config_t *cfg;
    sb_metrics_t *metrics;
    sb_store_t *store;  /* the loop's connection: scripts */
    sb_store_t *qstore; /* this engine's connection: blocking reads */
    sb_client_t *client;
    unsigned index;
    char consumer[160];
    char hb_key[200];
    bool reading, groups_ready, groups_pending, closing;
    unsigned inflight[NLANES];
    unsigned pending_closes;
    uv_timer_t tick;
    uint64_t last_hb, last_reclaim, last_depth, last_promote;
    bool promote_busy, pace_busy, reclaim_busy[NLANES], depth_busy, idle_busy, purge_busy;
    uint64_t last_idle, next_purge;
    /* The inbound lease: held (last answer), ready (what former holders left is taken over:
     * the lane may be read). While the lane has a backlog (the last read of it found entries)
     * the holder refills it with reads of its own on the loop's connection (in_reading), as
     * slots free up; once one finds nothing the lane is idle and joins the blocking read. */
    bool in_held, in_ready, in_idle, in_reading, lease_busy; /* held && !ready: its takeover is under way */
    uint64_t last_lease;
    void (*done)(void *);
    void *done_data;
    prep_entry_t *prep; /* direct-mapped cache of `prepare` answers */
    /* Commands on the loop's store whose callbacks still hold this engine or one of its
     * attempts. The store is closed after the engine, so the engine is freed only once the
     * last of them has called back. */
    unsigned store_pending;
    bool parts_closed;
};

typedef struct attempt {
    sb_delivery_t *d;
    int lane;
    char entry[48];
    cJSON *dj;
    const char *id, *tenant, *event, *url, *ep, *body;
    const char *agent, *conv; /* an agent delivery: its answer may carry the agent's reply */
    /* a platform send (k "send", docs/channels.md): conv is its conversation */
    bool send;
    const char *ch, *pk, *ed, *app;
    char seq[24];
    sb_send_t snd;
    cJSON *chrec;    /* the channel binding, while a Teams token is fetched */
    char *shown_url; /* the URL as records show it; a->url points here once built */
    char err[240];   /* a send's final error */
    unsigned timeout_ms;
    int n;
    sb_webhook_secret_t secret;
    sb_client_resp_t resp;
    char *resp_body;
    int outcome;
} attempt_t;

static void read_next(sb_delivery_t *d);
static void engine_free(sb_delivery_t *d);

/* Every store command whose callback touches the engine is counted by d_pending (d_eval for
 * scripts of its own) and its callback ends with d_called_back. */
static int d_pending(sb_delivery_t *d, int rc)
{
    if (rc == 0)
        d->store_pending++;
    return rc;
}

static int d_eval(sb_delivery_t *d, const sb_script_t *script, int nkeys, int argc, const char **argv, sb_store_cb cb,
                  void *data)
{
    return d_pending(d, sb_store_eval(d->store, script, nkeys, argc, argv, NULL, cb, data));
}

/* Last statement of such a callback. */
static void d_called_back(sb_delivery_t *d)
{
    if (--d->store_pending == 0 && d->parts_closed)
        engine_free(d);
}

static void attempt_free(attempt_t *a)
{
    sb_delivery_t *d = a->d;
    d->inflight[a->lane]--;
    cJSON_Delete(a->dj);
    cJSON_Delete(a->chrec);
    sb_free(a->shown_url);
    sb_free(a->resp_body);
    sb_free(a);
    read_next(d);
}

static char *excerpt(const char *s, size_t n, size_t max_chars)
{
    char *out = sb_malloc(n + 1);
    sb_utf8_excerpt(s, n, max_chars, out);
    return out;
}

static prep_entry_t *prep_slot(sb_delivery_t *d, const char *tenant, const char *ep, const char *agent, char key[96])
{
    snprintf(key, 96, "%s/%s/%s", tenant, ep, agent ? agent : "");
    return &d->prep[sb_fnv1a_str(key) % PREP_SLOTS];
}

/* ---------- outcome ---------- */

static void on_finished_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    attempt_t *a = data;
    sb_delivery_t *d = a->d;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 && reply->element[0]->str &&
        strcmp(reply->element[0]->str, "drop") != 0) {
        const char *o = reply->element[0]->str;
        int slot = strcmp(o, "success") == 0         ? SB_OUTCOME_SUCCESS
                   : strcmp(o, "retry") == 0         ? SB_OUTCOME_RETRY
                   : a->outcome == SB_OUTCOME_FAILED ? SB_OUTCOME_FAILED
                                                     : SB_OUTCOME_DEAD;
        sb_metrics_add(&d->metrics->deliveries[slot], 1);
        if (reply->element[1]->integer == 1) { /* forget the cached "enabled" at once */
            char key[96];
            prep_entry_t *e = prep_slot(d, a->tenant, a->ep, a->agent, key);
            e->expires = 0;
        }
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
    attempt_free(a);
}

static void on_finished(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((attempt_t *)data)->d;
    on_finished_body(st, reply, data);
    d_called_back(d);
}

static unsigned retry_delay_ms(const sb_config_t *cfg, int next)
{
    unsigned base = cfg->retry_schedule[next] * 1000u;
    unsigned r;
    sb_random_bytes(&r, sizeof(r));
    /* +-20 % jitter */
    double f = 0.8 + 0.4 * ((double)r / 4294967295.0);
    return (unsigned)(base * f);
}

/* A pacing gap: uniform in [0.85, 1.25] x pace, so sends of one account are at least 0.8 x pace
 * apart even with a few ms of send-time variance. */
static unsigned pace_gap(const sb_config_t *cfg)
{
    unsigned r;
    sb_random_bytes(&r, sizeof(r));
    double f = 0.85 + 0.40 * ((double)r / 4294967295.0);
    return (unsigned)(cfg->pace_ms * f);
}

static void record_outcome(attempt_t *a, const char *outcome, const char *error, bool logged)
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
    if (strcmp(outcome, "retry") == 0) {
        int next = a->n + 1;
        if ((unsigned)next >= d->cfg->retry_steps) {
            outcome = "dead";
            error = error ? error : "retries exhausted";
        } else {
            uint64_t delay = retry_delay_ms(d->cfg, next);
            if (a->resp.retry_after_s >= 0) { /* honoured within [1 s, 1 h] */
                long ra = a->resp.retry_after_s < 1 ? 1 : a->resp.retry_after_s > 3600 ? 3600 : a->resp.retry_after_s;
                if ((uint64_t)ra * 1000 > delay)
                    delay = (uint64_t)ra * 1000;
            }
            snprintf(due_s, sizeof(due_s), "%lld", (long long)(now + (int64_t)delay));
            cJSON_ReplaceItemInObjectCaseSensitive(a->dj, "n", cJSON_CreateNumber(next));
            retry_json = cJSON_PrintUnformatted(a->dj);
        }
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
    snprintf(gap_s, sizeof(gap_s), "%u", pace_gap(d->cfg));
    const char *argv[] = {lane_keys[a->lane],
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
    int rc = d_eval(d, &sb_script_finish, 7, SB_ARRAY_SIZE(argv), argv, on_finished, a);
    cJSON_free(log_json);
    cJSON_free(retry_json);
    cJSON_free(dead_json);
    if (rc < 0)
        attempt_free(a); /* unacknowledged: taken over later */
}

/* The agent's answer (SPEC 6): a JSON object whose "reply" (or "message") is a non-empty
 * string. Returns it (to free), or NULL. */
static char *agent_reply_text(const char *body, size_t len)
{
    char err[SB_JSON_ERR_MAX];
    cJSON *o = sb_json_parse(body, len, err); /* an answer that fails it carries no reply */
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "reply"));
    if (!t || !t[0])
        t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "message"));
    char *out = NULL;
    if (t && t[0] && sb_utf8_valid(t, strlen(t))) {
        out = sb_malloc(strlen(t) + 1);
        sb_utf8_excerpt(t, strlen(t), SB_MSG_TEXT_MAX, out);
    }
    cJSON_Delete(o);
    return out;
}

static void on_agent_reply_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    attempt_t *a = data;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        attempt_free(a); /* not recorded: the delivery is taken over and the reply added once */
        return;
    }
    record_outcome(a, "success", NULL, true);
}

static void on_agent_reply(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((attempt_t *)data)->d;
    on_agent_reply_body(st, reply, data);
    d_called_back(d);
}

static void on_response(void *data, const sb_client_resp_t *resp)
{
    attempt_t *a = data;
    if (resp->error == SB_CLIENT_ERR_SHUTDOWN) {
        attempt_free(a); /* stopping: leave the entry for whoever takes it over */
        return;
    }
    a->resp = *resp;
    a->resp.body = NULL;
    a->resp_body = excerpt(resp->body, resp->body_len, RESPONSE_EXCERPT_CHARS);
    sb_metrics_observe_attempt(a->d->metrics, resp->latency_us);
    char err[200];
    const char *outcome;
    const char *error = NULL;
    if (resp->error != SB_CLIENT_OK) {
        outcome = "retry"; /* network errors and timeouts */
        snprintf(err, sizeof(err), "%s", resp->error_text);
        error = err;
    } else if (resp->status >= 200 && resp->status < 300) {
        outcome = "success";
        char *text = a->agent && a->conv ? agent_reply_text(resp->body, resp->body_len) : NULL;
        if (text) {
            /* Added before the delivery is acknowledged, keyed by the delivery id: a retry after
             * a crash between the two adds nothing. */
            char sender[96], once[64];
            snprintf(sender, sizeof(sender), "{\"type\":\"agent\",\"id\":\"%.40s\"}", a->agent);
            snprintf(once, sizeof(once), "reply:%.50s", a->id);
            int rc = d_pending(a->d, sb_conv_reply(a->d->store, a->d->cfg, a->tenant, a->conv, sender, text, NULL, once,
                                                   on_agent_reply, a));
            sb_free(text);
            if (rc == 0)
                return;
            attempt_free(a);
            return;
        }
    } else if (resp->status == 410) {
        outcome = "gone";
        error = "410 Gone: endpoint disabled";
    } else if (resp->status >= 500 || resp->status == 429 || (resp->status >= 300 && resp->status < 400) ||
               resp->status < 200) {
        outcome = "retry";
        snprintf(err, sizeof(err), "HTTP %d%s", resp->status,
                 resp->status >= 300 && resp->status < 400 ? " (redirects are not followed)" : "");
        error = err;
    } else {
        outcome = "dead"; /* other 4xx: final, a 403 never loops */
        a->outcome = SB_OUTCOME_FAILED;
        snprintf(err, sizeof(err), "HTTP %d (final)", resp->status);
        error = err;
    }
    record_outcome(a, outcome, error, true);
}

/* ---------- an attempt ---------- */

/* Signs and sends once the tenant's secrets and the endpoint's state are known. */
static void send_attempt(attempt_t *a, const char *current, const char *previous, bool enabled)
{
    sb_delivery_t *d = a->d;
    if (!current[0]) {
        /* No webhook secret: the tenant was deleted. Acknowledge and forget, write nothing. */
        record_outcome(a, "drop", NULL, false);
        return;
    }
    if (!enabled) {
        a->outcome = SB_OUTCOME_DEAD;
        record_outcome(a, "skip", "endpoint disabled", false);
        return;
    }
    snprintf(a->secret.current, sizeof(a->secret.current), "%s", current);
    snprintf(a->secret.previous, sizeof(a->secret.previous), "%s", previous);
    sb_buf_t h;
    sb_buf_init(&h, 4096);
    sb_buf_puts(&h, "Content-Type: application/json\r\nConnection: keep-alive\r\n");
    sb_sign_headers(&a->secret, a->id, (long)sb_now_s(), a->body, strlen(a->body), &h);
    sb_client_req_t r = {a->url, "POST", h.data, a->body, strlen(a->body), a->timeout_ms};
    int rc = sb_client_send(d->client, &r, on_response, a);
    sb_buf_free(&h);
    if (rc < 0) {
        sb_client_resp_t fake;
        memset(&fake, 0, sizeof(fake));
        fake.error = SB_CLIENT_ERR_URL;
        fake.retry_after_s = -1;
        snprintf(fake.error_text, sizeof(fake.error_text), "invalid URL");
        a->resp = fake;
        a->outcome = SB_OUTCOME_FAILED;
        record_outcome(a, "dead", "invalid URL", true);
    }
}

static void on_prepared_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    attempt_t *a = data;
    sb_delivery_t *d = a->d;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || d->closing) {
        attempt_free(a);
        return;
    }
    const char *current = reply->element[0]->str ? reply->element[0]->str : "";
    const char *previous = reply->element[1]->str ? reply->element[1]->str : "";
    bool enabled = !(reply->element[2]->str && strcmp(reply->element[2]->str, "0") == 0);
    char key[96];
    prep_entry_t *e = prep_slot(d, a->tenant, a->ep, a->agent, key);
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->expires = uv_now(d->loop) + PREP_TTL_MS;
    e->enabled = enabled;
    snprintf(e->secret.current, sizeof(e->secret.current), "%s", current);
    snprintf(e->secret.previous, sizeof(e->secret.previous), "%s", previous);
    send_attempt(a, current, previous, enabled);
}

static void on_prepared(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((attempt_t *)data)->d;
    on_prepared_body(st, reply, data);
    d_called_back(d);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ---------- a platform send (docs/channels.md) ---------- */

static void on_send_recorded(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    attempt_t *a = data;
    sb_delivery_t *d = a->d;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        attempt_free(a); /* not recorded: taken over later, the verdict written then */
    else if (a->err[0])
        record_outcome(a, "dead", a->err, true);
    else
        record_outcome(a, "success", NULL, true);
    d_called_back(d);
}

/* The verdict of a send. A final one is written into the message first (and message_sent
 * emitted for an accepted one), then the delivery is recorded; a retry goes back to the head of
 * the account's line (finish). */
static void send_outcome(attempt_t *a, const char *outcome, const char *pmid, const char *error)
{
    sb_delivery_t *d = a->d;
    bool sent = strcmp(outcome, "success") == 0;
    if (!sent && strcmp(outcome, "retry") == 0 && (unsigned)a->n + 1 < d->cfg->retry_steps) {
        record_outcome(a, "retry", error, true);
        return;
    }
    if (!sent)
        snprintf(a->err, sizeof(a->err), "%s%s", strcmp(outcome, "retry") == 0 ? "retries exhausted, last: " : "",
                 error ? error : "");
    if (!sent && a->outcome != SB_OUTCOME_FAILED)
        a->outcome = SB_OUTCOME_DEAD;
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, d->cfg);
    char once[80];
    snprintf(once, sizeof(once), "sent:%.60s", a->id);
    const char *argv[] = {
        cx.json, a->tenant, a->conv, a->seq, pmid ? pmid : "", a->ed, sent ? once : "", sent ? "sent" : "failed",
        a->err};
    int rc = d_eval(d, &sb_script_conv_sent, 0, SB_ARRAY_SIZE(argv), argv, on_send_recorded, a);
    sb_event_cx_free(&cx);
    if (rc < 0)
        attempt_free(a);
}

static void send_failed(attempt_t *a, const char *error)
{
    a->outcome = SB_OUTCOME_FAILED;
    send_outcome(a, "dead", NULL, error);
}

static void on_send_response(void *data, const sb_client_resp_t *resp)
{
    attempt_t *a = data;
    if (resp->error == SB_CLIENT_ERR_SHUTDOWN) {
        attempt_free(a);
        return;
    }
    a->resp = *resp;
    a->resp.body = NULL;
    a->resp_body = excerpt(resp->body, resp->body_len, RESPONSE_EXCERPT_CHARS);
    sb_metrics_observe_attempt(a->d->metrics, resp->latency_us);
    char err[200], pmid[128];
    if (resp->error != SB_CLIENT_OK) {
        snprintf(err, sizeof(err), "%s", resp->error_text);
        send_outcome(a, "retry", NULL, err);
    } else if (resp->status >= 200 && resp->status < 300) {
        int v = sb_send_result(a->snd.platform, resp->body, resp->body_len, pmid, sizeof(pmid), err, sizeof(err));
        if (v == SB_SEND_ACCEPTED)
            send_outcome(a, "success", pmid, NULL);
        else if (v == SB_SEND_RETRY)
            send_outcome(a, "retry", NULL, err);
        else
            send_failed(a, err);
    } else if (resp->status >= 500 || resp->status == 429 || resp->status < 200 ||
               (resp->status >= 300 && resp->status < 400) || (resp->status == 401 && a->app)) {
        if (resp->status == 401) /* a revoked or expired Bot Framework token: fetch a new one */
            sb_send_token_forget(a->app);
        snprintf(err, sizeof(err), "HTTP %d", resp->status);
        send_outcome(a, "retry", NULL, err);
    } else {
        snprintf(err, sizeof(err), "HTTP %d (final)", resp->status);
        send_failed(a, err);
    }
}

static void send_request(attempt_t *a, const cJSON *chcfg, const char *bearer)
{
    sb_delivery_t *d = a->d;
    sb_send_req_t r;
    char err[300];
    if (sb_send_build(d->cfg, &a->snd, chcfg, bearer, &r, err, sizeof(err)) < 0) {
        send_failed(a, err);
        return;
    }
    sb_free(a->shown_url);
    a->shown_url = r.shown_url;
    r.shown_url = NULL;
    a->url = a->shown_url;
    sb_client_req_t cr = {r.url, "POST", r.headers, r.body, strlen(r.body), a->timeout_ms};
    int rc = sb_client_send(d->client, &cr, on_send_response, a);
    sb_send_req_free(&r);
    if (rc < 0)
        send_failed(a, "invalid URL");
}

static void on_token(void *data, const sb_client_resp_t *resp)
{
    attempt_t *a = data;
    if (resp->error == SB_CLIENT_ERR_SHUTDOWN) {
        attempt_free(a);
        return;
    }
    sb_delivery_t *d = a->d;
    const cJSON *chcfg = cJSON_GetObjectItemCaseSensitive(a->chrec, "config");
    char err[240];
    a->resp = *resp;
    a->resp.body = NULL;
    char token[SB_BF_TOKEN_MAX];
    if (resp->error == SB_CLIENT_OK && resp->status >= 200 && resp->status < 300 &&
        sb_send_token_put(a->app, resp->body, resp->body_len) == 0 && sb_send_token_get(a->app, token, sizeof(token))) {
        send_request(a, chcfg, token);
        return;
    }
    a->url = d->cfg->botframework_token_url;
    if (resp->error != SB_CLIENT_OK) {
        snprintf(err, sizeof(err), "token endpoint: %s", resp->error_text);
        send_outcome(a, "retry", NULL, err);
    } else if (resp->status >= 400 && resp->status < 500 && resp->status != 429) {
        snprintf(err, sizeof(err), "token endpoint: HTTP %d (check appId and appPassword)", resp->status);
        send_failed(a, err);
    } else {
        snprintf(err, sizeof(err), "token endpoint: HTTP %d%s", resp->status,
                 resp->status >= 200 && resp->status < 300 ? " without an access_token" : "");
        send_outcome(a, "retry", NULL, err);
    }
}

static void on_send_prepared_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    attempt_t *a = data;
    sb_delivery_t *d = a->d;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || d->closing) {
        attempt_free(a);
        return;
    }
    const redisReply *ch = reply->element[0], *en = reply->element[1];
    if (reply->element[2]->integer == 0) {
        record_outcome(a, "drop", NULL, false); /* the tenant was deleted: nothing left to write to */
        return;
    }
    a->chrec = ch->str && ch->len ? cJSON_ParseWithLength(ch->str, ch->len) : NULL;
    const cJSON *chcfg = cJSON_GetObjectItemCaseSensitive(a->chrec, "config");
    if (!cJSON_IsObject(chcfg)) {
        send_failed(a, "the channel was deleted");
        return;
    }
    if (en->str && strcmp(en->str, "0") == 0) {
        send_failed(a, "endpoint disabled");
        return;
    }
    if (strcmp(a->snd.platform, "teams") != 0) {
        send_request(a, chcfg, NULL);
        return;
    }
    a->app = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(chcfg, "appId"));
    const char *pw = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(chcfg, "appPassword"));
    char buf[SB_BF_TOKEN_MAX];
    const char *token = a->app && sb_send_token_get(a->app, buf, sizeof(buf)) ? buf : NULL;
    if (token || !a->app || !pw || !sb_teams_service_url_allowed(chcfg, a->snd.service_url)) {
        send_request(a, chcfg, token); /* or its error: no password, serviceUrl not allowed */
        return;
    }
    char *form = sb_send_token_request(a->app, pw);
    sb_client_req_t cr = {d->cfg->botframework_token_url,
                          "POST",
                          "Content-Type: application/x-www-form-urlencoded\r\nConnection: keep-alive\r\n",
                          form,
                          strlen(form),
                          a->timeout_ms};
    int rc = sb_client_send(d->client, &cr, on_token, a);
    sb_free(form);
    if (rc < 0)
        send_failed(a, "invalid --botframework-token-url");
}

static void on_send_prepared(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((attempt_t *)data)->d;
    on_send_prepared_body(st, reply, data);
    d_called_back(d);
}

/* A send entry's own members (conv_reply wrote them): false when one is missing. */
static bool send_parse(attempt_t *a)
{
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(a->dj, "seq");
    a->send = true;
    a->conv = jstr(a->dj, "cid");
    a->ch = jstr(a->dj, "ch");
    a->pk = jstr(a->dj, "pk");
    a->ed = jstr(a->dj, "ed");
    a->snd.platform = jstr(a->dj, "pf");
    a->snd.chat = jstr(a->dj, "chat");
    a->snd.service_url = jstr(a->dj, "svc");
    a->snd.thread = jstr(a->dj, "th");
    a->snd.text = jstr(a->dj, "tx");
    if (!cJSON_IsNumber(seq) || seq->valuedouble < 1 || seq->valuedouble > 9007199254740992.0)
        return false;
    snprintf(a->seq, sizeof(a->seq), "%.0f", seq->valuedouble);
    return a->conv && sb_uuid_valid(a->conv, strlen(a->conv)) && a->ch && a->pk && a->ed && a->snd.platform &&
           a->snd.chat && a->snd.text;
}

static void start_send(attempt_t *a, const char *k_ep)
{
    char k_ch[SB_KEY_MAX], k_tenant[SB_KEY_MAX];
    sb_key_tenant(k_ch, a->tenant, "channels");
    sb_key_tenant(k_tenant, a->tenant, "tenant");
    const char *argv[] = {k_ch, k_ep, k_tenant, a->ch};
    if (d_eval(a->d, &sb_script_send_prepare, 3, 4, argv, on_send_prepared, a) < 0)
        attempt_free(a);
}

static void in_refill(sb_delivery_t *d);

static void on_inbound_done(void *data)
{
    sb_delivery_t *d = data;
    d->inflight[LANE_IN]--;
    if (!d->closing) {
        if (d->in_idle)
            read_next(d);
        else
            in_refill(d);
    }
    d_called_back(d);
}

static void start_attempt(sb_delivery_t *d, int lane, const char *entry, const char *json, size_t len)
{
    if (lane == LANE_IN) {
        d->inflight[LANE_IN]++;
        d->store_pending++;
        sb_inbound_process(d->store, d->cfg, d->consumer, entry, json, len, on_inbound_done, d);
        return;
    }
    attempt_t *a = sb_calloc(1, sizeof(*a));
    a->d = d;
    a->lane = lane;
    a->outcome = SB_OUTCOME_DEAD;
    d->inflight[lane]++;
    snprintf(a->entry, sizeof(a->entry), "%s", entry);
    a->dj = cJSON_ParseWithLength(json, len);
    a->id = jstr(a->dj, "id");
    a->tenant = jstr(a->dj, "t");
    a->event = jstr(a->dj, "ev");
    a->url = jstr(a->dj, "url");
    a->ep = jstr(a->dj, "ep");
    a->body = jstr(a->dj, "body");
    const char *kind = jstr(a->dj, "k");
    bool send = kind && strcmp(kind, "send") == 0;
    if (send && !send_parse(a))
        a->id = NULL; /* malformed: dropped below */
    if (kind && strcmp(kind, "agent") == 0) {
        a->agent = jstr(a->dj, "ag");
        a->conv = jstr(a->dj, "cid");
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
        const char *argv[] = {"XACK", lane_keys[lane], SB_Q_GROUP, entry};
        sb_store_cmd(d->store, NULL, NULL, 4, argv, NULL);
        attempt_free(a);
        return;
    }
    if (send) {
        start_send(a, k_ep);
        return;
    }
    char key[96];
    prep_entry_t *e = prep_slot(d, a->tenant, a->ep, a->agent, key);
    if (e->expires > uv_now(d->loop) && strcmp(e->key, key) == 0) {
        send_attempt(a, e->secret.current, e->secret.previous, e->enabled);
        return;
    }
    char now_s[24], k_agents[SB_KEY_MAX];
    snprintf(now_s, sizeof(now_s), "%lld", (long long)sb_now_ms());
    sb_key_tenant(k_agents, a->tenant, "agents");
    const char *argv[] = {k_secret, k_ep, k_agents, now_s, a->agent ? a->agent : ""};
    if (d_eval(d, &sb_script_prepare, 3, 5, argv, on_prepared, a) < 0)
        attempt_free(a);
}

/* Entries as XREADGROUP / XCLAIM return them: [id, [field, value, ...]]. */
static void start_entries(sb_delivery_t *d, int lane, const redisReply *entries)
{
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const redisReply *f = e->element[1];
        if (f->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t k = 0; k + 1 < f->elements; k += 2)
            if (f->element[k]->str && strcmp(f->element[k]->str, "d") == 0)
                start_attempt(d, lane, e->element[0]->str, f->element[k + 1]->str, f->element[k + 1]->len);
    }
}

/* ---------- consuming ---------- */

static void on_groups(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_delivery_t *d = data;
    d->groups_pending = false;
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        d->groups_ready = true;
        read_next(d);
    }
}

static void ensure_groups(sb_delivery_t *d)
{
    if (d->groups_pending || d->closing)
        return;
    const char *argv[] = {SB_Q_FRESH, SB_Q_RETRY, SB_Q_IN, SB_Q_GROUP};
    if (sb_store_eval(d->qstore, &sb_script_groups, 3, 4, argv, NULL, on_groups, d) == 0)
        d->groups_pending = true;
}

/* The streams of an XREADGROUP answer: their entries started, each in its lane. Entries of the
 * inbound lane put it in backlog mode (refilled apart until caught up); returns how many. */
static size_t start_streams(sb_delivery_t *d, const redisReply *reply)
{
    size_t inbound = 0;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *s = reply->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || !s->element[0]->str)
            continue;
        int lane = LANE_FRESH;
        for (int l = 0; l < NLANES; l++)
            if (strcmp(s->element[0]->str, lane_keys[l]) == 0)
                lane = l;
        start_entries(d, lane, s->element[1]);
        if (lane == LANE_IN && s->element[1]->type == REDIS_REPLY_ARRAY)
            inbound += s->element[1]->elements;
    }
    if (inbound && d->in_ready)
        d->in_idle = false;
    return inbound;
}

static void on_in_read(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_delivery_t *d = data;
    d->in_reading = false;
    /* Nothing (caught up, or the read failed: the blocking read and its recovery take over):
     * new entries come with the blocking read. */
    if (!d->closing && d->in_ready && start_streams(d, reply) == 0) {
        d->in_idle = true;
        read_next(d);
    }
    d_called_back(d);
}

/* The inbound lane's own reads while it has a backlog: no BLOCK, on the loop's connection, so
 * the entries' scripts follow on the same connection in order. */
static void in_refill(sb_delivery_t *d)
{
    unsigned budget = lane_budget[LANE_IN], used = d->inflight[LANE_IN];
    if (!d->in_ready || d->in_idle || d->in_reading || d->closing || used > budget / 2)
        return;
    char count_s[16];
    snprintf(count_s, sizeof(count_s), "%u", budget - used);
    const char *argv[] = {"XREADGROUP", "GROUP", SB_Q_GROUP, d->consumer, "COUNT", count_s, "STREAMS", SB_Q_IN, ">"};
    if (d_pending(d, sb_store_cmd(d->store, on_in_read, d, SB_ARRAY_SIZE(argv), argv, NULL)) == 0)
        d->in_reading = true;
    else
        d->in_idle = true; /* no connection: the blocking read's turn */
}

static void on_read(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_delivery_t *d = data;
    d->reading = false;
    if (d->closing)
        return;
    if (!reply)
        return; /* connection trouble: the tick tries again */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0) { /* Redis restarted empty: re-create, don't spin */
            d->groups_ready = false;
            ensure_groups(d);
        }
        return;
    }
    start_streams(d, reply);
    read_next(d);
}

static void read_next(sb_delivery_t *d)
{
    if (d->reading || d->closing || !d->groups_ready || !sb_store_ready(d->qstore))
        return;
    bool open[NLANES];
    unsigned room = READ_BATCH, nopen = 0, nworked = d->in_ready ? NLANES : NLANES - 1;
    for (int l = 0; l < NLANES; l++) {
        open[l] = (l != LANE_IN || (d->in_ready && d->in_idle)) && d->inflight[l] < lane_budget[l];
        if (open[l]) {
            nopen++;
            room = SB_MIN(room, lane_budget[l] - d->inflight[l]);
        }
    }
    if (!nopen)
        return; /* an attempt finishing calls us again */
    char count_s[16], block_s[16];
    snprintf(count_s, sizeof(count_s), "%u", room);
    /* Stay well inside the per-command deadline. With a lane left out (its budget is full, or
     * the inbound lane refilled apart) the read blocks only briefly, so that a lane coming back
     * is read again soon rather than after the long block. */
    unsigned block = nopen == nworked ? SB_MIN(1000u, d->cfg->redis_timeout_ms / 2) : 10u;
    snprintf(block_s, sizeof(block_s), "%u", block);
    const char *argv[9 + 2 * NLANES] = {"XREADGROUP", "GROUP", SB_Q_GROUP, d->consumer, "COUNT",
                                        count_s,      "BLOCK", block_s,    "STREAMS"};
    int argc = 9;
    for (int l = 0; l < NLANES; l++)
        if (open[l])
            argv[argc++] = lane_keys[l];
    for (int l = 0; l < NLANES; l++)
        if (open[l])
            argv[argc++] = ">";
    if (sb_store_cmd(d->qstore, on_read, d, argc, argv, NULL) == 0)
        d->reading = true;
}

static void on_qstore_ready(void *data)
{
    sb_delivery_t *d = data;
    d->reading = false;
    d->groups_ready = false;
    ensure_groups(d);
}

/* ---------- the tick ---------- */

static void on_promoted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    SB_UNUSED(reply);
    sb_delivery_t *d = data;
    d->promote_busy = false;
    d_called_back(d);
}

static void on_paced(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    SB_UNUSED(reply);
    sb_delivery_t *d = data;
    d->pace_busy = false;
    d_called_back(d);
}

typedef struct reclaim_ctx {
    sb_delivery_t *d;
    int lane;
} reclaim_ctx_t;

static void on_reclaimed_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    reclaim_ctx_t *c = data;
    sb_delivery_t *d = c->d;
    d->reclaim_busy[c->lane] = false;
    if (reply && reply->type == REDIS_REPLY_ARRAY && !d->closing) {
        if (reply->elements)
            sb_log(SB_LOG_INFO, "took over queue entries", "\"count\":%zu,\"lane\":\"%s\"", reply->elements,
                   lane_keys[c->lane]);
        start_entries(d, c->lane, reply);
    }
    sb_free(c);
}

static void on_reclaimed(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((reclaim_ctx_t *)data)->d;
    on_reclaimed_body(st, reply, data);
    d_called_back(d);
}

static void on_depth_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_delivery_t *d = data;
    d->depth_busy = false;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 4)
        for (int i = 0; i < 4; i++)
            __atomic_store_n(&d->metrics->queue_depth[i], (uint64_t)reply->element[i]->integer, __ATOMIC_RELAXED);
}

static void on_depth(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = data;
    on_depth_body(st, reply, data);
    d_called_back(d);
}

static void on_idle_swept(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_delivery_t *d = data;
    d->idle_busy = false;
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
        sb_log(SB_LOG_INFO, "closed idle conversations", "\"count\":%lld", (long long)reply->integer);
    d_called_back(d);
}

static void on_purged(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_delivery_t *d = data;
    d->purge_busy = false;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 && reply->element[0]->str &&
        reply->element[0]->len) {
        d->next_purge = uv_now(d->loop) + PURGE_BUSY_MS; /* more of it, or another tenant, next */
        if (reply->element[2]->integer == 1)
            sb_log(SB_LOG_INFO, "deleted tenant's keys removed", "\"tenant_id\":\"%.64s\"", reply->element[0]->str);
    }
    d_called_back(d);
}

/* ---------- the inbound lease ---------- */

static void on_taken_over(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_delivery_t *d = data;
    if (d->in_held && !d->closing) {
        if (reply && reply->type == REDIS_REPLY_ARRAY) {
            if (reply->elements)
                sb_log(SB_LOG_INFO, "took over inbound entries", "\"count\":%zu", reply->elements);
            start_entries(d, LANE_IN, reply); /* sent before any newer entry is read */
            d->in_ready = true;
            d->in_idle = false; /* a backlog, perhaps: read apart until caught up */
            in_refill(d);
            read_next(d);
        } else {
            d->in_held = false; /* ask again at the next renewal; the takeover with it */
        }
    }
    d_called_back(d);
}

static void on_lease(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_delivery_t *d = data;
    d->lease_busy = false;
    long long r = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
    if (d->closing) {
        /* sb_delivery_close gives up what it knew of; a lease taken meanwhile ends by itself */
    } else if (r == 2 || (r == 1 && !d->in_held)) {
        /* Taken: first whatever former holders left pending, then new entries. */
        if (d->in_held)
            sb_log(SB_LOG_WARN, "inbound lease had run out; taking it over again", NULL);
        d->in_held = true;
        d->in_ready = false;
        const char *argv[] = {SB_Q_IN, SB_Q_GROUP, d->consumer, TAKEOVER_MAX};
        if (d_eval(d, &sb_script_inbound_takeover, 1, 4, argv, on_taken_over, d) < 0)
            d->in_held = false;
    } else if (r == 0 && d->in_held) {
        /* Another consumer has it, or Redis did not answer: stop taking entries either way (the
         * storing script refuses them unless the lease is ours); a later answer of 1 or 2 takes
         * it over again. */
        sb_log(SB_LOG_WARN,
               reply && reply->type == REDIS_REPLY_INTEGER ? "inbound lease lost to another consumer"
                                                           : "inbound lease not renewed (no answer)",
               NULL);
        d->in_held = d->in_ready = false;
    }
    d_called_back(d);
}

static void lease_step(sb_delivery_t *d, uint64_t now)
{
    if (d->lease_busy || (d->in_held && !d->in_ready) || now - d->last_lease < LEASE_RENEW_MS)
        return;
    d->last_lease = now;
    const char *argv[] = {SB_Q_IN_LEASE, d->consumer, LEASE_MS};
    if (d_eval(d, &sb_script_inbound_lease, 1, 3, argv, on_lease, d) == 0)
        d->lease_busy = true;
}

static void on_tick(uv_timer_t *t)
{
    sb_delivery_t *d = t->data;
    if (d->closing || !sb_store_ready(d->store))
        return;
    uint64_t now = uv_now(d->loop);
    int64_t wall = sb_now_ms();
    char wall_s[24];
    snprintf(wall_s, sizeof(wall_s), "%lld", (long long)wall);

    if (!d->groups_ready)
        ensure_groups(d);
    else if (!d->reading)
        read_next(d);
    if (d->groups_ready)
        lease_step(d, now);
    in_refill(d); /* a backlog whose refill found no slot free at the time */

    if (!d->promote_busy && now - d->last_promote >= 100) {
        d->last_promote = now;
        const char *argv[] = {SB_Q_DELAY, SB_Q_RETRY, SB_PACE_DUE, wall_s, "200", "sb:pace:"};
        if (d_eval(d, &sb_script_promote, 3, 6, argv, on_promoted, d) == 0)
            d->promote_busy = true;
    }
    if (!d->pace_busy) {
        enum { NGAPS = 16 };
        char gaps[NGAPS][16];
        const char *argv[5 + NGAPS] = {SB_PACE_DUE, SB_Q_FRESH, wall_s, "sb:pace:", "16"};
        for (int i = 0; i < NGAPS; i++) {
            snprintf(gaps[i], sizeof(gaps[i]), "%u", pace_gap(d->cfg));
            argv[5 + i] = gaps[i];
        }
        if (d_eval(d, &sb_script_pace_tick, 2, 3 + NGAPS, argv, on_paced, d) == 0)
            d->pace_busy = true;
    }
    if (d->index == 0 && d->cfg->conversation_idle_ms && !d->idle_busy && now - d->last_idle >= IDLE_SWEEP_MS) {
        d->last_idle = now;
        sb_event_cx_t cx;
        sb_event_cx_init(&cx, d->cfg);
        char cutoff[24];
        snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(wall - (int64_t)d->cfg->conversation_idle_ms));
        const char *argv[] = {cx.json, cutoff, "100"};
        if (d_eval(d, &sb_script_conv_idle, 0, 3, argv, on_idle_swept, d) == 0)
            d->idle_busy = true;
        sb_event_cx_free(&cx);
    }
    if (d->index == 0 && !d->purge_busy && now >= d->next_purge) {
        d->next_purge = now + PURGE_IDLE_MS;
        const char *argv[] = {SB_PURGE, PURGE_STEP_KEYS};
        if (d_eval(d, &sb_script_tenant_purge, 1, 2, argv, on_purged, d) == 0)
            d->purge_busy = true;
    }
    if (now - d->last_hb >= HEARTBEAT_MS) {
        d->last_hb = now;
        const char *argv[] = {"SET", d->hb_key, "1", "PX", "10000"};
        sb_store_cmd(d->store, NULL, NULL, 5, argv, NULL);
    }
    if (now - d->last_reclaim >= RECLAIM_MS && d->groups_ready) {
        d->last_reclaim = now;
        char vis[16];
        snprintf(vis, sizeof(vis), "%u", VISIBILITY_MS);
        for (int lane = 0; lane < NLANES; lane++) {
            if (d->reclaim_busy[lane] || d->inflight[lane] >= lane_budget[lane] || (lane == LANE_IN && !d->in_ready))
                continue;
            reclaim_ctx_t *c = sb_malloc(sizeof(*c));
            c->d = d;
            c->lane = lane;
            const char *argv[] = {lane_keys[lane], SB_Q_RECV, SB_Q_GROUP, d->consumer, "sb:hb:", vis, "32", "5",
                                  wall_s};
            if (d_eval(d, &sb_script_reclaim, 2, 9, argv, on_reclaimed, c) == 0)
                d->reclaim_busy[lane] = true;
            else
                sb_free(c);
        }
    }
    if (d->index == 0 && !d->depth_busy && now - d->last_depth >= DEPTH_MS) {
        d->last_depth = now;
        const char *argv[] = {SB_Q_FRESH, SB_Q_RETRY, SB_Q_DELAY, SB_Q_DEAD};
        if (d_eval(d, &sb_script_queue_depth, 4, 4, argv, on_depth, d) == 0)
            d->depth_busy = true;
    }
}

/* ---------- lifecycle ---------- */

sb_delivery_t *sb_delivery_new(uv_loop_t *loop, const sb_config_t *cfg, sb_metrics_t *metrics, sb_store_t *store,
                               unsigned loop_index)
{
    sb_delivery_t *d = sb_calloc(1, sizeof(*d));
    d->loop = loop;
    d->cfg = cfg;
    d->metrics = metrics;
    d->store = store;
    d->index = loop_index;
    d->qstore = sb_store_new(loop, cfg, metrics);
    sb_store_set_reports_up(d->qstore, false);
    sb_store_on_ready(d->qstore, on_qstore_ready, d);
    d->client = sb_client_new(loop, cfg);
    d->prep = sb_calloc(PREP_SLOTS, sizeof(prep_entry_t));
    unsigned char r[4];
    sb_random_bytes(r, sizeof(r));
    snprintf(d->consumer, sizeof(d->consumer), "%s:%d:%u:%02x%02x%02x%02x", cfg->instance_id ? cfg->instance_id : "sb",
             (int)getpid(), loop_index, r[0], r[1], r[2], r[3]);
    snprintf(d->hb_key, sizeof(d->hb_key), "sb:hb:%s", d->consumer);
    uv_timer_init(loop, &d->tick);
    d->tick.data = d;
    return d;
}

void sb_delivery_start(sb_delivery_t *d)
{
    if (!d->cfg->process_queues)
        return; /* an HTTP-only instance: its client still serves the command flow */
    sb_store_start(d->qstore);
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
}

sb_client_t *sb_delivery_client(sb_delivery_t *d)
{
    return d->client;
}

static void engine_free(sb_delivery_t *d)
{
    sb_free(d->prep);
    sb_free(d);
}

static void part_closed(sb_delivery_t *d)
{
    if (--d->pending_closes > 0)
        return;
    /* The owner may now close the loop's store; its pending callbacks still find the engine. */
    if (d->done)
        d->done(d->done_data);
    d->parts_closed = true;
    if (d->store_pending == 0)
        engine_free(d);
}

static void on_client_closed(void *data)
{
    part_closed(data);
}

static void on_qstore_closed(sb_store_t *st, void *data)
{
    SB_UNUSED(st);
    part_closed(data);
}

static void on_tick_closed(uv_handle_t *h)
{
    part_closed(h->data);
}

static void on_lease_released(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    SB_UNUSED(reply);
    part_closed(data);
}

void sb_delivery_close(sb_delivery_t *d, void (*done)(void *), void *data)
{
    d->closing = true;
    d->done = done;
    d->done_data = data;
    d->pending_closes = 3;
    if (d->in_held) {
        /* The next holder need not wait for the lease to run out. The loop's store closes once
         * the engine is closed, so the engine waits for this answer (or the command deadline). */
        const char *argv[] = {SB_Q_IN_LEASE, d->consumer, "0"};
        if (sb_store_eval(d->store, &sb_script_inbound_lease, 1, 3, argv, NULL, on_lease_released, d) == 0)
            d->pending_closes++;
        d->in_held = d->in_ready = false;
    }
    uv_timer_stop(&d->tick);
    uv_close((uv_handle_t *)&d->tick, on_tick_closed);
    sb_client_close(d->client, on_client_closed, d);
    sb_store_close(d->qstore, on_qstore_closed, d);
}
