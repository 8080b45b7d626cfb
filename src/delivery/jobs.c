/* The job runner of one loop thread (jobs.h). It owns a second Redis connection for the blocking
 * XREADGROUP over its lanes, the consumer group on them, this consumer's heartbeat, the takeover
 * of dead consumers' entries, the leases of leased lanes, and a 20 ms tick that runs the
 * periodic tasks registered with it. It may call the store, the clock, the log and the CSPRNG,
 * and what is registered with it; it knows no job (no channel, conversation or delivery). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "switchboard/alloc.h"
#include "switchboard/clock.h"
#include "switchboard/crypto.h"
#include "switchboard/jobs.h"
#include "switchboard/log.h"

#define TICK_MS          20
#define HEARTBEAT_MS     2000
#define HEARTBEAT_TTL_MS "10000"
#define RECLAIM_MS       2000
#define VISIBILITY_MS    60000 /* > the longest attempt (30 s) plus recording it */
#define RECLAIM_COUNT    "32"
#define POISON_LIMIT     "5" /* an entry taken over more often is dead-lettered (reclaim) */
#define READ_BATCH       64
#define LEASE_MS         "5000" /* a lease lives this long unless renewed */
#define LEASE_RENEW_MS   1000   /* holders renew it and the others ask for it this often */
#define TAKEOVER_MAX     "1000" /* entries a new holder takes over at once (the rest: reclaim) */

typedef struct lane {
    sb_jobs_t *j;
    sb_lane_spec_t spec;
    sb_lane_state_t st;
    /* A leased lane: held (last answer); st.ready once what former holders left is taken over
     * (held && !ready: its takeover is under way). While the lane has a backlog (the last read
     * of it found entries, !st.idle) the holder refills it with reads of its own on the loop's
     * connection (st.reading), as slots free up; once one finds nothing the lane is idle and
     * joins the blocking read. */
    bool held, lease_busy;
    uint64_t last_lease;
} lane_t;

typedef struct task {
    unsigned period_ms;
    bool first_loop_only;
    sb_task_fn fn;
    void *data;
    uint64_t last;
} task_t;

struct sb_jobs {
    uv_loop_t *loop;
    const sb_config_t *cfg;
    sb_store_t *store;  /* the loop's connection: scripts */
    sb_store_t *qstore; /* the runner's connection: blocking reads */
    unsigned index;
    char consumer[160];
    char hb_key[SB_KEY_MAX];
    bool reading, groups_ready, groups_pending, closing;
    lane_t lanes[SB_JOBS_MAX_LANES];
    unsigned nlanes;
    task_t tasks[SB_JOBS_MAX_TASKS];
    unsigned ntasks;
    uv_timer_t tick;
    uint64_t last_hb, last_reclaim;
    unsigned pending_closes;
    void (*done)(void *);
    void *done_data;
    /* Commands on the loop's store whose callbacks still hold the runner, and jobs that have
     * not called done yet. The store is closed after the runner, so the runner is freed only
     * once the last of them has called back. */
    unsigned store_pending, jobs_out;
    bool parts_closed;
};

static void read_next(sb_jobs_t *j);
static void refill(lane_t *l);

static void jobs_free_if_done(sb_jobs_t *j)
{
    if (j->parts_closed && j->store_pending == 0 && j->jobs_out == 0)
        sb_free(j);
}

/* Every store command whose callback touches the runner is counted by j_pending (j_eval for
 * scripts) and its callback ends with j_called_back. */
static int j_pending(sb_jobs_t *j, int rc)
{
    if (rc == 0)
        j->store_pending++;
    return rc;
}

static int j_eval(sb_jobs_t *j, const sb_script_t *script, int nkeys, int argc, const char **argv, sb_store_cb cb,
                  void *data)
{
    return j_pending(j, sb_store_eval(j->store, script, nkeys, argc, argv, NULL, cb, data));
}

/* Last statement of such a callback. */
static void j_called_back(sb_jobs_t *j)
{
    j->store_pending--;
    jobs_free_if_done(j);
}

/* ---------- the lane bookkeeping (pure) ---------- */

