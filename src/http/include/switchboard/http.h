/* The HTTP server (src/http/server.c; requests: request.c, answers: response.c): N loop threads,
 * each with its own libuv loop and SO_REUSEPORT listener; what else a loop holds (its Redis
 * connection, job runner...) the application plugs in through sb_server_hooks_t. A connection
 * handles one request at a time: the parser pauses after each message, so pipelined requests
 * are answered in order and an asynchronous handler (waiting on Redis) simply holds the rest of
 * the input until it responds. */
#ifndef SWITCHBOARD_HTTP_H
#define SWITCHBOARD_HTTP_H

#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "switchboard/buf.h"
#include "switchboard/common.h"
#include "switchboard/config.h"
#include "switchboard/metrics.h"
#include "switchboard/router.h"
#include "switchboard/validate.h"

#define SB_HEAD_MAX       (16 * 1024) /* request line + header block; beyond it: 431 */
#define SB_MAX_HEADERS    100
#define SB_REQUEST_ID_MAX 128

typedef struct sb_server sb_server_t;
typedef struct sb_loop sb_loop_t;
typedef struct sb_conn sb_conn_t;
typedef struct sb_req sb_req_t;
struct sb_store;

typedef struct sb_header {
    sb_str_t name;
    sb_str_t value;
} sb_header_t;

/* Arena chunk for per-request allocations; freed (or kept for reuse) when the request ends. */
typedef struct sb_arena_chunk {
    struct sb_arena_chunk *next;
    size_t used, cap;
    char data[];
} sb_arena_chunk_t;

struct sb_req {
    sb_conn_t *conn;
    sb_loop_t *loop;
    /* request */
    unsigned method; /* SB_M_* bit; 0 for methods no route uses */
    sb_str_t method_name;
    sb_str_t path; /* raw, not percent-decoded */
    sb_str_t query;
    sb_header_t headers[SB_MAX_HEADERS];
    unsigned nheaders;
    sb_buf_t body;
    sb_route_match_t match;
    char request_id[SB_REQUEST_ID_MAX + 1];
    uint64_t start_ns;
    bool keep_alive;
    /* response */
    int status;
    size_t resp_bytes;
    sb_buf_t resp_headers; /* extra header lines set by the handler, "Name: value\r\n" each */
    /* handler state for asynchronous work */
    void *ctx;
    const char *tenant_id; /* set by tenant authentication */
    const char *key_id;
    /* internal */
    sb_req_t *next_free;
    sb_buf_t head; /* raw bytes of URL and header fields while parsing */
    uint32_t url_end;
    uint32_t hdr_off[SB_MAX_HEADERS][4];
    unsigned hdr_state; /* 0 none, 1 in field, 2 in value */
    bool dispatched, done, expect_continue;
    bool streaming; /* a streamed response (sb_resp_stream_begin) is open */
    void (*on_abort)(sb_req_t *req);
    sb_arena_chunk_t *arena;
};

typedef void (*sb_request_fn)(sb_req_t *req); /* set by the API layer: auth + handler */

/* What the server calls once it has read a request (front.c): dispatch routes it (404 / 405 /
 * OPTIONS answered there, else hooks.on_request); refuse answers a request that failed before
 * any handler with a problem body. The server itself writes no response: it is given this. */
typedef struct sb_front {
    void (*dispatch)(sb_req_t *req);
    void (*refuse)(sb_req_t *req, int status, const char *detail);
} sb_front_t;
extern const sb_front_t sb_http_front;

/* What the application plugs into each loop (the way redis's ae loop takes beforesleep): the
 * server runs connections and knows nothing of what a loop's services are. */
typedef struct sb_server_hooks {
    sb_request_fn on_request; /* a routed request: authentication, then the handler */
    const sb_front_t *front;  /* routing and early refusals: &sb_http_front */
    /* On the main thread, once per loop, before any thread runs: make the loop's services
     * (loop->app). Non-zero fails sb_server_init. */
    int (*loop_init)(sb_loop_t *loop, void *data);
    /* On the loop's thread, first thing: start them; call sb_loop_accept(loop) once the loop can
     * serve (it accepts anyway after a grace period, so /healthz and clean 503s work). */
    void (*loop_start)(sb_loop_t *loop);
    /* On the loop's thread, once the loop stops and its last connection is gone: stop the
     * services in order and call done(loop) when every one has closed. */
    void (*loop_drained)(sb_loop_t *loop, void (*done)(sb_loop_t *loop));
    void *data;
} sb_server_hooks_t;

struct sb_server {
    sb_config_t *cfg;
    sb_router_t *router;
    sb_server_hooks_t hooks;
    unsigned nloops;
    sb_loop_t **loops;
    uint64_t open_conns;    /* across loops, atomic */
    struct sb_peers *peers; /* open connections per client (--max-connections-per-ip), NULL: no cap */
    int stop_requested;     /* atomic */
};

struct sb_loop {
    sb_server_t *srv;
    unsigned index;
    uv_loop_t uv;
    uv_tcp_t listener;
    bool listening, accepting;
    uv_timer_t grace;
    uv_async_t wakeup;
    uv_timer_t sweep;
    uv_check_t flush;
    uv_thread_t thread;
    void *app; /* the application's services of this loop (sb_server_hooks_t.loop_init) */
    sb_metrics_t metrics;
    sb_conn_t *conns; /* intrusive list of open connections */
    unsigned nconns;
    sb_req_t *free_reqs;
    unsigned nfree_reqs;
    bool stopping;
    bool closed;
    uint64_t stop_deadline;
    char date[64]; /* "Date: ...\r\n", refreshed once a second */
    uint64_t date_sec;
    unsigned char reqid_prefix[8];
    uint32_t reqid_counter;
    char readbuf[64 * 1024];
};

