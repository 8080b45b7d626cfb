/* Inside the store: what the command connection (redis.c) and the pub/sub connection
 * (pubsub.c) share. */
#ifndef SWITCHBOARD_REDIS_CONN_H
#define SWITCHBOARD_REDIS_CONN_H

#include <async.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "switchboard/store.h"

/* Connection plumbing shared by the command and pub/sub connections (redis.c). */
#define SB_REDIS_CONNECT_TIMEOUT_MS 2000
#define SB_REDIS_BACKOFF_MIN_MS     100
#define SB_REDIS_BACKOFF_MAX_MS     5000
/* Attaches a new context to loop (redis_uv.c): reads polled, writes flushed once per loop
 * iteration. -1 when it cannot (the caller frees the context). */
int sb_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);
/* Starts a non-blocking connection to addr on loop (sb_redis_uv_attach); ac->data = data.
 * NULL when it failed at once (err, if given, says why). */
redisAsyncContext *sb_redis_connect(uv_loop_t *loop, const sb_redis_addr_t *addr, void *data,
                                    redisConnectCallback *connected, redisDisconnectCallback *disconnected,
                                    char err[128]);
/* When a lost connection tries again. Each waits its backoff (plus up to half of it in
 * jitter; doubling up to SB_REDIS_BACKOFF_MAX_MS), but once any connection of the process has
 * reached Redis again, the others that wait try at once: a restarted Redis is back for every
 * loop together, not one backoff after another. */
typedef struct sb_redis_retry {
    unsigned backoff_ms;
    uint64_t next_attempt; /* uv_now() ms */
    unsigned seen;         /* the process's reconnect count when this wait began */
} sb_redis_retry_t;
void sb_redis_retry_init(sb_redis_retry_t *r);
void sb_redis_retry_wait(sb_redis_retry_t *r, uint64_t now);
bool sb_redis_retry_due(const sb_redis_retry_t *r, uint64_t now);
/* This connection is up: its backoff starts over and the waiting ones are told. */
void sb_redis_retry_reached(sb_redis_retry_t *r);
#endif
