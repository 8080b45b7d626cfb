/* A webhook attempt (engine.h): an event, test or agent delivery to a subscriber's URL.
 * `prepare` (one script: the tenant's or agent's secrets and whether the endpoint is enabled,
 * kept per loop for 1 s), signing (sign.c), the send with the loop's HTTP client, the outcome
 * under SPEC 8 (outcome.h), and an agent's reply in its answer (SPEC 6), added to the
 * conversation before the delivery is recorded. It may call the store, the client, conv.h's
 * reply, sign.c, outcome.h and attempt.c. */
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "switchboard/alloc.h"
#include "switchboard/channels.h"
#include "switchboard/clock.h"
#include "switchboard/conv.h"
#include "switchboard/hash.h"
#include "switchboard/json.h"
#include "switchboard/text.h"
#include "switchboard/validate.h"

#define PREP_SLOTS  1024
#define PREP_TTL_MS 1000 /* secrets and enabled state may be this stale: one script less per attempt */

struct sb__prep_entry {
    char key[96]; /* tenant id / endpoint id / agent id */
    uint64_t expires;
    bool enabled;
    sb_webhook_secret_t secret;
};

void sb__webhook_init(sb_delivery_t *d)
{
    d->prep = sb_calloc(PREP_SLOTS, sizeof(sb__prep_entry_t));
}

void sb__webhook_free(sb_delivery_t *d)
{
    sb_free(d->prep);
}

static sb__prep_entry_t *prep_slot(sb_delivery_t *d, const char *tenant, const char *ep, const char *agent,
                                   char key[96])
{
    snprintf(key, 96, "%s/%s/%s", tenant, ep, agent ? agent : "");
    return &d->prep[sb_fnv1a_str(key) % PREP_SLOTS];
}

static void webhook_forget(sb__attempt_t *a)
{
    char key[96];
    sb__prep_entry_t *e = prep_slot(a->d, a->tenant, a->ep, a->agent, key);
    e->expires = 0;
}

/* ---------- the answer ---------- */

/* The agent's answer (SPEC 6, docs/messages.md): a JSON object whose "reply" (or "message") is
 * a non-empty string, or a content object {text, buttons, cards, attachments}. Returns 1 with c
 * filled (sb_content_free; *o holds what c points into), 0 when the answer carries no reply,
 * -EINVAL with e when its content object is invalid. */
static int agent_reply(const char *body, size_t len, cJSON **o, sb_content_t *c, sb_verr_t *e)
{
    char err[SB_JSON_ERR_MAX];
    *o = sb_json_parse(body, len, err); /* an answer that fails it carries no reply */
    const char *names[] = {"reply", "message"};
    for (size_t k = 0; k < SB_ARRAY_SIZE(names); k++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(*o, names[k]);
        const char *t = cJSON_GetStringValue(v);
        if (t && t[0] && sb_utf8_valid(t, strlen(t))) {
            /* a plain string: cut to the model's length (as it always was) */
            char *cut = sb_malloc(strlen(t) + 1);
            sb_utf8_excerpt(t, strlen(t), SB_MSG_TEXT_MAX, cut);
            v = cJSON_CreateString(cut);
            sb_free(cut);
            cJSON_ReplaceItemInObjectCaseSensitive(*o, names[k], v);
            sb_content_text(c, v->valuestring);
            return 1;
        }
        if (cJSON_IsObject(v)) {
            if (sb_content_parse(v, SB_CONTENT_RICH, NULL, c, e) < 0) {
                char f[sizeof(e->field) + 8];
                snprintf(f, sizeof(f), "%s.%s", names[k], e->field);
                snprintf(e->field, sizeof(e->field), "%.*s", (int)sizeof(e->field) - 1, f);
                return -EINVAL;
            }
            return 1;
        }
    }
    return 0;
}

/* An answer whose reply cannot be added: final (the same answer would come again). */
static void reply_refused(sb__attempt_t *a, const char *field, const char *detail)
{
    char err[sizeof(((sb_verr_t *)0)->detail) + sizeof(((sb_verr_t *)0)->field) + 32];
    snprintf(err, sizeof(err), "reply refused (%.95s): %.223s", field, detail);
    a->outcome = SB_OUTCOME_FAILED;
    sb__record_outcome(a, "dead", err, true, 0);
}

static void on_agent_reply_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb__attempt_t *a = data;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        sb__attempt_free(a); /* not recorded: the delivery is taken over and the reply added once */
        return;
    }
    if (reply->elements == 3 && reply->element[0]->str && strcmp(reply->element[0]->str, "UNFIT") == 0)
        reply_refused(a, reply->element[1]->str, reply->element[2]->str ? reply->element[2]->str : "");
    else
        sb__record_outcome(a, "success", NULL, true, 0);
}

static void on_agent_reply(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((sb__attempt_t *)data)->d;
    on_agent_reply_body(st, reply, data);
    sb__d_called_back(d);
}

