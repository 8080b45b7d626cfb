/* Channels (docs/channels.md): the bindings of platform identities to tenants, the inbound
 * webhooks of Slack, Telegram and WhatsApp, and the processing of the inbound queue. */
#ifndef SWITCHBOARD_CHANNELS_H
#define SWITCHBOARD_CHANNELS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "switchboard/config.h"
#include "switchboard/http.h"
#include "switchboard/store.h"

#define SB_BINDING_FIELD_MAX 192

/* A channel binding as the handlers see it. */
typedef struct sb_binding {
    char field[SB_BINDING_FIELD_MAX]; /* the index field it was found by */
    uint64_t expires;                 /* uv_now() ms */
    bool found;
    char tid[37], cid[37], agent[37], type[16];
    cJSON *rec;       /* the channel record (owned) */
    const cJSON *cfg; /* its config */
} sb_binding_t;

/* The per-loop cache of bindings (found and unknown), kept --binding-cache-ms. */
typedef struct sb_bindings sb_bindings_t;
sb_bindings_t *sb_bindings_new(void);
void sb_bindings_free(sb_bindings_t *b);

/* Finds the binding of an index field ("slack:T123", ...): cb runs with it (NULL when there is
 * none), at once from the cache or after one script. A store failure is answered (503) and cb
 * does not run. The binding is valid only during cb. */
typedef void (*sb_binding_cb)(sb_req_t *req, const sb_binding_t *b);
void sb_binding_find(sb_req_t *req, const char *field, sb_binding_cb cb);

/* A config secret and its rotation twin ("<name>Previous"): true when check(secret) holds for
 * either. Missing secrets never match. */
const char *sb_binding_secret(const sb_binding_t *b, const char *name, bool previous);

/* Inbound handlers (routes.c) */
void sb_webhook_slack(sb_req_t *req);
void sb_webhook_telegram(sb_req_t *req);
void sb_webhook_whatsapp_verify(sb_req_t *req);
void sb_webhook_whatsapp(sb_req_t *req);

/* The delivery engine hands each entry of the inbound queue here (lane sb:q:in). done(data)
 * runs when the entry is settled (acknowledged, or left pending after a store failure). */
void sb_inbound_process(sb_store_t *st, const sb_config_t *cfg, const char *entry, const char *json, size_t len,
                        void (*done)(void *data), void *data);

/* Slack request proof (pure, for tests): 0 when sig is "v0=" + hex HMAC-SHA256(secret,
 * "v0:" ts ":" body) and ts is within 300 s of now_s; -EPERM otherwise. */
int sb_slack_signature_ok(const char *secret, const char *sig, size_t siglen, const char *ts, size_t tslen,
                          const char *body, size_t n, int64_t now_s);
/* "sha256=" + hex HMAC-SHA256(secret, body) (WhatsApp, Meta): 0 or -EPERM. */
int sb_hub_signature_ok(const char *secret, const char *sig, size_t siglen, const char *body, size_t n);

#endif
