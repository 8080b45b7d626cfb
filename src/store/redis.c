/* Redis connection per loop (see store.h). hiredis 0.14 has no async timeouts (and the loop
 * glue is ours, redis_uv.c), so this module keeps its own timer: it expires the connect
 * attempt and the oldest command, and on expiry frees the context (pending callbacks then see
 * reply == NULL) and reconnects with backoff. */
#include <arpa/inet.h>
#include <async.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_conn.h"
#include "switchboard/alloc.h"
#include "switchboard/crypto.h"
#include "switchboard/log.h"
#include "switchboard/store.h"
#include "switchboard/text.h"

#define TICK_MS          50
#define HEARTBEAT_MS     1000
#define MAX_INFLIGHT     20000
#define PENDING_POOL_MAX 4096
#define CMD_MAX          ((size_t)1 << 30)
#define CMD_POOL_BYTES   (4 << 20) /* command buffers the pooled pending commands keep, in all */
#define BATCH_MAX_CALLS  64
#define BATCH_MAX_BYTES  (256 * 1024)
#define BATCH_KEEP       (64 * 1024) /* the same for a pooled batch's buffers */
#define BATCH_POOL_MAX   8
#define BATCH_SCRIPTS    4 /* batched scripts whose runs in flight a store counts */
#define BATCH_RUNS_MAX   2 /* runs of one script in flight before the next batch waits */

typedef enum { ST_DOWN, ST_CONNECTING, ST_HANDSHAKE, ST_READY } st_state_t;

/* Calls of one batched script made during one loop iteration (see sb_store_eval): their keys and
 * arguments as RESP bulk strings, ready to follow the EVALSHA header. */
typedef struct batch {
    struct batch *next;
    const sb_script_t *script;
    bool full; /* no more calls: the next one starts another batch */
    bool sent; /* its run is in flight */
    unsigned n;
    unsigned nkeys, nargs; /* bulk strings in keys, args */
    sb_buf_t keys, args;
    struct {
        sb_store_cb cb;
        void *data;
    } calls[BATCH_MAX_CALLS];
} batch_t;

typedef struct pending {
    struct pending *prev, *next;
    sb_store_t *st;
    sb_store_cb cb;
    void *data;
    uint64_t deadline;
    const sb_script_t *script; /* set for EVALSHA: the NOSCRIPT fallback needs it */
    sb_buf_t cmd;              /* the formatted command, kept for that fallback (capacity pooled) */
    batch_t *batch;            /* a batched call: each call gets its own element of the reply */
    bool retried;
} pending_t;

struct sb_store {
    uv_loop_t *loop;
    const sb_config_t *cfg;
    sb_metrics_t *metrics;
    sb_redis_addr_t addr;
    redisAsyncContext *ac;
    st_state_t state;
    uv_timer_t tick;
    uint64_t connect_deadline;
    sb_redis_retry_t retry;
    uint64_t last_reply;
    bool heartbeat_pending;
    pending_t *head, *tail; /* in send order */
    unsigned inflight;
    pending_t *free_list;
    unsigned nfree;
    size_t pool_bytes;               /* capacity of the pooled commands' buffers */
    batch_t *batches, *batches_tail; /* waiting for the flush, oldest first */
    unsigned batched;                /* calls in them */
    batch_t *batch_pool;
    unsigned nbatch_pool;
    struct {
        const sb_script_t *script;
        unsigned runs;
    } running[BATCH_SCRIPTS]; /* runs in flight per batched script */
    uv_idle_t flush;
    int open_handles;
    bool closing;
    sb_store_close_cb close_cb;
    void *close_data;
    unsigned failures_logged;
    void (*ready_cb)(void *);
    void *ready_data;
    bool reports_up; /* only a loop's main connection decides readiness */
};

/* ---------- URL ---------- */