bool sb_lanes_plan_read(const sb_lane_state_t *lanes, unsigned n, unsigned batch, unsigned redis_timeout_ms,
                        sb_read_plan_t *plan)
{
    unsigned nworked = 0;
    memset(plan, 0, sizeof(*plan));
    plan->count = batch;
    for (unsigned l = 0; l < n && l < SB_JOBS_MAX_LANES; l++) {
        const sb_lane_state_t *s = &lanes[l];
        if (!s->leased || s->ready)
            nworked++;
        plan->open[l] = (!s->leased || (s->ready && s->idle)) && s->inflight < s->budget;
        if (plan->open[l]) {
            plan->nopen++;
            plan->count = SB_MIN(plan->count, s->budget - s->inflight);
        }
    }
    /* Stay well inside the per-command deadline. With a lane left out (its budget is full, or
     * a leased lane refilled apart) the read blocks only briefly, so that a lane coming back is
     * read again soon rather than after the long block. */
    plan->block_ms = plan->nopen == nworked ? SB_MIN(1000u, redis_timeout_ms / 2) : 10u;
    return plan->nopen > 0;
}

unsigned sb_lane_refill_count(const sb_lane_state_t *l)
{
    if (!l->leased || !l->ready || l->idle || l->reading || l->inflight > l->budget / 2)
        return 0;
    return l->budget - l->inflight;
}

bool sb_lane_may_reclaim(const sb_lane_state_t *l)
{
    return !l->reclaiming && l->inflight < l->budget && (!l->leased || l->ready);
}

/* ---------- handing out entries ---------- */

static void on_job_done(void *data)
{
    lane_t *l = data;
    sb_jobs_t *j = l->j;
    l->st.inflight--;
    j->jobs_out--;
    if (!j->closing) {
        if (l->spec.lease_key && !l->st.idle)
            refill(l);
        else
            read_next(j);
    }
    jobs_free_if_done(j);
}

static void start_job(lane_t *l, const char *entry, const char *json, size_t len)
{
    l->st.inflight++;
    l->j->jobs_out++;
    l->spec.handler(l->spec.data, entry, json, len, on_job_done, l);
}

/* Entries as XREADGROUP / XCLAIM return them: [id, [field, value, ...]]. */
static void start_entries(lane_t *l, const redisReply *entries)
{
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        const redisReply *f = e->element[1];
        if (f->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t k = 0; k + 1 < f->elements; k += 2)
            if (f->element[k]->str && strcmp(f->element[k]->str, "d") == 0)
                start_job(l, e->element[0]->str, f->element[k + 1]->str, f->element[k + 1]->len);
    }
}

/* ---------- consuming ---------- */

static void on_groups(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_jobs_t *j = data;
    j->groups_pending = false;
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        j->groups_ready = true;
        read_next(j);
    }
}

static void ensure_groups(sb_jobs_t *j)
{
    if (j->groups_pending || j->closing)
        return;
    const char *argv[SB_JOBS_MAX_LANES + 1];
    for (unsigned l = 0; l < j->nlanes; l++)
        argv[l] = j->lanes[l].spec.stream;
    argv[j->nlanes] = SB_Q_GROUP;
    if (sb_store_eval(j->qstore, &sb_script_groups, (int)j->nlanes, (int)j->nlanes + 1, argv, NULL, on_groups, j) == 0)
        j->groups_pending = true;
}

/* The streams of an XREADGROUP answer: their entries started, each in its lane. Entries of a
 * leased lane put it in backlog mode (refilled apart until caught up); returns how many. */
static size_t start_streams(sb_jobs_t *j, const redisReply *reply)
{
    size_t leased = 0;
    bool busy[SB_JOBS_MAX_LANES] = {false};
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *s = reply->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 || !s->element[0]->str)
            continue;
        unsigned lane = 0;
        for (unsigned k = 0; k < j->nlanes; k++)
            if (strcmp(s->element[0]->str, j->lanes[k].spec.stream) == 0)
                lane = k;
        start_entries(&j->lanes[lane], s->element[1]);
        if (j->lanes[lane].spec.lease_key && s->element[1]->type == REDIS_REPLY_ARRAY && s->element[1]->elements) {
            leased += s->element[1]->elements;
            busy[lane] = true;
        }
    }
    for (unsigned k = 0; k < j->nlanes; k++)
        if (busy[k] && j->lanes[k].st.ready)
            j->lanes[k].st.idle = false;
    return leased;
}

