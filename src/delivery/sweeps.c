/* The periodic sweeps of one loop (engine.h), each a task of the job runner's tick (jobs.h):
 * due retries back into the retry stream (promote), paced deliveries whose turn has come into
 * the fresh stream (pace_tick: paced subscriptions at --pace-ms, platform sends within their
 * platform's limits), and on each instance's first loop only, the proactive messages' scheduler,
 * the idle-timeout close of conversations, the removal of deleted tenants' keys, and the
 * queue-depth sample of /metrics. Each is one script; a sweep whose previous run is still out
 * waits for it. It may call the store, conv's event context, the log, outcome.h's pacing gap,
 * platform.h's send limits and core's cron schedules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "switchboard/alloc.h"
#include "switchboard/clock.h"
#include "switchboard/conv.h"
#include "switchboard/cron.h"
#include "switchboard/log.h"
#include "switchboard/platform.h"

#define PROMOTE_MS      100
#define PROMOTE_MAX     "200"
#define PACE_KEYS       16      /* keys a pace tick may serve, each with a gap of its own */
#define IDLE_SWEEP_MS   1000    /* the idle-timeout close runs this often, on each instance's first loop */
#define IDLE_SWEEP_MAX  "100"   /* conversations closed by one run */
#define PURGE_IDLE_MS   1000    /* a look for deleted tenants' keys to remove, each instance's first loop */
#define PURGE_BUSY_MS   100     /* the next step while a tenant's removal is under way */
#define PURGE_STEP_KEYS "20000" /* keys a step looks at (SCAN), ~ a few ms of Redis */
#define DEPTH_MS        1000
#define PM_MS           100     /* the proactive scheduler's step, each instance's first loop ... */
#define PM_MAX          200     /* ... takes this many due firings (a full step: the next one at once) */
#define PM_LEASE_MS     "60000" /* a fanned-out cron occurrence waits this long for its next one */

struct sb__sweeps {
    sb_delivery_t *d;
    bool promote_busy, pace_busy, idle_busy, purge_busy, depth_busy, pm_busy;
    uint64_t next_purge, next_pm;
    char limits[256]; /* the platforms' send limits, as pace_tick takes them */
};

static void wall_str(int64_t wall, char out[24])
{
    snprintf(out, 24, "%lld", (long long)wall);
}

/* ---------- retries and pacing (every loop) ---------- */

static void on_promoted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    SB_UNUSED(reply);
    sb__sweeps_t *s = data;
    s->promote_busy = false;
    sb__d_called_back(s->d);
}

/* Due members of the delay set go to the retry stream (or a paced one back to its line), each
 * moved once: one script. */
static bool promote(void *data, uint64_t now, int64_t wall)
{
    SB_UNUSED(now);
    sb__sweeps_t *s = data;
    if (s->promote_busy)
        return false;
    char wall_s[24];
    wall_str(wall, wall_s);
    const char *argv[] = {SB_Q_DELAY, SB_Q_RETRY, SB_PACE_DUE, wall_s, PROMOTE_MAX, SB_PACE_PREFIX};
    if (sb__d_eval(s->d, &sb_script_promote, 3, 6, argv, on_promoted, s) == 0)
        s->promote_busy = true;
    return true;
}

static void on_paced(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    SB_UNUSED(reply);
    sb__sweeps_t *s = data;
    s->pace_busy = false;
    sb__d_called_back(s->d);
}

/* For every pacing key whose turn has come, the oldest delivery goes to the fresh stream: a paced
 * subscription's next turn is a jittered gap later; a platform chat's line is held until the
 * send's outcome, within the chat's and the account's rates (the table of limits.c, or the
 * binding's sendLimits). */
