/* The emit API: `emit event X for tenant T with data D`. One script call fans the event out
 * to every subscribed, enabled endpoint (into the queue, or into its pacing line). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "switchboard/alloc.h"
#include "switchboard/crypto.h"
#include "switchboard/delivery.h"
#include "switchboard/text.h"

static const char *const events[] = {
    "dialog_created",      "dialog_reopened",     "dialog_closed",     "message_received", "message_sent",
    "message_intercepted", "yeni_chat",           "yeni_ticket",       "chat_kapandi",     "ticket_cozuldu",
    "memnuniyet_puan",     "operator_cevrimdisi", "endpoint_disabled",
};

bool sb_event_known(const char *name)
{
    for (size_t i = 0; i < SB_ARRAY_SIZE(events); i++)
        if (strcmp(events[i], name) == 0)
            return true;
    return false;
}

bool sb_command_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 2 || n > 33 || name[0] != '/')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

void sb_endpoint_id(const char *url, char out[17])
{
    unsigned char d[32];
    sb_sha256(url, strlen(url), d);
    sb_hex_encode(d, 8, out);
}

typedef struct emit_ctx {
    sb_emit_cb cb;
    void *data;
} emit_ctx_t;

static void on_emitted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    emit_ctx_t *c = data;
    if (c->cb)
        c->cb(c->data, reply && reply->type == REDIS_REPLY_ARRAY ? 0 : -EAGAIN, reply);
    sb_free(c);
}

int sb_emit(sb_store_t *st, const sb_config_t *cfg, const char *tenant_id, const char *event, const cJSON *data,
            sb_emit_cb cb, void *cbdata)
{
    char k_subs[SB_KEY_MAX], k_secret[SB_KEY_MAX], ep_prefix[SB_KEY_MAX], t_prefix[SB_KEY_MAX];
    if (sb_key_tenant(k_subs, tenant_id, "subs") < 0 || sb_key_tenant(k_secret, tenant_id, "whsecret") < 0 ||
        sb_key_tenant(ep_prefix, tenant_id, "ep:") < 0 || sb_key_tenant(t_prefix, tenant_id, "") < 0)
        return -EINVAL;
    char *json = cJSON_PrintUnformatted(data);
    if (!json)
        return -ENOMEM;
    /* seed 001: "YYYY-MM-DD HH:MM:SS" (UTC); seed 003 envelopes take RFC 3339 */
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32], rfc[32], eid[33], nowms[24];
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    int64_t ms = 0;
    {
        struct timespec tsp;
        clock_gettime(CLOCK_REALTIME, &tsp);
        ms = (int64_t)tsp.tv_sec * 1000 + tsp.tv_nsec / 1000000;
    }
    sb_time_rfc3339(ms, rfc);
    unsigned char raw[16];
    sb_random_bytes(raw, sizeof(raw));
    sb_hex_encode(raw, sizeof(raw), eid);
    snprintf(nowms, sizeof(nowms), "%lld", (long long)ms);
    const char *argv[] = {k_subs,      k_secret,   SB_Q_FRESH,
                          SB_PACE_DUE, event,      json,
                          ts,          rfc,        cfg->instance_id ? cfg->instance_id : "",
                          eid,         nowms,      tenant_id,
                          ep_prefix,   "sb:pace:", t_prefix};
    emit_ctx_t *c = sb_malloc(sizeof(*c));
    c->cb = cb;
    c->data = cbdata;
    int rc = sb_store_eval(st, &sb_script_emit, 4, SB_ARRAY_SIZE(argv), argv, NULL, on_emitted, c);
    cJSON_free(json);
    if (rc < 0)
        sb_free(c);
    return rc;
}