static void on_refill_read(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    lane_t *l = data;
    sb_jobs_t *j = l->j;
    l->st.reading = false;
    /* Nothing (caught up, or the read failed: the blocking read and its recovery take over):
     * new entries come with the blocking read. */
    if (!j->closing && l->st.ready && start_streams(j, reply) == 0) {
        l->st.idle = true;
        read_next(j);
    }
    j_called_back(j);
}

/* A leased lane's own reads while it has a backlog: no BLOCK, on the loop's connection, so the
 * entries' commands follow on the same connection in order. */
static void refill(lane_t *l)
{
    sb_jobs_t *j = l->j;
    unsigned count = sb_lane_refill_count(&l->st);
    if (j->closing || count == 0)
        return;
    char count_s[16];
    snprintf(count_s, sizeof(count_s), "%u", count);
    const char *argv[] = {"XREADGROUP", "GROUP",   SB_Q_GROUP,     j->consumer, "COUNT",
                          count_s,      "STREAMS", l->spec.stream, ">"};
    if (j_pending(j, sb_store_cmd(j->store, on_refill_read, l, SB_ARRAY_SIZE(argv), argv, NULL)) == 0)
        l->st.reading = true;
    else
        l->st.idle = true; /* no connection: the blocking read's turn */
}

static void on_read(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_jobs_t *j = data;
    j->reading = false;
    if (j->closing)
        return;
    if (!reply)
        return; /* connection trouble: the tick tries again */
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0) { /* Redis restarted empty: re-create, don't spin */
            j->groups_ready = false;
            ensure_groups(j);
        }
        return;
    }
    start_streams(j, reply);
    read_next(j);
}

static void read_next(sb_jobs_t *j)
{
    if (j->reading || j->closing || !j->groups_ready || !sb_store_ready(j->qstore))
        return;
    sb_lane_state_t states[SB_JOBS_MAX_LANES];
    for (unsigned l = 0; l < j->nlanes; l++)
        states[l] = j->lanes[l].st;
    sb_read_plan_t plan;
    if (!sb_lanes_plan_read(states, j->nlanes, READ_BATCH, j->cfg->redis_timeout_ms, &plan))
        return; /* a job finishing calls us again */
    char count_s[16], block_s[16];
    snprintf(count_s, sizeof(count_s), "%u", plan.count);
    snprintf(block_s, sizeof(block_s), "%u", plan.block_ms);
    const char *argv[9 + 2 * SB_JOBS_MAX_LANES] = {"XREADGROUP", "GROUP", SB_Q_GROUP, j->consumer, "COUNT",
                                                   count_s,      "BLOCK", block_s,    "STREAMS"};
    int argc = 9;
    for (unsigned l = 0; l < j->nlanes; l++)
        if (plan.open[l])
            argv[argc++] = j->lanes[l].spec.stream;
    for (unsigned l = 0; l < j->nlanes; l++)
        if (plan.open[l])
            argv[argc++] = ">";
    if (sb_store_cmd(j->qstore, on_read, j, argc, argv, NULL) == 0)
        j->reading = true;
}

static void on_qstore_ready(void *data)
{
    sb_jobs_t *j = data;
    j->reading = false;
    j->groups_ready = false;
    ensure_groups(j);
}

/* ---------- dead consumers' entries ---------- */

static void on_reclaimed(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    lane_t *l = data;
    sb_jobs_t *j = l->j;
    l->st.reclaiming = false;
    if (reply && reply->type == REDIS_REPLY_ARRAY && !j->closing) {
        if (reply->elements)
            sb_log(SB_LOG_INFO, "took over queue entries", "\"count\":%zu,\"lane\":\"%s\"", reply->elements,
                   l->spec.stream);
        start_entries(l, reply);
    }
    j_called_back(j);
}