int sb_redis_url_parse(const char *url, sb_redis_addr_t *a)
{
    memset(a, 0, sizeof(*a));
    a->port = 6379;
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        const char *q = strchr(path, '?');
        size_t n = q ? (size_t)(q - path) : strlen(path);
        if (n == 0 || n >= sizeof(a->path) || path[0] != '/')
            return -EINVAL;
        memcpy(a->path, path, n);
        if (q) {
            uint64_t db;
            if (strncmp(q, "?db=", 4) != 0 || sb_parse_u64(q + 4, strlen(q + 4), 15, &db) < 0)
                return -EINVAL;
            a->db = (unsigned)db;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return -EINVAL;
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            size_t ul = (size_t)(colon - p), pl = (size_t)(at - colon - 1);
            if (ul >= sizeof(a->user) || pl >= sizeof(a->password))
                return -EINVAL;
            memcpy(a->user, p, ul);
            memcpy(a->password, colon + 1, pl);
        } else {
            size_t pl = (size_t)(at - p);
            if (pl >= sizeof(a->password))
                return -EINVAL;
            memcpy(a->password, p, pl);
        }
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *hp = p;
    const char *colon = NULL;
    if (hl && hp[0] == '[') { /* [v6]:port */
        const char *rb = memchr(hp, ']', hl);
        if (!rb)
            return -EINVAL;
        if ((size_t)(rb - hp - 1) >= sizeof(a->host))
            return -EINVAL;
        memcpy(a->host, hp + 1, (size_t)(rb - hp - 1));
        if (rb + 1 < hp + hl) {
            if (rb[1] != ':')
                return -EINVAL;
            colon = rb + 1;
        }
    } else {
        colon = memchr(hp, ':', hl);
        size_t n = colon ? (size_t)(colon - hp) : hl;
        if (n == 0 || n >= sizeof(a->host))
            return -EINVAL;
        memcpy(a->host, hp, n);
    }
    if (colon) {
        uint64_t port;
        if (sb_parse_u64(colon + 1, (size_t)(hp + hl - colon - 1), 65535, &port) < 0 || port == 0)
            return -EINVAL;
        a->port = (unsigned)port;
    }
    if (slash && slash[1]) {
        uint64_t db;
        if (sb_parse_u64(slash + 1, strlen(slash + 1), 15, &db) < 0)
            return -EINVAL;
        a->db = (unsigned)db;
    }
    return a->host[0] ? 0 : -EINVAL;
}

/* ---------- pending commands ---------- */

static pending_t *pending_new(sb_store_t *st)
{
    pending_t *p = st->free_list;
    if (p) {
        st->free_list = p->next;
        st->nfree--;
        st->pool_bytes -= p->cmd.cap;
    } else {
        p = sb_malloc(sizeof(*p));
        sb_buf_init(&p->cmd, CMD_MAX);
    }
    sb_buf_t cmd = p->cmd;
    memset(p, 0, sizeof(*p));
    p->cmd = cmd;
    sb_buf_reset(&p->cmd);
    p->st = st;
    p->deadline = uv_now(st->loop) + st->cfg->redis_timeout_ms;
    /* append */
    p->prev = st->tail;
    if (st->tail)
        st->tail->next = p;
    else
        st->head = p;
    st->tail = p;
    st->inflight++;
    return p;
}

static void pending_free(sb_store_t *st, pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        st->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        st->tail = p->prev;
    st->inflight--;
    if (st->pool_bytes + p->cmd.cap > CMD_POOL_BYTES)
        sb_buf_free(&p->cmd);
    if (st->nfree < PENDING_POOL_MAX) {
        p->next = st->free_list;
        st->free_list = p;
        st->nfree++;
        st->pool_bytes += p->cmd.cap;
    } else {
        sb_buf_free(&p->cmd);
        sb_free(p);
    }
}

/* ---------- RESP, written straight into room reserved beforehand ---------- */

#define RESP_ROOM(n) ((n) + 32) /* a bulk string of n bytes with its header */

static char *put_u64(char *o, unsigned long long v)
{
    return o + sb_fmt_u64(v, o);
}

static char *put_bulk(char *o, const char *s, size_t n)
{
    *o++ = '$';
    o = put_u64(o, n);
    *o++ = '\r';
    *o++ = '\n';
    memcpy(o, s, n);
    o += n;
    *o++ = '\r';
    *o++ = '\n';
    return o;
}

/* "*<n>\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n$..\r\n<nkeys>\r\n": the start of an EVALSHA of
 * argc arguments after the key count. */
