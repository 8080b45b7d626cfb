/* Redis pub/sub per loop thread: one subscriber connection that carries every channel the
 * loop's readers want (event streams of conversations), with reference counting, re-subscription
 * after a lost connection and a heartbeat that proves the connection still delivers.
 *
 * hiredis 0.14 keeps one callback per channel and drops it on the UNSUBSCRIBE reply, and leaves
 * subscribe mode when the count of channels falls to 0. So a channel is never subscribed again
 * while its UNSUBSCRIBE is in flight (the new reader waits for that reply), and a heartbeat
 * channel stays subscribed for the life of the connection. */
#include <async.h>
#include <string.h>

#include "redis_conn.h"
#include "switchboard/alloc.h"
#include "switchboard/crypto.h"
#include "switchboard/hash.h"
#include "switchboard/log.h"
#include "switchboard/store.h"
#include "switchboard/text.h"

#define PS_TICK_MS      250
#define PS_HEARTBEAT_MS 1000
#define PS_STALE_MS     5000 /* no heartbeat for this long: reconnect */
#define PS_BUCKETS      1024

typedef enum { CH_WANT, CH_SUBSCRIBING, CH_ACTIVE, CH_UNSUBSCRIBING } ch_state_t;

typedef struct chan chan_t;
struct sb_sub {
    chan_t *ch;
    sb_sub_t *prev, *next;
    sb_sub_cb cb;
    void *data;
};

struct chan {
    chan_t *next; /* bucket chain */
    sb_sub_t *subs;
    ch_state_t state;
    char name[];
};

typedef enum { PS_DOWN, PS_CONNECTING, PS_READY } ps_state_t;

struct sb_pubsub {
    uv_loop_t *loop;
    const sb_config_t *cfg;
    sb_metrics_t *metrics;
    sb_store_t *store; /* publishes our heartbeat */
    sb_redis_addr_t addr;
    redisAsyncContext *ac;
    ps_state_t state;
    uv_timer_t tick;
    uint64_t deadline; /* connect deadline, or heartbeat staleness */
    uint64_t last_hb_sent;
    sb_redis_retry_t retry;
    char hb_channel[SB_KEY_MAX];
    chan_t *buckets[PS_BUCKETS];
    bool closing;
    unsigned failures_logged;
};

static chan_t **chan_slot(sb_pubsub_t *ps, const char *name, size_t n)
{
    chan_t **pp = &ps->buckets[sb_fnv1a(name, n) % PS_BUCKETS];
    while (*pp && !(strlen((*pp)->name) == n && memcmp((*pp)->name, name, n) == 0))
        pp = &(*pp)->next;
    return pp;
}

static void send_subscribe(sb_pubsub_t *ps, chan_t *ch);

