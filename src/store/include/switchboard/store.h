/* The Redis store: one hiredis async connection per loop thread (libuv adapter), reconnect with
 * backoff, a deadline per command, Lua scripts loaded at connect and called by SHA, and the
 * key naming scheme. Handlers never talk to hiredis directly. */
#ifndef SWITCHBOARD_STORE_H
#define SWITCHBOARD_STORE_H

#include <hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "switchboard/common.h"
#include "switchboard/config.h"
#include "switchboard/metrics.h"

typedef struct sb_store sb_store_t;
/* reply is NULL when the command failed: timeout, dropped connection or shutdown. It is freed
 * after the callback returns. */
typedef void (*sb_store_cb)(sb_store_t *st, redisReply *reply, void *data);
typedef void (*sb_store_close_cb)(sb_store_t *st, void *data);

typedef struct sb_script {
    const char *name;
    const char *source;
    char sha[41]; /* filled by sb_scripts_init() */
    /* A batched script (src/store/lua/lib/batch.lua, "-- batch: K") serves many calls in one run; every call of it
     * passes this many keys. 0: one call per run. */
    int batch_keys;
} sb_script_t;

sb_store_t *sb_store_new(uv_loop_t *loop, const sb_config_t *cfg, sb_metrics_t *metrics);
void sb_store_start(sb_store_t *st);
/* cb runs each time the connection becomes ready (after connect + script loading). */
void sb_store_on_ready(sb_store_t *st, void (*cb)(void *), void *data);
/* Whether this connection's state is the loop's readiness (true by default). */
void sb_store_set_reports_up(sb_store_t *st, bool on);
/* Fails pending commands, disconnects, closes its handles, then calls cb and frees st. */
void sb_store_close(sb_store_t *st, sb_store_close_cb cb, void *data);
bool sb_store_ready(const sb_store_t *st);

/* -EAGAIN when Redis is not connected or too many commands are in flight (answer 503). */
int sb_store_cmd(sb_store_t *st, sb_store_cb cb, void *data, int argc, const char **argv, const size_t *argvlen);
/* argv holds the nkeys keys followed by the arguments; falls back to EVAL on NOSCRIPT.
 * A batched script's calls made during one loop iteration leave together, just before the loop
 * next polls, as one EVALSHA (up to 64 calls or 256 KiB): Redis pays its fixed cost of a script
 * run once for all of them, and each call's cb gets its own reply (an error in one call is that
 * call's error reply). docs/architecture.md "Batched script calls". */
int sb_store_eval(sb_store_t *st, const sb_script_t *script, int nkeys, int argc, const char **argv,
                  const size_t *argvlen, sb_store_cb cb, void *data);

/* --- pubsub.c: one subscriber connection per loop (event streams) --- */
typedef struct sb_pubsub sb_pubsub_t;
typedef struct sb_sub sb_sub_t;
/* A message on the channel; or payload == NULL when the subscription has (again) become active:
 * the reader then re-reads from Redis whatever it may have missed. */
typedef void (*sb_sub_cb)(void *data, const char *payload, size_t len);
/* store: the loop's command connection (it publishes the subscriber's heartbeat). */
sb_pubsub_t *sb_pubsub_new(uv_loop_t *loop, const sb_config_t *cfg, sb_metrics_t *metrics, sb_store_t *store);
void sb_pubsub_start(sb_pubsub_t *ps);
/* Frees every subscription; call after the readers are gone. */
void sb_pubsub_close(sb_pubsub_t *ps);
sb_sub_t *sb_pubsub_subscribe(sb_pubsub_t *ps, const char *channel, sb_sub_cb cb, void *data);
void sb_pubsub_unsubscribe(sb_pubsub_t *ps, sb_sub_t *s);
bool sb_sub_active(const sb_sub_t *s);

/* Parsed --redis URL. */
typedef struct sb_redis_addr {
    char host[256];
    unsigned port;
    char path[256]; /* unix socket when non-empty */
    char user[128];
    char password[256];
    unsigned db;
} sb_redis_addr_t;
int sb_redis_url_parse(const char *url, sb_redis_addr_t *addr);
/* The address a store connects to (host already resolved). */
void sb_store_addr(const sb_store_t *st, sb_redis_addr_t *out);

/* --- scripts.c --- */
extern sb_script_t *const sb_scripts[];
extern const size_t sb_scripts_count;
void sb_scripts_init(void);
extern sb_script_t sb_script_binding_get, sb_script_inbound_accept, sb_script_channel_inbound, sb_script_send_prepare,
    sb_script_apichat_auth, sb_script_apichat_accept,
    sb_script_lane_lease, sb_script_lane_takeover;