static char *put_evalsha(char *o, const sb_script_t *script, unsigned long long argc, unsigned long long nkeys)
{
    char nk[24];
    *o++ = '*';
    o = put_u64(o, argc + 3);
    *o++ = '\r';
    *o++ = '\n';
    o = put_bulk(o, "EVALSHA", 7);
    o = put_bulk(o, script->sha, 40);
    return put_bulk(o, nk, (size_t)(put_u64(nk, nkeys) - nk));
}

static void schedule_reconnect(sb_store_t *st)
{
    if (!st->closing)
        sb_metrics_add(&st->metrics->redis_errors, 1); /* a lost or failed connection */
    st->state = ST_DOWN;
    if (st->reports_up)
        __atomic_store_n(&st->metrics->redis_up, 0, __ATOMIC_RELAXED);
    if (st->closing)
        return;
    sb_redis_retry_wait(&st->retry, uv_now(st->loop));
}

/* Drops the connection: every pending callback runs with reply == NULL (hiredis does that in
 * redisAsyncFree), then a reconnect is scheduled. */
static void drop_connection(sb_store_t *st, const char *why)
{
    redisAsyncContext *ac = st->ac;
    if (!ac)
        return;
    if (st->failures_logged++ < 3 || st->failures_logged % 100 == 0)
        sb_log(SB_LOG_WARN, "redis connection dropped", "\"reason\":\"%s\"", why);
    st->ac = NULL;
    redisAsyncFree(ac);
    schedule_reconnect(st);
}

static void on_flush(uv_idle_t *h);

/* The count of script's runs in flight on this connection; NULL when the table is full. */
static unsigned *runs_of(sb_store_t *st, const sb_script_t *script)
{
    for (size_t i = 0; i < BATCH_SCRIPTS; i++) {
        if (!st->running[i].script)
            st->running[i].script = script;
        if (st->running[i].script == script)
            return &st->running[i].runs;
    }
    return NULL;
}

static void batch_release(sb_store_t *st, batch_t *b)
{
    if (b->keys.cap > BATCH_KEEP)
        sb_buf_free(&b->keys);
    if (b->args.cap > BATCH_KEEP)
        sb_buf_free(&b->args);
    if (st->nbatch_pool < BATCH_POOL_MAX) {
        b->next = st->batch_pool;
        st->batch_pool = b;
        st->nbatch_pool++;
    } else {
        sb_buf_free(&b->keys);
        sb_buf_free(&b->args);
        sb_free(b);
    }
}

/* Each call of b gets its element of the script's reply; when there is no such array (the
 * command failed, or Redis refused the whole script) each gets the reply itself, or NULL. */
static void batch_answer(sb_store_t *st, batch_t *b, redisReply *reply)
{
    unsigned *runs = b->sent ? runs_of(st, b->script) : NULL;
    if (runs) {
        (*runs)--; /* the calls held back meanwhile may leave now */
        if (st->batches && !uv_is_active((uv_handle_t *)&st->flush))
            uv_idle_start(&st->flush, on_flush);
    }
    bool split = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == b->n;
    if (reply && !split && reply->type != REDIS_REPLY_ERROR) {
        sb_log(SB_LOG_WARN, "redis batch reply of the wrong shape", "\"script\":\"%s\"", b->script->name);
        reply = NULL;
    }
    for (unsigned i = 0; i < b->n; i++) {
        redisReply *r = split ? reply->element[i] : reply;
        if (split && r->type == REDIS_REPLY_ERROR) {
            sb_metrics_add(&st->metrics->redis_errors, 1);
            sb_log(SB_LOG_WARN, "redis error reply", "\"script\":\"%s\",\"error\":\"%.200s\"", b->script->name, r->str);
        }
        b->calls[i].cb(st, r, b->calls[i].data);
    }
    batch_release(st, b);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    pending_t *p = privdata;
    sb_store_t *st = p->st;
    redisReply *reply = r;
    if (reply)
        st->last_reply = uv_now(st->loop);
    if (reply && reply->type == REDIS_REPLY_ERROR && p->script && !p->retried && st->ac == ac &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* The script cache was flushed: resend the same call as EVAL, which also reloads it.
         * The formatted EVALSHA is "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n<rest>". */
        const char *cmd = p->cmd.data, *end = cmd + p->cmd.len, *rest = cmd;
        for (int crlf = 0; crlf < 5 && rest < end; rest++)
            if (*rest == '\n')
                crlf++;
        const char *star_end = memchr(cmd, '\n', p->cmd.len);
        size_t slen = strlen(p->script->source);
        sb_buf_t b;
        sb_buf_init(&b, (size_t)-1 / 2);
        sb_buf_append(&b, cmd, (size_t)(star_end - cmd + 1));
        sb_buf_printf(&b, "$4\r\nEVAL\r\n$%zu\r\n", slen);
        sb_buf_append(&b, p->script->source, slen);
        sb_buf_puts(&b, "\r\n");
        sb_buf_append(&b, rest, (size_t)(end - rest));
        p->retried = true;
        int rc = redisAsyncFormattedCommand(ac, on_reply, p, b.data, b.len);
        sb_buf_free(&b);
        if (rc == REDIS_OK)
            return;
        reply = NULL;
    }
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        sb_metrics_add(&st->metrics->redis_errors, 1);
    if (reply && reply->type == REDIS_REPLY_ERROR)
        sb_log(SB_LOG_WARN, "redis error reply", "\"error\":\"%.200s\"", reply->str);
    sb_store_cb cb = p->cb;
    void *data = p->data;
    batch_t *batch = p->batch;
    pending_free(st, p);
    if (batch)
        batch_answer(st, batch, reply);
    else if (cb)
        cb(st, reply, data);
}

