/* Metrics aggregation and Prometheus rendering (see metrics.h). */
#include "switchboard/metrics.h"

#include <pthread.h>
#include <string.h>

#include "switchboard/common.h"

static const int status_codes[SB_METRICS_STATUS_SLOTS - 1] = {
    200, 201, 202, 204, 301, 304, 400, 401, 403, 404, 405, 408, 409, 410, 413, 415, 422, 429, 431, 500, 502, 503, 504,
};
static const double lat_bounds[SB_METRICS_LAT_BUCKETS - 1] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
};
static const char *const lat_labels[SB_METRICS_LAT_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.5", "2.5", "+Inf",
};

static struct {
    const char *pattern;
    const char *method;
} labels[SB_METRICS_ROUTES];

#define MAX_BLOCKS 512
static sb_metrics_t *blocks[MAX_BLOCKS];
static unsigned nblocks;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

void sb_metrics_set_route_label(unsigned slot, const char *pattern, const char *method)
{
    if (slot < SB_METRICS_ROUTES) {
        labels[slot].pattern = pattern;
        labels[slot].method = method;
    }
}

void sb_metrics_register(sb_metrics_t *m)
{
    pthread_mutex_lock(&reg_lock);
    if (nblocks < MAX_BLOCKS)
        blocks[nblocks++] = m;
    pthread_mutex_unlock(&reg_lock);
}

void sb_metrics_reset_registry(void)
{
    pthread_mutex_lock(&reg_lock);
    nblocks = 0;
    pthread_mutex_unlock(&reg_lock);
}

int sb_metrics_status_slot(int status)
{
    for (int i = 0; i < SB_METRICS_STATUS_SLOTS - 1; i++)
        if (status_codes[i] == status)
            return i;
    return SB_METRICS_STATUS_SLOTS - 1;
}

void sb_metrics_observe(sb_metrics_t *m, unsigned route_slot, int status, uint64_t latency_ns)
{
    if (route_slot >= SB_METRICS_ROUTES)
        route_slot = SB_METRICS_UNMATCHED;
    sb_metrics_add(&m->requests[route_slot][sb_metrics_status_slot(status)], 1);
    double secs = (double)latency_ns / 1e9;
    int b = 0;
    while (b < SB_METRICS_LAT_BUCKETS - 1 && secs > lat_bounds[b])
        b++;
    sb_metrics_add(&m->latency[route_slot][b], 1);
    sb_metrics_add(&m->latency_sum_us[route_slot], (int64_t)(latency_ns / 1000));
}

void sb_metrics_observe_attempt(sb_metrics_t *m, uint64_t latency_us)
{
    double secs = (double)latency_us / 1e6;
    int b = 0;
    while (b < SB_METRICS_LAT_BUCKETS - 1 && secs > lat_bounds[b])
        b++;
    sb_metrics_add(&m->attempt_latency[b], 1);
    sb_metrics_add(&m->attempt_latency_sum_us, (int64_t)latency_us);
}

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void route_labels(unsigned r, const char **pattern, const char **method)
{
    *pattern = r == SB_METRICS_UNMATCHED ? "unmatched" : labels[r].pattern;
    *method = r == SB_METRICS_UNMATCHED ? "ANY" : labels[r].method;
}