static bool pace(void *data, uint64_t now, int64_t wall)
{
    SB_UNUSED(now);
    sb__sweeps_t *s = data;
    if (s->pace_busy)
        return false;
    char wall_s[24];
    wall_str(wall, wall_s);
    char gaps[PACE_KEYS][16];
    const char *argv[6 + PACE_KEYS] = {SB_PACE_DUE, SB_Q_FRESH, wall_s, SB_PACE_PREFIX, "16", s->limits};
    for (int i = 0; i < PACE_KEYS; i++) {
        snprintf(gaps[i], sizeof(gaps[i]), "%u", sb_pace_gap_ms(s->d->cfg->pace_ms, sb__random_u32()));
        argv[6 + i] = gaps[i];
    }
    if (sb__d_eval(s->d, &sb_script_pace_tick, 2, (int)SB_ARRAY_SIZE(argv), argv, on_paced, s) == 0)
        s->pace_busy = true;
    return true;
}

/* ---------- each instance's first loop ---------- */

static void on_idle_swept(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb__sweeps_t *s = data;
    s->idle_busy = false;
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
        sb_log(SB_LOG_INFO, "closed idle conversations", "\"count\":%lld", (long long)reply->integer);
    sb__d_called_back(s->d);
}

/* Open conversations idle for --conversation-idle-ms are closed. */
static bool idle_close(void *data, uint64_t now, int64_t wall)
{
    SB_UNUSED(now);
    sb__sweeps_t *s = data;
    sb_delivery_t *d = s->d;
    if (s->idle_busy)
        return false;
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, d->cfg);
    char cutoff[24];
    snprintf(cutoff, sizeof(cutoff), "%lld", (long long)(wall - (int64_t)d->cfg->conversation_idle_ms));
    const char *argv[] = {cx.json, cutoff, IDLE_SWEEP_MAX};
    if (sb__d_eval(d, &sb_script_conv_idle, 0, 3, argv, on_idle_swept, s) == 0)
        s->idle_busy = true;
    sb_event_cx_free(&cx);
    return true;
}

static void on_pm_next(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    SB_UNUSED(reply); /* not swapped: the lease runs out and a later step does it again */
    sb__d_called_back(data);
}

/* A cron occurrence pm_run fanned out and leased ({member, cron, zone, occurrence ms}): its next
 * occurrence takes its place. */
static void pm_next(sb_delivery_t *d, const redisReply *l)
{
    if (l->type != REDIS_REPLY_ARRAY || l->elements != 4)
        return;
    for (size_t i = 0; i < 4; i++)
        if (!l->element[i]->str)
            return;
    const char *m = l->element[0]->str; /* s|<tid>|<pmid>|<at ms> */
    char tid[37], pmid[37];
    if (l->element[0]->len < 2 + 36 + 1 + 36 + 2 || m[0] != 's' || m[1] != '|' || m[38] != '|' || m[75] != '|')
        return;
    memcpy(tid, m + 2, 36);
    tid[36] = '\0';
    memcpy(pmid, m + 39, 36);
    pmid[36] = '\0';
    sb_cron_t cr;
    const char *err;
    int64_t next;
    char next_s[24] = "";
    const sb_tz_t *z = sb_tz_find(l->element[2]->str);
    if (sb_cron_parse(l->element[1]->str, &cr, &err) == 0 && z &&
        sb_cron_next(&cr, z, strtoll(l->element[3]->str, NULL, 10) / 1000, &next) == 0)
        snprintf(next_s, sizeof(next_s), "%lld", (long long)next * 1000);
    else
        sb_log(SB_LOG_WARN, "proactive message's schedule ends", "\"id\":\"%s\"", pmid);
    const char *argv[] = {tid, pmid, m, next_s};
    sb__d_eval(d, &sb_script_pm_next, 0, 4, argv, on_pm_next, d);
}

static bool pm_run(void *data, uint64_t now, int64_t wall);

static void on_pm_run(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb__sweeps_t *s = data;
    sb_delivery_t *d = s->d;
    s->pm_busy = false;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3) {
        for (size_t i = 3; i < reply->elements; i++)
            pm_next(d, reply->element[i]);
        /* more are due, or a fan-out is under way: the next step now, not a tick later */
        if (reply->element[1]->integer >= PM_MAX || reply->element[2]->integer) {
            s->next_pm = 0;
            pm_run(s, uv_now(d->loop), sb_now_ms());
        }
    }
    sb__d_called_back(d);
}

/* Due proactive firings are fired, each once across instances (docs/proactive.md "Scheduler"):
 * every 100 ms, at once again after a full step or while a fan-out is under way. */