static size_t arg_len(const char **argv, const size_t *argvlen, int i)
{
    return argvlen ? argvlen[i] : strlen(argv[i]);
}

/* Formats the command (an EVALSHA of script when script is set: argv then starts with the key
 * count) into a new pending command and queues it. */
static int send_cmd(sb_store_t *st, const sb_script_t *script, int nkeys, int argc, const char **argv,
                    const size_t *argvlen, sb_store_cb cb, void *data)
{
    size_t room = 128;
    for (int i = 0; i < argc; i++)
        room += RESP_ROOM(arg_len(argv, argvlen, i));
    pending_t *p = pending_new(st);
    p->cb = cb;
    p->data = data;
    p->script = script;
    if (sb_buf_reserve(&p->cmd, room) < 0) {
        pending_free(st, p);
        return -E2BIG;
    }
    char *o = p->cmd.data;
    if (script) {
        o = put_evalsha(o, script, (unsigned long long)argc, (unsigned long long)nkeys);
    } else {
        *o++ = '*';
        o = put_u64(o, (unsigned long long)argc);
        *o++ = '\r';
        *o++ = '\n';
    }
    for (int i = 0; i < argc; i++)
        o = put_bulk(o, argv[i], arg_len(argv, argvlen, i));
    p->cmd.len = (size_t)(o - p->cmd.data);
    if (redisAsyncFormattedCommand(st->ac, on_reply, p, p->cmd.data, p->cmd.len) != REDIS_OK) {
        pending_free(st, p);
        return -EIO;
    }
    return 0;
}

/* ---------- connection lifecycle ---------- */

static void on_handshake_done(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(data);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        drop_connection(st, "handshake failed");
        return;
    }
    st->state = ST_READY;
    sb_redis_retry_reached(&st->retry);
    if (st->reports_up)
        __atomic_store_n(&st->metrics->redis_up, 1, __ATOMIC_RELAXED);
    if (st->failures_logged) {
        sb_log(SB_LOG_INFO, "redis connection restored", NULL);
        st->failures_logged = 0;
    }
    if (st->ready_cb)
        st->ready_cb(st->ready_data);
}

static void on_handshake_step(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(data);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply)
            sb_log(SB_LOG_ERROR, "redis handshake refused", "\"error\":\"%.200s\"", reply->str);
        drop_connection(st, "handshake failed");
    }
}