static void reclaim_step(sb_jobs_t *j, uint64_t now, const char *wall_s)
{
    if (now - j->last_reclaim < RECLAIM_MS || !j->groups_ready)
        return;
    j->last_reclaim = now;
    char vis[16];
    snprintf(vis, sizeof(vis), "%u", VISIBILITY_MS);
    for (unsigned k = 0; k < j->nlanes; k++) {
        lane_t *l = &j->lanes[k];
        if (!sb_lane_may_reclaim(&l->st))
            continue;
        const char *argv[] = {l->spec.stream, SB_Q_RECV,    SB_Q_GROUP, j->consumer, SB_HB_PREFIX, vis,
                              RECLAIM_COUNT,  POISON_LIMIT, wall_s};
        if (j_eval(j, &sb_script_reclaim, 2, 9, argv, on_reclaimed, l) == 0)
            l->st.reclaiming = true;
    }
}

/* ---------- leases ---------- */

static void on_taken_over(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    lane_t *l = data;
    sb_jobs_t *j = l->j;
    if (l->held && !j->closing) {
        if (reply && reply->type == REDIS_REPLY_ARRAY) {
            if (reply->elements)
                sb_log(SB_LOG_INFO, "took over a leased lane's pending entries", "\"count\":%zu,\"lane\":\"%s\"",
                       reply->elements, l->spec.stream);
            start_entries(l, reply); /* sent before any newer entry is read */
            l->st.ready = true;
            l->st.idle = false; /* a backlog, perhaps: read apart until caught up */
            refill(l);
            read_next(j);
        } else {
            l->held = false; /* ask again at the next renewal; the takeover with it */
        }
    }
    j_called_back(j);
}

static void on_lease(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    lane_t *l = data;
    sb_jobs_t *j = l->j;
    l->lease_busy = false;
    long long r = reply && reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
    if (j->closing) {
        /* sb_jobs_close gives up what it knew of; a lease taken meanwhile ends by itself */
    } else if (r == 2 || (r == 1 && !l->held)) {
        /* Taken: first whatever former holders left pending, then new entries. */
        if (l->held)
            sb_log(SB_LOG_WARN, "lease had run out; taking it over again", "\"lane\":\"%s\"", l->spec.stream);
        l->held = true;
        l->st.ready = false;
        const char *argv[] = {l->spec.stream, SB_Q_GROUP, j->consumer, TAKEOVER_MAX};
        if (j_eval(j, &sb_script_lane_takeover, 1, 4, argv, on_taken_over, l) < 0)
            l->held = false;
    } else if (r == 0 && l->held) {
        /* Another consumer has it, or Redis did not answer: stop taking entries either way (the
         * job's storing refuses them unless the lease is ours); a later answer of 1 or 2 takes
         * it over again. */
        sb_log(SB_LOG_WARN,
               reply && reply->type == REDIS_REPLY_INTEGER ? "lease lost to another consumer"
                                                           : "lease not renewed (no answer)",
               "\"lane\":\"%s\"", l->spec.stream);
        l->held = l->st.ready = false;
    }
    j_called_back(j);
}

static void lease_step(lane_t *l, uint64_t now)
{
    sb_jobs_t *j = l->j;
    if (l->lease_busy || (l->held && !l->st.ready) || now - l->last_lease < LEASE_RENEW_MS)
        return;
    l->last_lease = now;
    const char *argv[] = {l->spec.lease_key, j->consumer, LEASE_MS};
    if (j_eval(j, &sb_script_lane_lease, 1, 3, argv, on_lease, l) == 0)
        l->lease_busy = true;
}

/* ---------- the tick ---------- */

static void on_tick(uv_timer_t *t)
{
    sb_jobs_t *j = t->data;
    if (j->closing || !sb_store_ready(j->store))
        return;
    uint64_t now = uv_now(j->loop);
    int64_t wall = sb_now_ms();
    char wall_s[24];
    snprintf(wall_s, sizeof(wall_s), "%lld", (long long)wall);

    if (!j->groups_ready)
        ensure_groups(j);
    else if (!j->reading)
        read_next(j);
    for (unsigned k = 0; k < j->nlanes; k++)
        if (j->lanes[k].spec.lease_key) {
            if (j->groups_ready)
                lease_step(&j->lanes[k], now);
            refill(&j->lanes[k]); /* a backlog whose refill found no slot free at the time */
        }

    for (unsigned k = 0; k < j->ntasks; k++) {
        task_t *tk = &j->tasks[k];
        if ((tk->first_loop_only && j->index != 0) || now - tk->last < tk->period_ms)
            continue;
        if (tk->fn(tk->data, now, wall))
            tk->last = now;
    }

    if (now - j->last_hb >= HEARTBEAT_MS) {
        j->last_hb = now;
        const char *argv[] = {"SET", j->hb_key, "1", "PX", HEARTBEAT_TTL_MS};
        sb_store_cmd(j->store, NULL, NULL, 5, argv, NULL);
    }
    reclaim_step(j, now, wall_s);
}