static bool pm_run(void *data, uint64_t now, int64_t wall)
{
    sb__sweeps_t *s = data;
    sb_delivery_t *d = s->d;
    if (s->pm_busy || now < s->next_pm)
        return false;
    s->next_pm = now + PM_MS;
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, d->cfg);
    char wall_s[24], max[8];
    wall_str(wall, wall_s);
    snprintf(max, sizeof(max), "%d", PM_MAX);
    const char *argv[] = {cx.json, wall_s, max, PM_LEASE_MS};
    if (sb__d_eval(d, &sb_script_pm_run, 0, 4, argv, on_pm_run, s) == 0)
        s->pm_busy = true;
    sb_event_cx_free(&cx);
    return true;
}

static void on_purged(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb__sweeps_t *s = data;
    sb_delivery_t *d = s->d;
    s->purge_busy = false;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 && reply->element[0]->str &&
        reply->element[0]->len) {
        s->next_purge = uv_now(d->loop) + PURGE_BUSY_MS; /* more of it, or another tenant, next */
        if (reply->element[2]->integer == 1)
            sb_log(SB_LOG_INFO, "deleted tenant's keys removed", "\"tenant_id\":\"%.64s\"", reply->element[0]->str);
    }
    sb__d_called_back(d);
}

/* A step of removing a deleted tenant's keys: once a second when there is none, every 100 ms
 * while one is under way (its own schedule: the task runs every tick). */
static bool purge(void *data, uint64_t now, int64_t wall)
{
    SB_UNUSED(wall);
    sb__sweeps_t *s = data;
    if (s->purge_busy || now < s->next_purge)
        return false;
    s->next_purge = now + PURGE_IDLE_MS;
    const char *argv[] = {SB_PURGE, PURGE_STEP_KEYS};
    if (sb__d_eval(s->d, &sb_script_tenant_purge, 1, 2, argv, on_purged, s) == 0)
        s->purge_busy = true;
    return true;
}

static void on_depth_body(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb__sweeps_t *s = data;
    s->depth_busy = false;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 4)
        for (int i = 0; i < 4; i++)
            __atomic_store_n(&s->d->metrics->queue_depth[i], (uint64_t)reply->element[i]->integer, __ATOMIC_RELAXED);
}

static void on_depth(sb_store_t *st, redisReply *reply, void *data)
{
    sb_delivery_t *d = ((sb__sweeps_t *)data)->d;
    on_depth_body(st, reply, data);
    sb__d_called_back(d);
}

/* switchboard_delivery_queue_depth: fresh, retry, delayed, dead. */
static bool depth(void *data, uint64_t now, int64_t wall)
{
    SB_UNUSED(now);
    SB_UNUSED(wall);
    sb__sweeps_t *s = data;
    if (s->depth_busy)
        return false;
    const char *argv[] = {SB_Q_FRESH, SB_Q_RETRY, SB_Q_DELAY, SB_Q_DEAD};
    if (sb__d_eval(s->d, &sb_script_queue_depth, 4, 4, argv, on_depth, s) == 0)
        s->depth_busy = true;
    return true;
}

sb__sweeps_t *sb__sweeps_new(sb_delivery_t *d)
{
    sb__sweeps_t *s = sb_calloc(1, sizeof(*s));
    s->d = d;
    if (sb_send_limits_format(s->limits, sizeof(s->limits)) < 0)
        s->limits[0] = '\0'; /* cannot be (the table is ours); pace_tick would take 1/s a chat, 10 an account */
    sb_jobs_every(d->jobs, PROMOTE_MS, false, promote, s);
    sb_jobs_every(d->jobs, 0, false, pace, s);
    sb_jobs_every(d->jobs, 0, true, pm_run, s);
    if (d->cfg->conversation_idle_ms)
        sb_jobs_every(d->jobs, IDLE_SWEEP_MS, true, idle_close, s);
    sb_jobs_every(d->jobs, 0, true, purge, s);
    sb_jobs_every(d->jobs, DEPTH_MS, true, depth, s);
    return s;
}

void sb__sweeps_free(sb__sweeps_t *s)
{
    sb_free(s);
}