int sb_server_init(sb_server_t *srv, sb_config_t *cfg, sb_router_t *router, const sb_server_hooks_t *hooks);
/* The loop may take connections (its services are ready); idempotent, on the loop's thread. */
void sb_loop_accept(sb_loop_t *loop);
/* Binds every loop's listener (so bind errors surface before anything runs). */
int sb_server_listen(sb_server_t *srv);
/* Starts the loop threads; returns at once. */
int sb_server_start(sb_server_t *srv);
/* Thread-safe: stop accepting, finish in-flight requests (bounded), then end the loops. */
void sb_server_stop(sb_server_t *srv);
void sb_server_join(sb_server_t *srv);
void sb_server_free(sb_server_t *srv);

/* --- request helpers (request.c) --- */
const sb_header_t *sb_req_header(const sb_req_t *req, const char *name);
/* The percent-decoded path parameter by name, NUL-terminated in the request arena; NULL when
 * absent or badly encoded. */
const char *sb_req_param(sb_req_t *req, const char *name);
/* Query parameter, percent-decoded into the arena; NULL when absent or badly encoded. */
const char *sb_req_query(sb_req_t *req, const char *name);
/* Same, telling the two apart: 0 found, -ENOENT absent, -EINVAL bad escape or NUL. */
int sb_req_query_get(sb_req_t *req, const char *name, const char **out);
void *sb_req_alloc(sb_req_t *req, size_t n);
/* Request objects: the server pools them; bodies up to max_body. */
sb_req_t *sb_req_new(uint64_t max_body);
void sb_req_reset(sb_req_t *req);
/* Drops what a pooled request should not keep (extra arena chunks, a large body buffer). */
void sb_req_trim(sb_req_t *req);
void sb_req_destroy(sb_req_t *req);
char *sb_req_strndup(sb_req_t *req, const char *s, size_t n);
/* The socket peer as text (IPv4 dotted or IPv6). */
const struct sockaddr *sb_req_peer(const sb_req_t *req);

/* --- responses (response.c); exactly one send per request --- */
void sb_resp_header(sb_req_t *req, const char *name, const char *value);
void sb_resp_send(sb_req_t *req, int status, const char *content_type, const char *body, size_t len);
/* Serializes json (not freed) as the body. */
void sb_resp_json(sb_req_t *req, int status, const cJSON *json);
/* RFC 9457 problem+json; field (may be NULL) names the bad input. */
void sb_resp_problem(sb_req_t *req, int status, const char *detail, const char *field);
/* Same, with more members (already JSON, e.g. "\"attemptsLeft\":3") after the standard ones. */
void sb_resp_problem_ex(sb_req_t *req, int status, const char *detail, const char *field, const char *members);
/* 400 from a failed check of validate.h (its field named when set). */
void sb_resp_verr(sb_req_t *req, const sb_verr_t *e);

/* The body through the validated JSON parse (json.h) as one object; on failure answers 400
 * (naming the problem) and returns NULL. allow_empty: an empty body counts as {}. */
cJSON *sb_json_body(sb_req_t *req, bool allow_empty);
/* The same without answering: NULL with the problem in e (its field empty). */
cJSON *sb_json_body_parse(const sb_req_t *req, bool allow_empty, sb_verr_t *e);
void sb_resp_no_content(sb_req_t *req);
/* The reason phrase of a status code (server.c writes it in the status line). */
const char *sb_status_text(int status);

/* Streamed responses (Server-Sent Events): the head goes out with chunked transfer coding and
 * the request stays open; each write is one chunk. If the client goes away, sends too slowly or
 * the server stops, on_abort runs once (the connection is gone by then) and the owner must call
 * sb_resp_stream_end. Returns -1 when there is nothing to stream (HEAD: the head was sent and the
 * request finished). */
int sb_resp_stream_begin(sb_req_t *req, int status, const char *content_type, void (*on_abort)(sb_req_t *req));
/* -EPIPE when the client is gone (on_abort has run or will run). */
int sb_resp_stream_write(sb_req_t *req, const void *p, size_t n);
/* The parts as one chunk, one flush. */
int sb_resp_stream_writev(sb_req_t *req, const uv_buf_t *parts, unsigned nparts);
void sb_resp_stream_end(sb_req_t *req);
#define SB_STREAM_MAX_QUEUED (1u << 20) /* output a slow client may leave unread before it is dropped */

/* --- the connection output (server.c), used by response.c --- */
/* body_len SIZE_MAX: chunked */
void sb__conn_write_head(sb_req_t *req, int status, const char *content_type, size_t body_len);
void sb__conn_write(sb_req_t *req, const void *p, size_t n);
/* Queues stream output and flushes; -EPIPE when the connection is gone, -ENOBUFS when the
 * client is too slow (the connection is then closed). */
int sb__conn_stream(sb_req_t *req, const void *p, size_t n);
void sb__req_finish(sb_req_t *req);

#endif
