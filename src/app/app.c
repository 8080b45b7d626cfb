/* The per-loop composition (app.h): each loop thread's Redis connection, subscriber connection,
 * HTTP client, job runner, and the channel caches, made in one place with their start
 * and stop order. The HTTP server calls these through its hooks and knows none of them; the
 * route handlers reach them through sb_services() (api.h). */
#include "switchboard/app.h"

#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/channels.h"
#include "switchboard/client.h"
#include "switchboard/delivery.h"
#include "switchboard/store.h"

typedef struct app_loop {
    sb_services_t svc; /* first: loop->app points here */
    void (*done)(sb_loop_t *loop);
} app_loop_t;

/* The inbound lane's job: the incoming webhook's items ({"k":"iw",...}: api.h) and the channels'
 * messages ({"k":"in",...}) share the queue and its order. */
static void inbound_job(sb_store_t *st, const sb_config_t *cfg, const char *owner, const char *entry, const char *json,
                        size_t len, void (*done)(void *data), void *data)
{
    static const char iw[] = "{\"k\":\"iw\"";
    if (len >= sizeof(iw) - 1 && memcmp(json, iw, sizeof(iw) - 1) == 0)
        sb_incoming_store(st, cfg, owner, entry, json, len, done, data);
    else
        sb_inbound_process(st, cfg, owner, entry, json, len, done, data);
}

static int loop_init(sb_loop_t *loop, void *data)
{
    SB_UNUSED(data);
    const sb_config_t *cfg = loop->srv->cfg;
    app_loop_t *a = sb_calloc(1, sizeof(*a));
    sb_services_t *s = &a->svc;
    s->store = sb_store_new(&loop->uv, cfg, &loop->metrics);
    s->client = sb_client_new(&loop->uv, cfg);
    s->delivery = sb_delivery_new(&loop->uv, cfg, &loop->metrics, s->store, s->client, loop->index);
    sb_delivery_set_inbound(s->delivery, inbound_job);
    s->pubsub = sb_pubsub_new(&loop->uv, cfg, &loop->metrics, s->store);
    s->bindings = sb_bindings_new();
    s->teams_keys = sb_teams_keys_new(&loop->uv, s->client);
    loop->app = a;
    return 0;
}

static void on_ready(void *data)
{
    sb_loop_accept(data);
}

/* Start order: the Redis connection (the loop accepts once it is up), the job runner, the
 * subscriber connection. */
static void loop_start(sb_loop_t *loop)
{
    sb_services_t *s = loop->app;
    sb_store_on_ready(s->store, on_ready, loop);
    sb_store_start(s->store);
    sb_delivery_start(s->delivery);
    sb_pubsub_start(s->pubsub);
}

static void on_store_closed(sb_store_t *st, void *data)
{
    SB_UNUSED(st);
    sb_loop_t *loop = data;
    app_loop_t *a = loop->app;
    void (*done)(sb_loop_t *) = a->done;
    loop->app = NULL;
    sb_free(a);
    done(loop);
}

/* The client's close ended every call in flight (the engine's attempts, the Teams key fetches,
 * the command flow's calls): now the engine and the caches can go. */
static void on_client_closed(void *data)
{
    sb_loop_t *loop = data;
    app_loop_t *a = loop->app;
    sb_services_t *s = &a->svc;
    s->client = NULL;
    sb_delivery_free(s->delivery); /* freed once its last store command calls back */
    s->delivery = NULL;
    sb_bindings_free(s->bindings); /* no request is left to use them */
    s->bindings = NULL;
    sb_teams_keys_free(s->teams_keys);
    s->teams_keys = NULL;
    sb_pubsub_close(s->pubsub); /* every event stream is gone with its connection */
    s->pubsub = NULL;
    sb_store_close(s->store, on_store_closed, loop);
}

static void on_delivery_closed(void *data)
{
    sb_loop_t *loop = data;
    app_loop_t *a = loop->app;
    sb_client_close(a->svc.client, on_client_closed, loop);
}

/* Stop order, once the loop's last connection is gone: the job runner (no attempt starts
 * after), the HTTP client (abandoning the attempts in flight, unacknowledged, for others to
 * take over), the engine, the caches, the subscriber connection, then the Redis connection;
 * the server closes its own handles after. */
static void loop_drained(sb_loop_t *loop, void (*done)(sb_loop_t *loop))
{
    app_loop_t *a = loop->app;
    a->done = done;
    sb_delivery_close(a->svc.delivery, on_delivery_closed, loop);
}

void sb_app_hooks(sb_server_hooks_t *hooks)
{
    *hooks = (sb_server_hooks_t){sb_api_on_request, &sb_http_front, loop_init, loop_start, loop_drained, NULL};
}
