/* Prometheus metrics. Each loop thread owns one sb_metrics_t and is its only writer; /metrics
 * sums all of them with relaxed atomic loads, so the hot path pays no lock and no shared cache
 * line. */
#ifndef SWITCHBOARD_METRICS_H
#define SWITCHBOARD_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "switchboard/buf.h"

#define SB_METRICS_ROUTES       128 /* route table entries + the "unmatched" slot */
#define SB_METRICS_UNMATCHED    (SB_METRICS_ROUTES - 1)
#define SB_METRICS_STATUS_SLOTS 24
#define SB_METRICS_LAT_BUCKETS  13

typedef struct sb_metrics {
    uint64_t requests[SB_METRICS_ROUTES][SB_METRICS_STATUS_SLOTS];
    uint64_t latency[SB_METRICS_ROUTES][SB_METRICS_LAT_BUCKETS]; /* non-cumulative counts */
    uint64_t latency_sum_us[SB_METRICS_ROUTES];
    uint64_t conns_open;
    uint64_t conns_refused;
    uint64_t redis_errors;
    uint64_t redis_up;
    uint64_t redis_batches;       /* batched script runs sent */
    uint64_t redis_batched_calls; /* the calls they carried */
    /* delivery engine */
    uint64_t deliveries[4];  /* SB_OUTCOME_* */
    uint64_t queue_depth[4]; /* fresh, retry, delayed, dead: written by the loop that samples them */
    uint64_t attempt_latency[SB_METRICS_LAT_BUCKETS];
    uint64_t attempt_latency_sum_us;
} sb_metrics_t;

enum { SB_OUTCOME_SUCCESS = 0, SB_OUTCOME_RETRY = 1, SB_OUTCOME_FAILED = 2, SB_OUTCOME_DEAD = 3 };
void sb_metrics_observe_attempt(sb_metrics_t *m, uint64_t latency_us);

/* Labels of the route slots, set once at start by the route table. */
void sb_metrics_set_route_label(unsigned slot, const char *pattern, const char *method);
/* Registers a thread's metrics block for aggregation (at start, before serving). */
void sb_metrics_register(sb_metrics_t *m);
void sb_metrics_reset_registry(void);

void sb_metrics_observe(sb_metrics_t *m, unsigned route_slot, int status, uint64_t latency_ns);
static inline void sb_metrics_add(uint64_t *counter, int64_t delta)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + (uint64_t)delta, __ATOMIC_RELAXED);
}

/* Renders every registered block as Prometheus text exposition format 0.0.4. */
void sb_metrics_render(sb_buf_t *out);
int sb_metrics_status_slot(int status);
/* True when every registered loop's Redis connection is ready. */
bool sb_metrics_redis_all_up(void);

#endif
