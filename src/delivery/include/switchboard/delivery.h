/* The delivery engine (docs/deliveries.md): subscriptions fan events out into a Redis Streams
 * queue shared by every instance; each loop thread consumes it with its own Redis connection,
 * sends with the non-blocking client, and records every outcome (success, scheduled retry,
 * dead letter) in one script that also acknowledges the entry. Files: engine.c (the
 * composition of one loop's engine), jobs.c (the job runner, jobs.h), attempt.c (an attempt's
 * entry and its recorded outcome), webhook.c (event and agent deliveries), send.c (platform
 * sends), outcome.c (SPEC 8's outcomes and the retry schedule, outcome.h), sweeps.c (retry
 * promotion, pacing, idle close, tenant purge, queue depth), emit.c (fan-out), sign.c
 * (signatures), commands.c. */
#ifndef SWITCHBOARD_DELIVERY_H
#define SWITCHBOARD_DELIVERY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <uv.h>

#include "switchboard/client.h"
#include "switchboard/config.h"
#include "switchboard/conv.h"
#include "switchboard/metrics.h"
#include "switchboard/store.h"

typedef struct sb_delivery sb_delivery_t;

#define SB_COMMAND_TIMEOUT_MS 3000
#define SB_COMMAND_MAX_CHARS  4096

/* client: the loop's HTTP client, borrowed; it must outlive the engine's attempts (close order:
 * sb_delivery_close, then the client, then sb_delivery_free). */
sb_delivery_t *sb_delivery_new(uv_loop_t *loop, const sb_config_t *cfg, sb_metrics_t *metrics, sb_store_t *store,
                               sb_client_t *client, unsigned loop_index);
/* The inbound queue's job (docs/channels.md "Order"), as sb_inbound_process
 * (src/channels/inbound.c) is: store one entry as the consumer `owner`, then done(data). */
typedef void (*sb_inbound_fn)(sb_store_t *st, const sb_config_t *cfg, const char *owner, const char *entry,
                              const char *json, size_t len, void (*done)(void *data), void *data);
/* Registers the inbound lane (sb:q:in, held by one consumer cluster-wide through its lease)
 * with fn as its job; before sb_delivery_start, once. Without it the engine leaves that queue
 * to others. */
void sb_delivery_set_inbound(sb_delivery_t *d, sb_inbound_fn fn);
void sb_delivery_start(sb_delivery_t *d);
/* Stops consuming: done(data) once the runner is closed. In-flight attempts are abandoned
 * unacknowledged (another instance, or this one after a restart, takes them over) when the
 * owner then closes the client, which ends their calls. */
void sb_delivery_close(sb_delivery_t *d, void (*done)(void *), void *data);
/* After the client has closed: the engine is freed once the last of its store commands has
 * called back (the owner may close the store now). */
void sb_delivery_free(sb_delivery_t *d);

/* --- emit.c: the emit API the route families call --- */
typedef void (*sb_emit_cb)(void *data, int status, const redisReply *deliveries);
/* Emits system event `event` for tenant with data (a JSON object, not taken) to the tenant's
 * subscribers. cb (may be NULL) gets 0 and the script's reply ([[id, url], ...]) or -EAGAIN. */
int sb_emit(sb_store_t *st, const sb_config_t *cfg, const char *tenant_id, const char *event, const cJSON *data,
            sb_emit_cb cb, void *cbdata);
bool sb_event_known(const char *name);
bool sb_command_name_valid(const char *name);
/* First 16 hex characters of SHA-256(url). */
void sb_endpoint_id(const char *url, char out[17]);

/* --- sign.c --- */
typedef struct sb_webhook_secret {
    char current[520];  /* tenant secrets are "whsec_" + 32 base64; agent secrets up to 512 */
    char previous[520]; /* empty when none is valid */
} sb_webhook_secret_t;
/* Fills the signature header lines for body (X-Hub-Signature-256 and the Standard Webhooks
 * trio) into out. */
void sb_sign_headers(const sb_webhook_secret_t *s, const char *msg_id, long timestamp, const char *body, size_t len,
                     sb_buf_t *out);
/* Decodes "whsec_<base64>" into key bytes; returns the length or -EINVAL. */
int sb_webhook_key(const char *secret, unsigned char *key, size_t cap);
void sb_webhook_secret_new(char out[64]);
/* The seed-001 api_key a tenant's webhooks carry: 20 alphanumerics. */
void sb_webhook_api_key_new(char out[32]);

/* --- commands.c --- */
typedef void (*sb_command_cb)(void *data, int status, const char *result, bool is_error, const char *url);
/* Runs a /command against the tenant's subscribed URLs: status 200 with the first answer, 404
 * when nobody is subscribed, 504 when nobody answered in time, 503 when Redis is down. */
int sb_command_run(sb_store_t *st, sb_client_t *cl, const sb_config_t *cfg, const char *tenant_id, const char *command,
                   const char *args, const cJSON *data, sb_command_cb cb, void *cbdata);

#endif
