/* Inside the store: what the command connection (redis.c) and the pub/sub connection
 * (pubsub.c) share. */
#ifndef SWITCHBOARD_REDIS_CONN_H
#define SWITCHBOARD_REDIS_CONN_H

#include <async.h>
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
/* The delay before the next attempt: the backoff plus up to half of it in jitter; the backoff
 * doubles up to SB_REDIS_BACKOFF_MAX_MS. */
uint64_t sb_redis_backoff_next(unsigned *backoff_ms);
#endif