static void start_handshake(sb_store_t *st)
{
    st->state = ST_HANDSHAKE;
    if (st->addr.password[0]) {
        const char *argv[3] = {"AUTH", st->addr.user[0] ? st->addr.user : st->addr.password, st->addr.password};
        send_cmd(st, NULL, 0, st->addr.user[0] ? 3 : 2, argv, NULL, on_handshake_step, NULL);
    }
    if (st->addr.db) {
        char db[16];
        snprintf(db, sizeof(db), "%u", st->addr.db);
        const char *argv[2] = {"SELECT", db};
        send_cmd(st, NULL, 0, 2, argv, NULL, on_handshake_step, NULL);
    }
    for (size_t i = 0; i < sb_scripts_count; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", sb_scripts[i]->source};
        send_cmd(st, NULL, 0, 3, argv, NULL, on_handshake_step, NULL);
    }
    const char *ping[1] = {"PING"};
    send_cmd(st, NULL, 0, 1, ping, NULL, on_handshake_done, NULL);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    sb_store_t *st = ac->data;
    if (st->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback returns */
        if (st->failures_logged++ < 3 || st->failures_logged % 100 == 0)
            sb_log(SB_LOG_WARN, "redis connect failed", "\"error\":\"%s\"", ac->errstr);
        st->ac = NULL;
        schedule_reconnect(st);
        return;
    }
    st->last_reply = uv_now(st->loop);
    start_handshake(st);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    SB_UNUSED(status);
    sb_store_t *st = ac->data;
    if (st->ac != ac)
        return;
    st->ac = NULL;
    if (!st->closing)
        sb_log(SB_LOG_WARN, "redis disconnected", "\"error\":\"%s\"", ac->errstr[0] ? ac->errstr : "closed");
    schedule_reconnect(st);
}

redisAsyncContext *sb_redis_connect(uv_loop_t *loop, const sb_redis_addr_t *a, void *data,
                                    redisConnectCallback *connected, redisDisconnectCallback *disconnected,
                                    char err[128])
{
    redisAsyncContext *ac = a->path[0] ? redisAsyncConnectUnix(a->path) : redisAsyncConnect(a->host, (int)a->port);
    if (!ac || ac->err) {
        if (err)
            snprintf(err, 128, "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return NULL;
    }
    ac->data = data;
    if (sb_redis_uv_attach(ac, loop) != 0) {
        if (err)
            snprintf(err, 128, "cannot poll the Redis socket");
        redisAsyncFree(ac);
        return NULL;
    }
    redisAsyncSetConnectCallback(ac, connected);
    redisAsyncSetDisconnectCallback(ac, disconnected);
    return ac;
}

static unsigned reconnects; /* atomic: connections of this process that reached Redis again */

void sb_redis_retry_init(sb_redis_retry_t *r)
{
    memset(r, 0, sizeof(*r));
    r->backoff_ms = SB_REDIS_BACKOFF_MIN_MS;
}

void sb_redis_retry_wait(sb_redis_retry_t *r, uint64_t now)
{
    unsigned jitter = 0;
    sb_random_bytes(&jitter, sizeof(jitter));
    r->next_attempt = now + r->backoff_ms + jitter % (r->backoff_ms / 2 + 1);
    r->backoff_ms = SB_MIN(r->backoff_ms * 2, SB_REDIS_BACKOFF_MAX_MS);
    r->seen = __atomic_load_n(&reconnects, __ATOMIC_RELAXED);
}

bool sb_redis_retry_due(const sb_redis_retry_t *r, uint64_t now)
{
    return now >= r->next_attempt || __atomic_load_n(&reconnects, __ATOMIC_RELAXED) != r->seen;
}

void sb_redis_retry_reached(sb_redis_retry_t *r)
{
    if (r->backoff_ms != SB_REDIS_BACKOFF_MIN_MS) /* it had lost its connection */
        __atomic_fetch_add(&reconnects, 1, __ATOMIC_RELAXED);
    r->backoff_ms = SB_REDIS_BACKOFF_MIN_MS;
}

static void try_connect(sb_store_t *st)
{
    char err[128];
    redisAsyncContext *ac = sb_redis_connect(st->loop, &st->addr, st, on_connect, on_disconnect, err);
    if (!ac) {
        if (st->failures_logged++ < 3 || st->failures_logged % 100 == 0)
            sb_log(SB_LOG_WARN, "redis connect failed", "\"error\":\"%s\"", err);
        schedule_reconnect(st);
        return;
    }
    st->ac = ac;
    st->state = ST_CONNECTING;
    st->connect_deadline = uv_now(st->loop) + SB_REDIS_CONNECT_TIMEOUT_MS;
}

static void on_heartbeat(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(reply);
    SB_UNUSED(data);
    st->heartbeat_pending = false;
}

static void on_tick(uv_timer_t *t)
{
    sb_store_t *st = t->data;
    uint64_t now = uv_now(st->loop);
    switch (st->state) {
    case ST_DOWN:
        if (sb_redis_retry_due(&st->retry, now))
            try_connect(st);
        break;
    case ST_CONNECTING:
        if (now >= st->connect_deadline)
            drop_connection(st, "connect timeout");
        break;
    case ST_HANDSHAKE:
    case ST_READY:
        if (st->head && now >= st->head->deadline) {
            drop_connection(st, "command timeout");
            break;
        }
        /* An idle connection to a dead server is only noticed by talking to it. */
        if (st->state == ST_READY && !st->heartbeat_pending && now - st->last_reply >= HEARTBEAT_MS) {
            const char *ping[1] = {"PING"};
            if (send_cmd(st, NULL, 0, 1, ping, NULL, on_heartbeat, NULL) == 0)
                st->heartbeat_pending = true;
        }
        break;
    }
}

sb_store_t *sb_store_new(uv_loop_t *loop, const sb_config_t *cfg, sb_metrics_t *metrics)
{
    sb_store_t *st = sb_calloc(1, sizeof(*st));
    st->loop = loop;
    st->cfg = cfg;
    st->metrics = metrics;
    sb_redis_retry_init(&st->retry);
    st->state = ST_DOWN;
    st->reports_up = true;
    if (cfg->redis_url)
        sb_redis_url_parse(cfg->redis_url, &st->addr); /* validated by main */
    /* hiredis resolves names with a blocking getaddrinfo: do it once here, on the main thread
     * at start, and connect to the numeric address afterwards. */
    if (!st->addr.path[0]) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(st->addr.host, NULL, &hints, &res) == 0 && res) {
            char ip[INET6_ADDRSTRLEN];
            const void *a = res->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                                                      : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
            if (inet_ntop(res->ai_family, a, ip, sizeof(ip)))
                snprintf(st->addr.host, sizeof(st->addr.host), "%s", ip);
        }
        if (res)
            freeaddrinfo(res);
    }
    uv_timer_init(loop, &st->tick);
    st->tick.data = st;
    uv_idle_init(loop, &st->flush);
    st->flush.data = st;
    return st;
}

