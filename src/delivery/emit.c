/* The emit API: `emit event X for tenant T with data D`. One script call fans the event out
 * to every subscribed, enabled endpoint (into the queue, or into its pacing line). */
#include <stdio.h>
#include <string.h>

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
    char k_check[SB_KEY_MAX];
    if (sb_key_tenant(k_check, tenant_id, "") < 0)
        return -EINVAL;
    char *json = cJSON_PrintUnformatted(data);
    if (!json)
        return -ENOMEM;
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, cfg);
    const char *argv[] = {cx.json, tenant_id, event, json};
    emit_ctx_t *c = sb_malloc(sizeof(*c));
    c->cb = cb;
    c->data = cbdata;
    int rc = sb_store_eval(st, &sb_script_emit, 0, SB_ARRAY_SIZE(argv), argv, NULL, on_emitted, c);
    cJSON_free(json);
    sb_event_cx_free(&cx);
    if (rc < 0)
        sb_free(c);
    return rc;
}