extern sb_script_t sb_script_widget_config, sb_script_session_start, sb_script_otp_start, sb_script_otp_verify;
extern sb_script_t sb_script_widget_message, sb_script_widget_read, sb_script_conv_since, sb_script_conv_reply,
    sb_script_conv_sent, sb_script_conv_idle, sb_script_conv_note, sb_script_conv_close, sb_script_conv_list,
    sb_script_conv_messages, sb_script_ratelimit;
/* proactive messages (docs/proactive.md) */
extern sb_script_t sb_script_pm_put, sb_script_pm_delete, sb_script_pm_list, sb_script_pm_run, sb_script_pm_next,
    sb_script_pm_fire;
/* the incoming webhook and send credits (docs/incoming.md) */
extern sb_script_t sb_script_inwh_accept, sb_script_inwh_store, sb_script_inwh_admin, sb_script_inwh_sends,
    sb_script_credits;
extern sb_script_t sb_script_auth_key, sb_script_tenant_create, sb_script_tenant_update, sb_script_tenant_list,
    sb_script_tenant_delete, sb_script_tenant_purge, sb_script_key_create, sb_script_key_revoke, sb_script_entity_list,
    sb_script_entity_get, sb_script_entity_put, sb_script_entity_delete;

/* The delivery engine's Lua scripts (src/store/lua/; the generated table registers them). */
extern sb_script_t sb_script_emit, sb_script_prepare, sb_script_finish, sb_script_promote, sb_script_pace_tick,
    sb_script_reclaim, sb_script_subs_put, sb_script_secret_get, sb_script_secret_rotate, sb_script_endpoints,
    sb_script_endpoint_enable, sb_script_dead_replay, sb_script_dead_recover, sb_script_dead_list,
    sb_script_queue_depth, sb_script_record_attempt, sb_script_groups, sb_script_attempts;

/* The global queue keys (docs/keys.md): one queue for every instance. */
#define SB_Q_FRESH     "sb:q:fresh"
#define SB_Q_RETRY     "sb:q:retry"
#define SB_Q_IN        "sb:q:in"       /* inbound channel messages (docs/channels.md) */
#define SB_Q_IN_LEASE  "sb:q:in:lease" /* the one consumer storing them (docs/channels.md "Order") */
#define SB_Q_DELAY     "sb:q:delay"
#define SB_Q_RECV      "sb:q:recv"
#define SB_Q_DEAD      "sb:q:dead" /* count of dead letters, every tenant */
#define SB_Q_GROUP     "sb"
#define SB_HB_PREFIX   "sb:hb:" /* + consumer: its heartbeat (sb_key_heartbeat; the reclaim script appends) */
#define SB_PACE_DUE    "sb:pace:due"
#define SB_PACE_PREFIX "sb:pace:" /* + endpoint: its pacing queue (the pacing scripts append) */
#define SB_PURGE       "sb:purge" /* deleted tenants whose keys are being removed (tenant_purge) */

/* --- keys.c: every key switchboard writes is built here (docs/keys.md) --- */
#define SB_KEY_MAX 192
/* "sb:{t:<tenant>}:<part>" — all of a tenant's keys share one Redis Cluster slot. */
int sb_key_tenant(char out[SB_KEY_MAX], const char *tenant_id, const char *part);
/* "sb:{t:<tenant>}:<part>:<id>" */
int sb_key_tenant_item(char out[SB_KEY_MAX], const char *tenant_id, const char *part, const char *id);
/* "sb:<part>" and "sb:<part>:<id>" — global keys (tenant list, lookup indexes). */
int sb_key_global(char out[SB_KEY_MAX], const char *part, const char *id);
/* "sb:{t:<tenant>}:seen:<channel>:<event id>" (cap bytes) — an inbound event's dedup claim. */
int sb_key_seen(char *out, size_t cap, const char *tenant_id, const char *channel_id, const char *event_id);
/* "sb:hb:<consumer>" — a job runner consumer's heartbeat. */
int sb_key_heartbeat(char out[SB_KEY_MAX], const char *consumer);
/* What goes before and after a tenant id in "sb:{t:<tenant>}:<part>", for a script that builds
 * the key of each tenant it lists. */
void sb_key_tenant_affixes(const char *part, char prefix[16], char suffix[SB_KEY_MAX]);

/* --- embedded.c: the private redis-server child --- */
typedef struct sb_embedded_redis {
    int pid;
    char socket_path[256];
} sb_embedded_redis_t;
/* Starts redis-server on a unix socket in data_dir (AOF on) and waits until it answers. */
int sb_embedded_redis_start(sb_embedded_redis_t *er, const char *data_dir, char *err, size_t errlen);
void sb_embedded_redis_stop(sb_embedded_redis_t *er);

/* Blocking check at start (main thread only): warns when Redis has no persistence. */
void sb_store_check_persistence(const char *url);

#endif
