/* The delivery engine of one loop thread (delivery.h): the composition of its parts. It makes
 * the job runner (jobs.c), borrows the loop's HTTP client (the application's), and registers with the runner what runs
 * in it: the fresh and retry lanes, whose job is an attempt (attempt.c, then webhook.c or
 * send.c), the inbound lane, whose job is the one given to sb_delivery_set_inbound, and the
 * periodic sweeps (sweeps.c). It counts the loop-store commands of those parts, so that it is
 * freed only once the last has called back. It may call the runner, the client, the CSPRNG and
 * its parts; the inbound job only through the function it was given. */
#include <stdio.h>

#include "engine.h"
#include "switchboard/alloc.h"

/* Fresh deliveries, retries, and inbound channel messages (docs/channels.md): the runner's
 * consumer machinery (group, budgets, reclaim of dead consumers) works all three queues.
 * Fresh sends and retries are separate streams with separate in-flight budgets, so a failing
 * endpoint cannot starve new events. An inbound entry is nothing but a script on the loop's
 * Redis connection, queued in the same pipeline as the webhook handlers' scripts, and only the
 * one loop, cluster-wide, that holds the inbound lease works that queue (docs/channels.md
 * "Order"): its scripts run in the order it sends them, so a chat's messages are stored in the
 * order they were queued. The lane's small budget keeps the acknowledgements that platforms
 * wait for ahead of the storing, which the queue lets wait. Deliveries mostly wait on the
 * network. */
#define FRESH_BUDGET   512
#define RETRY_BUDGET   128
#define INBOUND_BUDGET 8

static void engine_free(sb_delivery_t *d)
{
    sb__sweeps_free(d->sweeps);
    sb__webhook_free(d);
    sb_free(d);
}

static uint32_t jitter(void *data)
{
    SB_UNUSED(data);
    return sb__random_u32();
}

/* The inbound lane's job: the runner holds the lease as its consumer, the job stores as it. */
static void inbound_job(void *data, const char *entry, const char *json, size_t len, sb_job_done_fn done,
                        void *done_data)
{
    sb_delivery_t *d = data;
    d->inbound(d->store, d->cfg, sb_jobs_consumer(d->jobs), entry, json, len, done, done_data);
}

/* ---------- lifecycle ---------- */

sb_delivery_t *sb_delivery_new(uv_loop_t *loop, const sb_config_t *cfg, sb_metrics_t *metrics, sb_store_t *store,
                               sb_client_t *client, unsigned loop_index)
{
    sb_delivery_t *d = sb_calloc(1, sizeof(*d));
    d->loop = loop;
    d->cfg = cfg;
    d->metrics = metrics;
    d->store = store;
    d->index = loop_index;
    d->retry = (sb_retry_schedule_t){cfg->retry_schedule, cfg->retry_steps, jitter, NULL};
    d->jobs = sb_jobs_new(loop, cfg, metrics, store, loop_index);
    d->client = client;
    d->webhook = sb__webhook_kind;
    d->send = sb__send_kind;
    d->free_parts = engine_free;
    sb__webhook_init(d);
    d->lanes[0] = (sb__lane_t){d, SB_Q_FRESH};
    d->lanes[1] = (sb__lane_t){d, SB_Q_RETRY};
    sb_jobs_lane(d->jobs, &(sb_lane_spec_t){SB_Q_FRESH, FRESH_BUDGET, NULL, sb__attempt_job, &d->lanes[0]});
    sb_jobs_lane(d->jobs, &(sb_lane_spec_t){SB_Q_RETRY, RETRY_BUDGET, NULL, sb__attempt_job, &d->lanes[1]});
    d->sweeps = sb__sweeps_new(d);
    return d;
}

void sb_delivery_set_inbound(sb_delivery_t *d, sb_inbound_fn fn)
{
    if (!fn || d->inbound)
        return;
    d->inbound = fn;
    sb_jobs_lane(d->jobs, &(sb_lane_spec_t){SB_Q_IN, INBOUND_BUDGET, SB_Q_IN_LEASE, inbound_job, d});
}

void sb_delivery_start(sb_delivery_t *d)
{
    if (!d->cfg->process_queues)
        return; /* an HTTP-only instance: its client still serves the command flow */
    sb_jobs_start(d->jobs);
}

static void runner_closed(void *data)
{
    sb_delivery_t *d = data;
    if (d->done)
        d->done(d->done_data);
}

void sb_delivery_close(sb_delivery_t *d, void (*done)(void *), void *data)
{
    d->closing = true;
    d->done = done;
    d->done_data = data;
    sb_jobs_close(d->jobs, runner_closed, d);
}

void sb_delivery_free(sb_delivery_t *d)
{
    /* The owner may now close the loop's store; its pending callbacks still find the engine. */
    d->parts_closed = true;
    if (d->store_pending == 0)
        engine_free(d);
}