void sb_store_addr(const sb_store_t *st, sb_redis_addr_t *out)
{
    *out = st->addr;
}

void sb_store_set_reports_up(sb_store_t *st, bool on)
{
    st->reports_up = on;
}

void sb_store_on_ready(sb_store_t *st, void (*cb)(void *), void *data)
{
    st->ready_cb = cb;
    st->ready_data = data;
}

void sb_store_start(sb_store_t *st)
{
    try_connect(st);
    uv_timer_start(&st->tick, on_tick, TICK_MS, TICK_MS);
}

bool sb_store_ready(const sb_store_t *st)
{
    return st->state == ST_READY && st->ac;
}

static bool store_refuses(sb_store_t *st)
{
    if (sb_store_ready(st) && st->inflight + st->batched < MAX_INFLIGHT && !st->closing)
        return false;
    sb_metrics_add(&st->metrics->redis_errors, 1); /* refused: Redis down or overloaded */
    return true;
}

int sb_store_cmd(sb_store_t *st, sb_store_cb cb, void *data, int argc, const char **argv, const size_t *argvlen)
{
    if (store_refuses(st))
        return -EAGAIN;
    return send_cmd(st, NULL, 0, argc, argv, argvlen, cb, data);
}

/* ---------- batched script calls ---------- */