void sb_metrics_render(sb_buf_t *out)
{
    pthread_mutex_lock(&reg_lock);
    sb_buf_puts(out,
                "# HELP switchboard_http_requests_total HTTP requests answered, by route pattern, method and status.\n"
                "# TYPE switchboard_http_requests_total counter\n");
    for (unsigned r = 0; r < SB_METRICS_ROUTES; r++) {
        const char *pattern, *method;
        route_labels(r, &pattern, &method);
        if (!pattern)
            continue;
        for (int s = 0; s < SB_METRICS_STATUS_SLOTS; s++) {
            uint64_t v = 0;
            for (unsigned i = 0; i < nblocks; i++)
                v += load(&blocks[i]->requests[r][s]);
            if (!v)
                continue;
            if (s == SB_METRICS_STATUS_SLOTS - 1)
                sb_buf_printf(out,
                              "switchboard_http_requests_total{route=\"%s\",method=\"%s\",status=\"other\"} %llu\n",
                              pattern, method, (unsigned long long)v);
            else
                sb_buf_printf(out, "switchboard_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
                              pattern, method, status_codes[s], (unsigned long long)v);
        }
    }
    sb_buf_puts(
        out, "# HELP switchboard_http_request_duration_seconds Time from the first byte of a request to its response.\n"
             "# TYPE switchboard_http_request_duration_seconds histogram\n");
    for (unsigned r = 0; r < SB_METRICS_ROUTES; r++) {
        const char *pattern, *method;
        route_labels(r, &pattern, &method);
        if (!pattern)
            continue;
        uint64_t counts[SB_METRICS_LAT_BUCKETS] = {0}, sum_us = 0, total = 0;
        for (unsigned i = 0; i < nblocks; i++) {
            for (int b = 0; b < SB_METRICS_LAT_BUCKETS; b++)
                counts[b] += load(&blocks[i]->latency[r][b]);
            sum_us += load(&blocks[i]->latency_sum_us[r]);
        }
        for (int b = 0; b < SB_METRICS_LAT_BUCKETS; b++)
            total += counts[b];
        if (!total)
            continue;
        uint64_t cum = 0;
        for (int b = 0; b < SB_METRICS_LAT_BUCKETS; b++) {
            cum += counts[b];
            sb_buf_printf(
                out, "switchboard_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%s\"} %llu\n",
                pattern, method, lat_labels[b], (unsigned long long)cum);
        }
        sb_buf_printf(out, "switchboard_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n", pattern,
                      method, (double)sum_us / 1e6);
        sb_buf_printf(out, "switchboard_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n",
                      pattern, method, (unsigned long long)total);
    }
    uint64_t open = 0, refused = 0, rerr = 0, batches = 0, batched = 0;
    unsigned ready = 0;
    for (unsigned i = 0; i < nblocks; i++) {
        ready += load(&blocks[i]->redis_up) ? 1 : 0;
        open += load(&blocks[i]->conns_open);
        refused += load(&blocks[i]->conns_refused);
        rerr += load(&blocks[i]->redis_errors);
        batches += load(&blocks[i]->redis_batches);
        batched += load(&blocks[i]->redis_batched_calls);
    }
    sb_buf_printf(
        out,
        "# HELP switchboard_http_connections_open Client connections currently open.\n"
        "# TYPE switchboard_http_connections_open gauge\n"
        "switchboard_http_connections_open %llu\n"
        "# HELP switchboard_http_connections_refused_total Connections refused at the --max-connections or --max-connections-per-ip cap.\n"
        "# TYPE switchboard_http_connections_refused_total counter\n"
        "switchboard_http_connections_refused_total %llu\n"
        "# HELP switchboard_redis_errors_total Redis commands that failed, timed out or hit a dropped connection.\n"
        "# TYPE switchboard_redis_errors_total counter\n"
        "switchboard_redis_errors_total %llu\n"
        "# HELP switchboard_redis_up 1 when every loop thread's Redis connection is ready.\n"
        "# TYPE switchboard_redis_up gauge\n"
        "switchboard_redis_up %d\n"
        "# HELP switchboard_redis_connections_ready Loop threads whose Redis connection is ready.\n"
        "# TYPE switchboard_redis_connections_ready gauge\n"
        "switchboard_redis_connections_ready %u\n"
        "# HELP switchboard_redis_script_batches_total Runs of batched scripts sent (one per script and loop "
        "iteration).\n"
        "# TYPE switchboard_redis_script_batches_total counter\n"
        "switchboard_redis_script_batches_total %llu\n"
        "# HELP switchboard_redis_script_batched_calls_total Calls those runs served.\n"
        "# TYPE switchboard_redis_script_batched_calls_total counter\n"
        "switchboard_redis_script_batched_calls_total %llu\n",
        (unsigned long long)open, (unsigned long long)refused, (unsigned long long)rerr,
        nblocks && ready == nblocks ? 1 : 0, ready, (unsigned long long)batches, (unsigned long long)batched);
    static const char *const outcomes[4] = {"success", "retry", "failed", "dead"};
    static const char *const lanes[4] = {"fresh", "retry", "delayed", "dead"};
    sb_buf_puts(out, "# HELP switchboard_deliveries_total Delivery attempts by outcome (retry: another attempt is "
                     "scheduled; failed: a final 4xx; dead: dead-lettered).\n"
                     "# TYPE switchboard_deliveries_total counter\n");
    for (int o = 0; o < 4; o++) {
        uint64_t v = 0;
        for (unsigned i = 0; i < nblocks; i++)
            v += load(&blocks[i]->deliveries[o]);
        sb_buf_printf(out, "switchboard_deliveries_total{outcome=\"%s\"} %llu\n", outcomes[o], (unsigned long long)v);
    }
    sb_buf_puts(out, "# HELP switchboard_delivery_queue_depth Deliveries waiting, by lane (sampled each second).\n"
                     "# TYPE switchboard_delivery_queue_depth gauge\n");
    for (int l = 0; l < 4; l++) {
        uint64_t v = 0;
        for (unsigned i = 0; i < nblocks; i++)
            v += load(&blocks[i]->queue_depth[l]);
        sb_buf_printf(out, "switchboard_delivery_queue_depth{lane=\"%s\"} %llu\n", lanes[l], (unsigned long long)v);
    }
    sb_buf_puts(out, "# HELP switchboard_delivery_attempt_duration_seconds Outbound attempt time, DNS to response.\n"
                     "# TYPE switchboard_delivery_attempt_duration_seconds histogram\n");
    uint64_t cum = 0, sum_us = 0;
    for (int b = 0; b < SB_METRICS_LAT_BUCKETS; b++) {
        for (unsigned i = 0; i < nblocks; i++)
            cum += load(&blocks[i]->attempt_latency[b]);
        sb_buf_printf(out, "switchboard_delivery_attempt_duration_seconds_bucket{le=\"%s\"} %llu\n", lat_labels[b],
                      (unsigned long long)cum);
    }
    for (unsigned i = 0; i < nblocks; i++)
        sum_us += load(&blocks[i]->attempt_latency_sum_us);
    sb_buf_printf(out, "switchboard_delivery_attempt_duration_seconds_sum %.6f\n", (double)sum_us / 1e6);
    sb_buf_printf(out, "switchboard_delivery_attempt_duration_seconds_count %llu\n", (unsigned long long)cum);
    pthread_mutex_unlock(&reg_lock);
}

bool sb_metrics_redis_all_up(void)
{
    pthread_mutex_lock(&reg_lock);
    bool all = nblocks > 0;
    for (unsigned i = 0; i < nblocks; i++)
        if (!load(&blocks[i]->redis_up))
            all = false;
    pthread_mutex_unlock(&reg_lock);
    return all;
}
