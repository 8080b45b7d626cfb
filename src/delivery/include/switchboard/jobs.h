/* The job runner of one loop thread (src/delivery/jobs.c, docs/deliveries.md "How it works"):
 * Redis Streams lanes worked by one consumer group shared by every instance, each lane with its
 * own in-flight budget, read with one blocking XREADGROUP on a connection of the runner's own;
 * entries of dead consumers taken over (a heartbeat per consumer, a visibility timeout, a
 * poison limit); lanes that only one consumer cluster-wide may work (a lease the runner holds,
 * renews and takes over, docs/channels.md "Order"); and periodic tasks on its tick. It knows no
 * job: it calls what is registered with it. Contract: strings in a lane spec are kept, not
 * copied (static strings); lanes and tasks are registered before sb_jobs_start. */
#ifndef SWITCHBOARD_JOBS_H
#define SWITCHBOARD_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "switchboard/config.h"
#include "switchboard/metrics.h"
#include "switchboard/store.h"

#define SB_JOBS_MAX_LANES 4
#define SB_JOBS_MAX_TASKS 8

typedef struct sb_jobs sb_jobs_t;

/* A job settles its entry (acknowledges it, or leaves it pending for a takeover) and then calls
 * done(done_data) exactly once, at once or later; the runner then counts the slot free. */
typedef void (*sb_job_done_fn)(void *done_data);
/* One queue entry: its id and the JSON of its "d" field (valid during the call). */
typedef void (*sb_job_fn)(void *data, const char *entry, const char *json, size_t len, sb_job_done_fn done,
                          void *done_data);

typedef struct sb_lane_spec {
    const char *stream; /* the stream's key */
    unsigned budget;    /* entries of this lane in flight on this loop, at most */
    /* NULL: every consumer works the lane. Else the key of a lease: only the one consumer that
     * holds it works the lane, on the loop's own connection (its jobs' commands follow there in
     * the order their entries were read); a new holder first takes over every entry pending
     * under any consumer. The job itself must still check, atomically with what it stores, that
     * the lease is its consumer's (sb_jobs_consumer): a holder that stalled may have lost it. */
    const char *lease_key;
    sb_job_fn handler;
    void *data;
} sb_lane_spec_t;

/* A periodic task: runs on the tick (20 ms) once period_ms have passed since it last ran (0:
 * every tick), while the loop's Redis connection is up. now_ms is uv_now(), wall_ms the wall
 * clock of this tick. It returns false when it did not run (its previous run is still out): it
 * is then asked again at the next tick instead of a period later. */
typedef bool (*sb_task_fn)(void *data, uint64_t now_ms, int64_t wall_ms);

/* store: the loop's command connection (refills, leases, takeovers, heartbeats); the runner
 * opens its own for the blocking reads. */
sb_jobs_t *sb_jobs_new(uv_loop_t *loop, const sb_config_t *cfg, sb_metrics_t *metrics, sb_store_t *store,
                       unsigned loop_index);
/* 0, or -E2BIG past SB_JOBS_MAX_LANES. Lanes are read in the order they were added; an entry of
 * a stream the runner does not know is handed to the first lane. */
int sb_jobs_lane(sb_jobs_t *j, const sb_lane_spec_t *spec);
/* 0, or -E2BIG past SB_JOBS_MAX_TASKS. Tasks run in the order they were added, before the
 * runner's own upkeep of the tick (heartbeat, takeover of dead consumers' entries).
 * first_loop_only: on the loop of index 0 of each instance only. */
int sb_jobs_every(sb_jobs_t *j, unsigned period_ms, bool first_loop_only, sb_task_fn fn, void *data);
/* This loop's consumer name in the group (unique per process start): leases are held as it. */
const char *sb_jobs_consumer(const sb_jobs_t *j);
void sb_jobs_start(sb_jobs_t *j);
/* Stops reading and gives up the leases held; done(data) runs once its connection and tick are
 * closed and the leases are given up (or their command failed). Jobs in flight are not waited
 * for: their entries stay pending for whoever takes them over. The runner frees itself once
 * the last of them has called done and the last of its commands on the loop's connection has
 * called back, which may be after done (when the owner closes that connection). */
void sb_jobs_close(sb_jobs_t *j, void (*done)(void *), void *data);

/* ---------- the lane bookkeeping, pure (tests/unit/test_jobs.c) ---------- */

typedef struct sb_lane_state {
    unsigned budget, inflight;
    bool leased;     /* the lane needs the lease */
    bool ready;      /* leased: the lease is held and what former holders left is taken over */
    bool idle;       /* leased: caught up, so read with the other lanes (else refilled apart) */
    bool reading;    /* leased: a refill read is out */
    bool reclaiming; /* a takeover of dead consumers' entries is out */
} sb_lane_state_t;

typedef struct sb_read_plan {
    bool open[SB_JOBS_MAX_LANES]; /* the lanes the read asks for */
    unsigned nopen;
    unsigned count;    /* COUNT: the room of the fullest open lane, at most the batch */
    unsigned block_ms; /* BLOCK */
} sb_read_plan_t;

/* What the next blocking read asks for: false when no lane has room (a job finishing asks
 * again). A leased lane is read with the others only while ready and idle. With a lane left out
 * (full, or refilled apart) the read blocks 10 ms, so that a lane coming back is read again
 * soon; else up to 1 s, well inside the per-command deadline (half of redis_timeout_ms). */
bool sb_lanes_plan_read(const sb_lane_state_t *lanes, unsigned n, unsigned batch, unsigned redis_timeout_ms,
                        sb_read_plan_t *plan);
/* A leased lane with a backlog: the COUNT of its next refill read (its free slots), or 0 when
 * none is due (not ready, caught up, a read out, or more than half its slots still busy). */
unsigned sb_lane_refill_count(const sb_lane_state_t *l);
/* Whether the lane may take over dead consumers' entries now: none out already, room left, and
 * for a leased lane only once the lease is held and its takeover done. */
bool sb_lane_may_reclaim(const sb_lane_state_t *l);

#endif