/* Sends b as one EVALSHA (or answers its calls with NULL when it cannot). */
static void batch_send(sb_store_t *st, batch_t *b)
{
    if (b->n == 0) { /* its only call could not be added */
        batch_release(st, b);
        return;
    }
    if (!sb_store_ready(st) || st->closing) {
        batch_answer(st, b, NULL);
        return;
    }
    pending_t *p = pending_new(st);
    p->script = b->script;
    p->batch = b;
    if (sb_buf_reserve(&p->cmd, 128 + b->keys.len + b->args.len) == 0) {
        char *o = put_evalsha(p->cmd.data, b->script, b->nkeys + b->nargs, b->nkeys);
        memcpy(o, b->keys.data, b->keys.len);
        o += b->keys.len;
        memcpy(o, b->args.data, b->args.len);
        p->cmd.len = (size_t)(o + b->args.len - p->cmd.data);
        if (redisAsyncFormattedCommand(st->ac, on_reply, p, p->cmd.data, p->cmd.len) == REDIS_OK) {
            unsigned *runs = runs_of(st, b->script);
            if (runs) {
                (*runs)++;
                b->sent = true;
            }
            sb_metrics_add(&st->metrics->redis_batches, 1);
            sb_metrics_add(&st->metrics->redis_batched_calls, b->n);
            return;
        }
    }
    p->batch = NULL;
    pending_free(st, p);
    sb_metrics_add(&st->metrics->redis_errors, 1);
    batch_answer(st, b, NULL);
}

/* Appends b to the batches waiting for the flush. */
static void batch_queue(sb_store_t *st, batch_t *b)
{
    b->next = NULL;
    if (st->batches_tail)
        st->batches_tail->next = b;
    else
        st->batches = b;
    st->batches_tail = b;
}

/* Just before the loop polls: the batches made since leave, oldest first. One that is not full
 * waits while BATCH_RUNS_MAX runs of its script are in flight on this connection (a group
 * commit): it takes the calls that come meanwhile and leaves when one of those runs is
 * answered, so under load Redis runs a script less often for more calls, and without load
 * nothing waits. */
static void on_flush(uv_idle_t *h)
{
    sb_store_t *st = h->data;
    uv_idle_stop(h);
    batch_t *b = st->batches;
    st->batches = st->batches_tail = NULL;
    st->batched = 0;
    while (b) {
        batch_t *next = b->next;
        const unsigned *runs = runs_of(st, b->script);
        if (!b->full && runs && *runs >= BATCH_RUNS_MAX && sb_store_ready(st) && !st->closing) {
            batch_queue(st, b);
            st->batched += b->n;
        } else {
            batch_send(st, b);
        }
        b = next;
    }
}

static batch_t *batch_for(sb_store_t *st, const sb_script_t *script, size_t bytes)
{
    for (batch_t *b = st->batches; b; b = b->next) {
        if (b->script != script || b->full)
            continue;
        if (b->n < BATCH_MAX_CALLS && b->keys.len + b->args.len + bytes <= BATCH_MAX_BYTES)
            return b;
        b->full = true;
    }
    batch_t *b = st->batch_pool;
    if (b) {
        st->batch_pool = b->next;
        st->nbatch_pool--;
    } else {
        b = sb_malloc(sizeof(*b));
        sb_buf_init(&b->keys, CMD_MAX);
        sb_buf_init(&b->args, CMD_MAX);
    }
    b->script = script;
    b->full = b->sent = false;
    b->n = b->nkeys = b->nargs = 0;
    sb_buf_reset(&b->keys);
    sb_buf_reset(&b->args);
    batch_queue(st, b);
    if (!uv_is_active((uv_handle_t *)&st->flush))
        uv_idle_start(&st->flush, on_flush);
    return b;
}

static int batch_add(sb_store_t *st, const sb_script_t *script, int nkeys, int argc, const char **argv,
                     const size_t *argvlen, sb_store_cb cb, void *data)
{
    if (nkeys != script->batch_keys || argc < nkeys)
        return -EINVAL;
    size_t kbytes = 0, abytes = RESP_ROOM(0);
    for (int i = 0; i < argc; i++)
        *(i < nkeys ? &kbytes : &abytes) += RESP_ROOM(arg_len(argv, argvlen, i));
    batch_t *b = batch_for(st, script, kbytes + abytes);
    if (sb_buf_reserve(&b->keys, kbytes) < 0 || sb_buf_reserve(&b->args, abytes) < 0)
        return -E2BIG;
    char *o = b->keys.data + b->keys.len;
    for (int i = 0; i < nkeys; i++)
        o = put_bulk(o, argv[i], arg_len(argv, argvlen, i));
    b->keys.len = (size_t)(o - b->keys.data);
    char n[24];
    o = put_bulk(b->args.data + b->args.len, n, (size_t)(put_u64(n, (unsigned long long)(argc - nkeys)) - n));
    for (int i = nkeys; i < argc; i++)
        o = put_bulk(o, argv[i], arg_len(argv, argvlen, i));
    b->args.len = (size_t)(o - b->args.data);
    b->nkeys += (unsigned)nkeys;
    b->nargs += (unsigned)(argc - nkeys) + 1;
    b->calls[b->n].cb = cb;
    b->calls[b->n].data = data;
    b->n++;
    st->batched++;
    return 0;
}