static void on_channel_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    sb_pubsub_t *ps = privdata;
    redisReply *reply = r;
    if (!reply || ps->ac != ac || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *type = reply->element[0]->str;
    const redisReply *name = reply->element[1];
    if (name->len == strlen(ps->hb_channel) && memcmp(name->str, ps->hb_channel, name->len) == 0) {
        ps->deadline = uv_now(ps->loop) + PS_STALE_MS;
        return;
    }
    chan_t **pp = chan_slot(ps, name->str, name->len);
    chan_t *ch = *pp;
    if (!ch)
        return;
    if (strcmp(type, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING) {
        if (ch->state != CH_ACTIVE)
            return;
        /* A callback may unsubscribe itself (and free the channel with its last reader). */
        for (sb_sub_t *s = ch->subs, *next; s; s = next) {
            next = s->next;
            s->cb(s->data, reply->element[2]->str, reply->element[2]->len);
            if (!*pp || *pp != ch)
                break;
        }
    } else if (strcmp(type, "subscribe") == 0) {
        if (ch->state != CH_SUBSCRIBING)
            return;
        ch->state = CH_ACTIVE;
        /* Readers re-read what they may have missed before the subscription was in place. */
        for (sb_sub_t *s = ch->subs, *next; s; s = next) {
            next = s->next;
            s->cb(s->data, NULL, 0);
            if (!*pp || *pp != ch)
                break;
        }
    } else if (strcmp(type, "unsubscribe") == 0) {
        if (ch->state != CH_UNSUBSCRIBING)
            return;
        if (ch->subs) {
            send_subscribe(ps, ch); /* a reader came back meanwhile */
        } else {
            *pp = ch->next;
            sb_free(ch);
        }
    }
}

static void send_subscribe(sb_pubsub_t *ps, chan_t *ch)
{
    ch->state = CH_WANT;
    if (ps->state != PS_READY || !ps->ac)
        return;
    const char *argv[2] = {"SUBSCRIBE", ch->name};
    if (redisAsyncCommandArgv(ps->ac, on_channel_reply, ps, 2, argv, NULL) == REDIS_OK)
        ch->state = CH_SUBSCRIBING;
}

static void schedule_reconnect(sb_pubsub_t *ps)
{
    ps->state = PS_DOWN;
    for (size_t i = 0; i < PS_BUCKETS; i++) {
        chan_t **pp = &ps->buckets[i];
        while (*pp) {
            chan_t *ch = *pp;
            if (!ch->subs) { /* it was leaving anyway */
                *pp = ch->next;
                sb_free(ch);
                continue;
            }
            ch->state = CH_WANT;
            pp = &ch->next;
        }
    }
    if (ps->closing)
        return;
    sb_metrics_add(&ps->metrics->redis_errors, 1);
    sb_redis_retry_wait(&ps->retry, uv_now(ps->loop));
}

static void drop(sb_pubsub_t *ps, const char *why)
{
    redisAsyncContext *ac = ps->ac;
    if (!ac)
        return;
    if (ps->failures_logged++ < 3)
        sb_log(SB_LOG_WARN, "redis pub/sub connection dropped", "\"reason\":\"%s\"", why);
    ps->ac = NULL;
    redisAsyncFree(ac);
    schedule_reconnect(ps);
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    sb_pubsub_t *ps = privdata;
    redisReply *reply = r;
    if (ps->ac == ac && (!reply || reply->type == REDIS_REPLY_ERROR))
        drop(ps, "authentication refused");
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    sb_pubsub_t *ps = cac->data;
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    if (ps->ac != ac)
        return;
    if (status != REDIS_OK) {
        ps->ac = NULL; /* hiredis frees it */
        schedule_reconnect(ps);
        return;
    }
    if (ps->addr.password[0]) {
        const char *argv[3] = {"AUTH", ps->addr.user[0] ? ps->addr.user : ps->addr.password, ps->addr.password};
        redisAsyncCommandArgv(ac, on_auth, ps, ps->addr.user[0] ? 3 : 2, argv, NULL);
    }
    const char *argv[2] = {"SUBSCRIBE", ps->hb_channel};
    redisAsyncCommandArgv(ac, on_channel_reply, ps, 2, argv, NULL);
    ps->state = PS_READY;
    sb_redis_retry_reached(&ps->retry);
    ps->deadline = uv_now(ps->loop) + PS_STALE_MS;
    ps->last_hb_sent = 0;
    if (ps->failures_logged) {
        sb_log(SB_LOG_INFO, "redis pub/sub connection restored", NULL);
        ps->failures_logged = 0;
    }
    for (size_t i = 0; i < PS_BUCKETS; i++)
        for (chan_t *ch = ps->buckets[i]; ch; ch = ch->next)
            if (ch->state == CH_WANT)
                send_subscribe(ps, ch);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    SB_UNUSED(status);
    sb_pubsub_t *ps = ac->data;
    if (ps->ac != ac)
        return;
    ps->ac = NULL;
    schedule_reconnect(ps);
}

static void try_connect(sb_pubsub_t *ps)
{
    redisAsyncContext *ac = sb_redis_connect(ps->loop, &ps->addr, ps, on_connect, on_disconnect, NULL);
    if (!ac) {
        schedule_reconnect(ps);
        return;
    }
    ps->ac = ac;
    ps->state = PS_CONNECTING;
    ps->deadline = uv_now(ps->loop) + SB_REDIS_CONNECT_TIMEOUT_MS;
}

static void on_tick(uv_timer_t *t)
{
    sb_pubsub_t *ps = t->data;
    uint64_t now = uv_now(ps->loop);
    switch (ps->state) {
    case PS_DOWN:
        if (sb_redis_retry_due(&ps->retry, now))
            try_connect(ps);
        break;
    case PS_CONNECTING:
        if (now >= ps->deadline)
            drop(ps, "connect timeout");
        break;
    case PS_READY:
        if (now >= ps->deadline) {
            drop(ps, "no heartbeat");
            break;
        }
        if (now - ps->last_hb_sent >= PS_HEARTBEAT_MS && sb_store_ready(ps->store)) {
            const char *argv[3] = {"PUBLISH", ps->hb_channel, "1"};
            if (sb_store_cmd(ps->store, NULL, NULL, 3, argv, NULL) == 0)
                ps->last_hb_sent = now;
        }
        break;
    }
}

sb_pubsub_t *sb_pubsub_new(uv_loop_t *loop, const sb_config_t *cfg, sb_metrics_t *metrics, sb_store_t *store)
{
    sb_pubsub_t *ps = sb_calloc(1, sizeof(*ps));
    ps->loop = loop;
    ps->cfg = cfg;
    ps->metrics = metrics;
    ps->store = store;
    ps->state = PS_DOWN;
    sb_redis_retry_init(&ps->retry);
    sb_store_addr(store, &ps->addr);
    unsigned char raw[12];
    char hex[25];
    sb_random_bytes(raw, sizeof(raw));
    sb_hex_encode(raw, sizeof(raw), hex);
    sb_key_global(ps->hb_channel, "live:hb", hex);
    uv_timer_init(loop, &ps->tick);
    ps->tick.data = ps;
    return ps;
}

void sb_pubsub_start(sb_pubsub_t *ps)
{
    try_connect(ps);
    uv_timer_start(&ps->tick, on_tick, PS_TICK_MS, PS_TICK_MS);
}

static void on_tick_closed(uv_handle_t *h)
{
    sb_pubsub_t *ps = h->data;
    for (size_t i = 0; i < PS_BUCKETS; i++) {
        while (ps->buckets[i]) {
            chan_t *ch = ps->buckets[i];
            ps->buckets[i] = ch->next;
            while (ch->subs) {
                sb_sub_t *s = ch->subs;
                ch->subs = s->next;
                sb_free(s);
            }
            sb_free(ch);
        }
    }
    sb_free(ps);
}

void sb_pubsub_close(sb_pubsub_t *ps)
{
    ps->closing = true;
    if (ps->ac) {
        redisAsyncContext *ac = ps->ac;
        ps->ac = NULL;
        redisAsyncFree(ac);
    }
    ps->state = PS_DOWN;
    uv_timer_stop(&ps->tick);
    uv_close((uv_handle_t *)&ps->tick, on_tick_closed);
}

sb_sub_t *sb_pubsub_subscribe(sb_pubsub_t *ps, const char *channel, sb_sub_cb cb, void *data)
{
    size_t n = strlen(channel);
    chan_t **pp = chan_slot(ps, channel, n);
    chan_t *ch = *pp;
    if (!ch) {
        ch = sb_calloc(1, sizeof(*ch) + n + 1);
        memcpy(ch->name, channel, n + 1);
        *pp = ch;
        ch->state = CH_WANT;
    }
    sb_sub_t *s = sb_calloc(1, sizeof(*s));
    s->ch = ch;
    s->cb = cb;
    s->data = data;
    s->next = ch->subs;
    if (ch->subs)
        ch->subs->prev = s;
    ch->subs = s;
    if (ch->state == CH_WANT)
        send_subscribe(ps, ch);
    return s;
}

bool sb_sub_active(const sb_sub_t *s)
{
    return s->ch->state == CH_ACTIVE;
}

void sb_pubsub_unsubscribe(sb_pubsub_t *ps, sb_sub_t *s)
{
    chan_t *ch = s->ch;
    if (s->prev)
        s->prev->next = s->next;
    else
        ch->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    sb_free(s);
    if (ch->subs)
        return;
    if ((ch->state == CH_ACTIVE || ch->state == CH_SUBSCRIBING) && ps->state == PS_READY && ps->ac) {
        const char *argv[2] = {"UNSUBSCRIBE", ch->name};
        if (redisAsyncCommandArgv(ps->ac, on_channel_reply, ps, 2, argv, NULL) == REDIS_OK) {
            ch->state = CH_UNSUBSCRIBING; /* freed when the reply comes */
            return;
        }
    }
    if (ch->state == CH_UNSUBSCRIBING)
        return;
    /* never subscribed on this connection (or it is down): forget it now */
    chan_t **pp = chan_slot(ps, ch->name, strlen(ch->name));
    *pp = ch->next;
    sb_free(ch);
}