/* ---------- lifecycle ---------- */

sb_jobs_t *sb_jobs_new(uv_loop_t *loop, const sb_config_t *cfg, sb_metrics_t *metrics, sb_store_t *store,
                       unsigned loop_index)
{
    sb_jobs_t *j = sb_calloc(1, sizeof(*j));
    j->loop = loop;
    j->cfg = cfg;
    j->store = store;
    j->index = loop_index;
    j->qstore = sb_store_new(loop, cfg, metrics);
    sb_store_set_reports_up(j->qstore, false);
    sb_store_on_ready(j->qstore, on_qstore_ready, j);
    unsigned char r[4];
    sb_random_bytes(r, sizeof(r));
    snprintf(j->consumer, sizeof(j->consumer), "%s:%d:%u:%02x%02x%02x%02x", cfg->instance_id ? cfg->instance_id : "sb",
             (int)getpid(), loop_index, r[0], r[1], r[2], r[3]);
    sb_key_heartbeat(j->hb_key, j->consumer);
    uv_timer_init(loop, &j->tick);
    j->tick.data = j;
    return j;
}

int sb_jobs_lane(sb_jobs_t *j, const sb_lane_spec_t *spec)
{
    if (j->nlanes == SB_JOBS_MAX_LANES)
        return -E2BIG;
    lane_t *l = &j->lanes[j->nlanes++];
    l->j = j;
    l->spec = *spec;
    l->st.budget = spec->budget;
    l->st.leased = spec->lease_key != NULL;
    return 0;
}

int sb_jobs_every(sb_jobs_t *j, unsigned period_ms, bool first_loop_only, sb_task_fn fn, void *data)
{
    if (j->ntasks == SB_JOBS_MAX_TASKS)
        return -E2BIG;
    j->tasks[j->ntasks++] = (task_t){period_ms, first_loop_only, fn, data, 0};
    return 0;
}

const char *sb_jobs_consumer(const sb_jobs_t *j)
{
    return j->consumer;
}

void sb_jobs_start(sb_jobs_t *j)
{
    sb_store_start(j->qstore);
    uv_timer_start(&j->tick, on_tick, TICK_MS, TICK_MS);
}

static void part_closed(sb_jobs_t *j)
{
    if (--j->pending_closes > 0)
        return;
    /* The owner may now close the loop's store; its pending callbacks still find the runner. */
    if (j->done)
        j->done(j->done_data);
    j->parts_closed = true;
    jobs_free_if_done(j);
}

static void on_qstore_closed(sb_store_t *st, void *data)
{
    SB_UNUSED(st);
    part_closed(data);
}

static void on_tick_closed(uv_handle_t *h)
{
    part_closed(h->data);
}

static void on_lease_released(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    SB_UNUSED(reply);
    part_closed(data);
}

void sb_jobs_close(sb_jobs_t *j, void (*done)(void *), void *data)
{
    j->closing = true;
    j->done = done;
    j->done_data = data;
    j->pending_closes = 2;
    for (unsigned k = 0; k < j->nlanes; k++) {
        lane_t *l = &j->lanes[k];
        if (!l->held)
            continue;
        /* The next holder need not wait for the lease to run out. The loop's store closes once
         * the runner is closed, so the runner waits for this answer (or the command deadline). */
        const char *argv[] = {l->spec.lease_key, j->consumer, "0"};
        if (sb_store_eval(j->store, &sb_script_lane_lease, 1, 3, argv, NULL, on_lease_released, j) == 0)
            j->pending_closes++;
        l->held = l->st.ready = false;
    }
    uv_timer_stop(&j->tick);
    uv_close((uv_handle_t *)&j->tick, on_tick_closed);
    sb_store_close(j->qstore, on_qstore_closed, j);
}