int sb_store_eval(sb_store_t *st, const sb_script_t *script, int nkeys, int argc, const char **argv,
                  const size_t *argvlen, sb_store_cb cb, void *data)
{
    if (store_refuses(st))
        return -EAGAIN;
    if (script->batch_keys)
        return batch_add(st, script, nkeys, argc, argv, argvlen, cb, data);
    return send_cmd(st, script, nkeys, argc, argv, argvlen, cb, data);
}

static void on_handle_closed(uv_handle_t *h)
{
    sb_store_t *st = h->data;
    if (--st->open_handles > 0)
        return;
    sb_store_close_cb cb = st->close_cb;
    void *data = st->close_data;
    while (st->free_list) {
        pending_t *p = st->free_list;
        st->free_list = p->next;
        sb_buf_free(&p->cmd);
        sb_free(p);
    }
    while (st->batch_pool) {
        batch_t *b = st->batch_pool;
        st->batch_pool = b->next;
        sb_buf_free(&b->keys);
        sb_buf_free(&b->args);
        sb_free(b);
    }
    sb_free(st);
    if (cb)
        cb(NULL, data);
}

void sb_store_close(sb_store_t *st, sb_store_close_cb cb, void *data)
{
    st->closing = true;
    st->close_cb = cb;
    st->close_data = data;
    on_flush(&st->flush); /* closing: every call still in a batch is answered NULL */
    if (st->ac) {
        redisAsyncContext *ac = st->ac;
        st->ac = NULL;
        redisAsyncFree(ac); /* fails whatever is still pending */
    }
    st->state = ST_DOWN;
    if (st->reports_up)
        __atomic_store_n(&st->metrics->redis_up, 0, __ATOMIC_RELAXED);
    uv_timer_stop(&st->tick);
    st->open_handles = 2;
    uv_close((uv_handle_t *)&st->tick, on_handle_closed);
    uv_close((uv_handle_t *)&st->flush, on_handle_closed);
}

/* ---------- start-up check (blocking, main thread) ---------- */

void sb_store_check_persistence(const char *url)
{
    sb_redis_addr_t a;
    if (sb_redis_url_parse(url, &a) < 0)
        return;
    struct timeval tv = {1, 0};
    redisContext *c =
        a.path[0] ? redisConnectUnixWithTimeout(a.path, tv) : redisConnectWithTimeout(a.host, (int)a.port, tv);
    if (!c || c->err) {
        sb_log(SB_LOG_WARN, "redis not reachable at start; will keep trying", NULL);
        if (c)
            redisFree(c);
        return;
    }
    redisSetTimeout(c, tv);
    if (a.password[0]) {
        redisReply *r =
            a.user[0] ? redisCommand(c, "AUTH %s %s", a.user, a.password) : redisCommand(c, "AUTH %s", a.password);
        if (r)
            freeReplyObject(r);
    }
    bool aof = false, rdb = false;
    redisReply *r = redisCommand(c, "CONFIG GET appendonly");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->str)
        aof = strcmp(r->element[1]->str, "yes") == 0;
    if (r)
        freeReplyObject(r);
    r = redisCommand(c, "CONFIG GET save");
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->str)
        rdb = r->element[1]->str[0] != '\0';
    if (r)
        freeReplyObject(r);
    redisFree(c);
    if (!aof && !rdb)
        sb_log(SB_LOG_WARN,
               "redis persistence is off (no AOF, no RDB): accepted requests and queued deliveries "
               "are lost if redis restarts",
               NULL);
    else if (!aof)
        sb_log(SB_LOG_WARN, "redis AOF is off: a redis crash loses writes since the last RDB snapshot", NULL);
}