/* Success: an agent's answer may carry its reply, added before the delivery is recorded. */
static void succeeded(sb__attempt_t *a, const sb_client_resp_t *resp)
{
    cJSON *o = NULL;
    sb_content_t c;
    sb_verr_t e;
    int found = a->agent && a->conv ? agent_reply(resp->body, resp->body_len, &o, &c, &e) : 0;
    if (found <= 0) {
        cJSON_Delete(o);
        if (found < 0)
            reply_refused(a, e.field, e.detail);
        else
            sb__record_outcome(a, "success", NULL, true, 0);
        return;
    }
    /* Added before the delivery is acknowledged, keyed by the delivery id: a retry after a crash
     * between the two adds nothing. */
    char sender[96], once[64];
    snprintf(sender, sizeof(sender), "{\"type\":\"agent\",\"id\":\"%.40s\"}", a->agent);
    snprintf(once, sizeof(once), "reply:%.50s", a->id);
    char *unfit = sb_content_unfit(&c);
    int rc = sb__d_pending(
        a->d, sb_conv_reply(a->d->store, a->d->cfg, a->tenant, a->conv, sender, &c, unfit, once, on_agent_reply, a));
    sb_free(unfit);
    sb_content_free(&c);
    cJSON_Delete(o);
    if (rc < 0)
        sb__attempt_free(a);
}

static void on_response(void *data, const sb_client_resp_t *resp)
{
    sb__attempt_t *a = data;
    if (resp->error == SB_CLIENT_ERR_SHUTDOWN) {
        sb__attempt_free(a); /* stopping: leave the entry for whoever takes it over */
        return;
    }
    a->resp = *resp;
    a->resp.body = NULL;
    a->resp_body = sb__excerpt(resp->body, resp->body_len, SB__RESPONSE_EXCERPT_CHARS);
    sb_metrics_observe_attempt(a->d->metrics, resp->latency_us);
    sb_attempt_result_t r = {.kind = SB_ATTEMPT_WEBHOOK,
                             .error = resp->error,
                             .error_text = resp->error_text,
                             .status = resp->status,
                             .retry_after_s = resp->retry_after_s,
                             .answer = SB_ANSWER_ACCEPTED,
                             .attempt = a->n};
    sb_outcome_t o;
    sb_outcome_decide(&r, &a->d->retry, &o);
    switch (o.verdict) {
    case SB_VERDICT_SUCCESS: succeeded(a, resp); break;
    case SB_VERDICT_RETRY: sb__record_outcome(a, "retry", o.error, true, o.delay_ms); break;
    case SB_VERDICT_GONE: sb__record_outcome(a, "gone", o.error, true, 0); break;
    case SB_VERDICT_FINAL:
        a->outcome = SB_OUTCOME_FAILED;
        sb__record_outcome(a, "dead", o.error, true, 0);
        break;
    case SB_VERDICT_EXHAUSTED: sb__record_outcome(a, "dead", o.error, true, 0); break;
    }
}

/* ---------- an attempt ---------- */

/* Signs and sends once the tenant's secrets and the endpoint's state are known. */
static void send_attempt(sb__attempt_t *a, const char *current, const char *previous, bool enabled)
{
    sb_delivery_t *d = a->d;
    if (!current[0]) {
        /* No webhook secret: the tenant was deleted. Acknowledge and forget, write nothing. */
        sb__record_outcome(a, "drop", NULL, false, 0);
        return;
    }
    if (!enabled) {
        a->outcome = SB_OUTCOME_DEAD;
        sb__record_outcome(a, "skip", "endpoint disabled", false, 0);
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
        sb__record_outcome(a, "dead", "invalid URL", true, 0);
    }
}

static void on_prepared_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb__attempt_t *a = data;
    sb_delivery_t *d = a->d;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 || d->closing) {
        sb__attempt_free(a);
        return;
    }
    const char *current = reply->element[0]->str ? reply->element[0]->str : "";
    const char *previous = reply->element[1]->str ? reply->element[1]->str : "";
    bool enabled = !(reply->element[2]->str && strcmp(reply->element[2]->str, "0") == 0);
    char key[96];
    sb__prep_entry_t *e = prep_slot(d, a->tenant, a->ep, a->agent, key);
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->expires = uv_now(d->loop) + PREP_TTL_MS;
    e->enabled = enabled;
    snprintf(e->secret.current, sizeof(e->secret.current), "%s", current);
    snprintf(e->secret.previous, sizeof(e->secret.previous), "%s", previous);
    send_attempt(a, current, previous, enabled);
}

static void on_prepared(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((sb__attempt_t *)data)->d;
    on_prepared_body(st, reply, data);
    sb__d_called_back(d);
}

static void webhook_start(sb__attempt_t *a, const char *k_secret, const char *k_ep)
{
    sb_delivery_t *d = a->d;
    char key[96];
    sb__prep_entry_t *e = prep_slot(d, a->tenant, a->ep, a->agent, key);
    if (e->expires > uv_now(d->loop) && strcmp(e->key, key) == 0) {
        send_attempt(a, e->secret.current, e->secret.previous, e->enabled);
        return;
    }
    char now_s[24], k_agents[SB_KEY_MAX];
    snprintf(now_s, sizeof(now_s), "%lld", (long long)sb_now_ms());
    sb_key_tenant(k_agents, a->tenant, "agents");
    const char *argv[] = {k_secret, k_ep, k_agents, now_s, a->agent ? a->agent : ""};
    if (sb__d_eval(d, &sb_script_prepare, 3, 5, argv, on_prepared, a) < 0)
        sb__attempt_free(a);
}

const sb__attempt_kind_t sb__webhook_kind = {NULL, webhook_start, webhook_forget};
