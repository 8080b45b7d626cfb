/* HTTP server: listeners, connections, parsing, keep-alive, timeouts and graceful stop.
 * Owns every sb_conn_t; hands each request read to the front door it is given (hooks.front,
 * front.c: routing and early refusals), so it writes no response itself. What a
 * loop serves with (store, job runner, caches) is the application's: it is made, started and
 * stopped through the hooks (http.h), so this file names none of it. */
#include "switchboard/http.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "switchboard/alloc.h"
#include "switchboard/crypto.h"
#include "switchboard/log.h"
#include "switchboard/parser.h"
#include "switchboard/peers.h"
#include "switchboard/text.h"

#define SWEEP_MS         250
#define STARTUP_GRACE_MS 3000
#define LINGER_MS        2000
#define OUT_HIGH_WATER   (256 * 1024) /* stop reading while this much output is queued */
#define HELD_HIGH_WATER  (64 * 1024)  /* stop reading while this much input waits for a handler */
#define REQ_POOL_MAX     1024
#define ARENA_CHUNK      4096

struct sb_conn {
    uv_tcp_t tcp;
    sb_loop_t *loop;
    sb_conn_t *prev, *next;
    sb_parser_t parser;
    sb_req_t *req;
    sb_buf_t out;  /* queued output, not yet handed to uv_write */
    sb_buf_t wbuf; /* output owned by the write in flight */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    sb_buf_t held;       /* input that arrived while a handler was running */
    uint64_t deadline;   /* uv_now() ms; 0 = none */
    uint64_t body_start; /* uv_now() ms the request's headers were complete; 0: not in a body */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer;
    bool reading, writing, in_feed;
    bool closing;      /* no more requests: shut down once output is flushed */
    bool eof;          /* the client half-closed while a request was in flight */
    bool lingering;    /* write side shut; discarding input until EOF or deadline */
    bool shut;         /* uv_close called */
    bool peer_counted; /* counted in srv->peers under peer_key */
    unsigned char peer_key[16];
};

/* ---------- request pool and arena ---------- */

static sb_req_t *req_acquire(sb_loop_t *loop)
{
    sb_req_t *req = loop->free_reqs;
    if (req) {
        loop->free_reqs = req->next_free;
        loop->nfree_reqs--;
    } else {
        req = sb_req_new(loop->srv->cfg->max_body);
    }
    sb_req_reset(req);
    req->loop = loop;
    return req;
}

static void req_release(sb_loop_t *loop, sb_req_t *req)
{
    if (loop->nfree_reqs >= REQ_POOL_MAX || loop->closed) {
        sb_req_destroy(req);
        return;
    }
    sb_req_trim(req);
    req->next_free = loop->free_reqs;
    loop->free_reqs = req;
    loop->nfree_reqs++;
}

const struct sockaddr *sb_req_peer(const sb_req_t *req)
{
    static const struct sockaddr_in none = {.sin_family = AF_INET};
    return req->conn ? &req->conn->peer.sa : (const struct sockaddr *)&none;
}

/* ---------- connection plumbing ---------- */

static void conn_flush(sb_conn_t *c);
static void conn_feed(sb_conn_t *c, const char *data, size_t len);
static void loop_maybe_finish(sb_loop_t *loop);

static void on_conn_closed(uv_handle_t *h)
{
    sb_conn_t *c = h->data;
    sb_loop_t *loop = c->loop;
    sb_req_t *aborted = NULL;
    if (c->req) {
        if (c->req->dispatched && !c->req->done) {
            c->req->conn = NULL; /* the handler still owns it; it finishes without a socket */
            if (c->req->streaming && c->req->on_abort)
                aborted = c->req;
        } else {
            req_release(loop, c->req);
        }
        c->req = NULL;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        loop->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    loop->nconns--;
    __atomic_fetch_sub(&loop->srv->open_conns, 1, __ATOMIC_RELAXED);
    if (c->peer_counted)
        sb_peers_drop(loop->srv->peers, c->peer_key);
    sb_metrics_add(&loop->metrics.conns_open, -1);
    sb_buf_free(&c->out);
    sb_buf_free(&c->wbuf);
    sb_buf_free(&c->held);
    sb_free(c);
    if (aborted) {
        void (*fn)(sb_req_t *) = aborted->on_abort;
        aborted->on_abort = NULL;
        fn(aborted); /* the owner ends the stream */
    }
    loop_maybe_finish(loop);
}

static void conn_close(sb_conn_t *c)
{
    if (c->shut)
        return;
    c->shut = true;
    c->deadline = 0;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    SB_UNUSED(suggested);
    sb_conn_t *c = h->data;
    /* One read buffer per loop: a read callback always finishes with it before the next read. */
    buf->base = c->loop->readbuf;
    buf->len = sizeof(c->loop->readbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(sb_conn_t *c)
{
    if (!c->reading && !c->shut && !c->eof) {
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) == 0)
            c->reading = true;
    }
}

static void conn_read_stop(sb_conn_t *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
    sb_conn_t *c = r->data;
    if (status < 0 || c->shut) {
        conn_close(c);
        return;
    }
    /* Keep reading (and discarding) so the peer sees our response before our FIN, not a RST. */
    c->lingering = true;
    c->deadline = uv_now(&c->loop->uv) + LINGER_MS;
    conn_read_start(c);
}

static void conn_finish_output(sb_conn_t *c)
{
    if (!c->closing || c->writing || c->out.len || c->shut || c->lingering)
        return;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
    else
        c->lingering = true;
}

static void on_write(uv_write_t *w, int status)
{
    sb_conn_t *c = w->data;
    c->writing = false;
    sb_buf_reset(&c->wbuf);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->shut)
        return;
    if (c->req && c->req->streaming)
        c->deadline = 0; /* flushed: an open stream waits for its next event, not a timeout */
    conn_flush(c);
    if (!c->writing && !c->closing && !(c->req && c->req->dispatched))
        conn_read_start(c);
}

static void conn_flush(sb_conn_t *c)
{
    if (c->shut)
        return;
    if (c->writing || c->out.len == 0) {
        conn_finish_output(c);
        return;
    }
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->out.len) {
        sb_buf_reset(&c->out);
        if (c->out.cap > 16 * 1024)
            sb_buf_free(&c->out);
        conn_finish_output(c);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    if (n > 0)
        sb_buf_consume(&c->out, (size_t)n);
    /* Hand the rest to libuv; new output accumulates in `out` meanwhile. */
    sb_buf_t tmp = c->wbuf;
    c->wbuf = c->out;
    c->out = tmp;
    sb_buf_reset(&c->out);
    b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        conn_close(c);
        return;
    }
    c->writing = true;
    c->deadline = uv_now(&c->loop->uv) + c->loop->srv->cfg->idle_timeout_ms;
    if (c->wbuf.len > OUT_HIGH_WATER)
        conn_read_stop(c);
}

static void update_date(sb_loop_t *loop)
{
    uint64_t sec = (uint64_t)time(NULL);
    if (sec == loop->date_sec)
        return;
    loop->date_sec = sec;
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(loop->date, sizeof(loop->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

const char *sb_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

void sb__conn_write(sb_req_t *req, const void *p, size_t n)
{
    if (req->conn && !req->conn->shut)
        sb_buf_append(&req->conn->out, p, n);
}

int sb__conn_stream(sb_req_t *req, const void *p, size_t n)
{
    sb_conn_t *c = req->conn;
    if (!c) {
        /* The client left before the stream began (its connection is closed and forgotten):
         * the owner learns it here, as on_abort, like a client leaving mid-stream. */
        if (req->streaming && req->on_abort) {
            void (*fn)(sb_req_t *) = req->on_abort;
            req->on_abort = NULL;
            fn(req);
        }
        return -EPIPE;
    }
    if (c->shut)
        return -EPIPE; /* closing: on_conn_closed calls on_abort */
    if (c->eof) {
        /* The client finished sending before its stream began: gone, as an EOF during the
         * stream would say (reading has stopped, so nothing else would notice). */
        conn_close(c);
        return -EPIPE;
    }
    if (n)
        sb_buf_append(&c->out, p, n);
    if (c->out.len + c->wbuf.len > SB_STREAM_MAX_QUEUED) {
        conn_close(c); /* a reader this slow would only grow our memory */
        return -ENOBUFS;
    }
    conn_flush(c);
    conn_read_start(c); /* to see the client leave */
    return c->shut ? -EPIPE : 0;
}

void sb__conn_write_head(sb_req_t *req, int status, const char *content_type, size_t body_len)
{
    sb_conn_t *c = req->conn;
    if (!c || c->shut)
        return;
    if (c->loop->stopping || c->closing)
        req->keep_alive = false;
    update_date(c->loop);
    sb_buf_t *o = &c->out;
    sb_buf_puts(o, "HTTP/1.1 ");
    sb_buf_put_u64(o, (unsigned)status);
    sb_buf_putc(o, ' ');
    sb_buf_puts(o, sb_status_text(status));
    sb_buf_puts(o, "\r\n");
    sb_buf_puts(o, c->loop->date);
    if (content_type) {
        sb_buf_puts(o, "Content-Type: ");
        sb_buf_puts(o, content_type);
        sb_buf_puts(o, "\r\n");
    }
    if (body_len == SIZE_MAX) {
        sb_buf_puts(o, "Transfer-Encoding: chunked\r\nCache-Control: no-store\r\n");
    } else if (status >= 200 && status != 204 && status != 304) {
        sb_buf_puts(o, "Content-Length: ");
        sb_buf_put_u64(o, body_len);
        sb_buf_puts(o, "\r\n");
    }
    sb_buf_puts(o, "X-Request-Id: ");
    sb_buf_puts(o, req->request_id);
    sb_buf_puts(o, "\r\n");
    if (!req->keep_alive)
        sb_buf_puts(o, "Connection: close\r\n");
    else if (sb_parser_http10(&c->parser))
        sb_buf_puts(o, "Connection: keep-alive\r\n");
    if (req->resp_headers.len)
        sb_buf_append(o, req->resp_headers.data, req->resp_headers.len);
    sb_buf_puts(o, "\r\n");
}

static void log_request(sb_req_t *req, uint64_t latency_ns)
{
    if (!sb_log_enabled(SB_LOG_INFO))
        return;
    sb_buf_t *b = sb_log_line_begin(SB_LOG_INFO, "request");
    sb_buf_puts(b, ",\"request_id\":\"");
    sb_buf_json_escape(b, req->request_id, strlen(req->request_id));
    sb_buf_puts(b, "\",\"method\":\"");
    sb_buf_json_escape(b, req->method_name.p, req->method_name.len);
    sb_buf_puts(b, "\",\"path\":\"");
    sb_buf_json_escape(b, req->path.p, SB_MIN(req->path.len, 512));
    sb_buf_puts(b, "\",\"route\":\"");
    const char *route = req->match.route ? req->match.route->pattern : "unmatched";
    sb_buf_json_escape(b, route, strlen(route));
    char peer[INET6_ADDRSTRLEN] = "";
    const struct sockaddr *sa = sb_req_peer(req);
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, peer, sizeof(peer));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, peer, sizeof(peer));
    sb_buf_printf(b, "\",\"status\":%d,\"latency_ms\":%.3f,\"bytes\":%zu,\"peer\":\"%s\"", req->status,
                  (double)latency_ns / 1e6, req->resp_bytes, peer);
    if (req->tenant_id)
        sb_buf_printf(b, ",\"tenant\":\"%s\"", req->tenant_id);
    sb_log_line_end(b);
}

static void conn_continue(sb_conn_t *c);

void sb__req_finish(sb_req_t *req)
{
    sb_loop_t *loop = req->loop;
    req->done = true;
    uint64_t lat = uv_hrtime() - req->start_ns;
    unsigned slot = req->match.route ? req->match.route->slot : SB_METRICS_UNMATCHED;
    sb_metrics_observe(&loop->metrics, slot, req->status, lat);
    log_request(req, lat);
    sb_conn_t *c = req->conn;
    if (!c) {
        req_release(loop, req);
        return;
    }
    c->req = NULL;
    bool keep = req->keep_alive;
    req_release(loop, req);
    if (c->shut)
        return;
    if (!keep || loop->stopping) {
        c->closing = true;
        conn_read_stop(c);
    } else {
        c->deadline = uv_now(&loop->uv) + loop->srv->cfg->idle_timeout_ms;
    }
    if (!c->in_feed)
        conn_continue(c);
}

/* After an asynchronous response: parse what arrived meanwhile, flush, read on. */
static void conn_continue(sb_conn_t *c)
{
    if (c->held.len && !c->closing) {
        sb_buf_t in = c->held;
        sb_buf_init(&c->held, in.max);
        conn_feed(c, in.data, in.len);
        sb_buf_free(&in);
    }
    if (c->eof && !(c->req && c->req->dispatched))
        c->closing = true; /* all the half-closed client sent is answered */
    conn_flush(c);
    if (!c->closing && !c->writing && !(c->req && c->req->dispatched))
        conn_read_start(c);
}

static void gen_request_id(sb_loop_t *loop, char *out)
{
    unsigned char raw[12];
    memcpy(raw, loop->reqid_prefix, 8);
    uint32_t n = ++loop->reqid_counter;
    raw[8] = (unsigned char)(n >> 24);
    raw[9] = (unsigned char)(n >> 16);
    raw[10] = (unsigned char)(n >> 8);
    raw[11] = (unsigned char)n;
    sb_hex_encode(raw, sizeof(raw), out);
}

static bool request_id_ok(sb_str_t v)
{
    if (v.len == 0 || v.len > SB_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < v.len; i++)
        if (v.p[i] <= 0x20 || v.p[i] >= 0x7f || v.p[i] == '"' || v.p[i] == '\\')
            return false;
    return true;
}

/* Answers a request that failed before reaching a handler, then closes the connection. */
static void conn_fail(sb_conn_t *c, int status, const char *detail)
{
    if (!c->req) {
        c->req = req_acquire(c->loop);
        c->req->conn = c;
    }
    sb_req_t *req = c->req;
    if (!req->request_id[0])
        gen_request_id(c->loop, req->request_id);
    if (!req->method_name.len)
        req->method_name = SB_STR_LIT("-");
    req->keep_alive = false;
    req->dispatched = true;
    c->closing = true;
    c->loop->srv->hooks.front->refuse(req, status, detail);
}

/* RFC 9112 3.2: an HTTP/1.1 request carries exactly one Host field (HTTP/1.0 may have none). */
static const char *host_problem(const sb_conn_t *c, const sb_req_t *req)
{
    unsigned n = 0;
    for (unsigned i = 0; i < req->nheaders; i++)
        n += sb_ascii_ieq(req->headers[i].name.p, req->headers[i].name.len, "host");
    if (n > 1)
        return "malformed HTTP request: more than one Host header";
    if (n == 0 && !sb_parser_http10(&c->parser))
        return "malformed HTTP request: an HTTP/1.1 request needs a Host header";
    return NULL;
}

static void conn_dispatch(sb_conn_t *c)
{
    sb_req_t *req = c->req;
    sb_loop_t *loop = c->loop;
    req->dispatched = true;
    c->deadline = 0;
    c->body_start = 0;
    if (loop->stopping)
        req->keep_alive = false;
    const char *bad_host = host_problem(c, req);
    if (bad_host) {
        conn_fail(c, 400, bad_host);
        return;
    }
    loop->srv->hooks.front->dispatch(req);
}

static void conn_feed(sb_conn_t *c, const char *data, size_t len)
{
    c->in_feed = true;
    while (len > 0 && !c->shut) {
        if (c->lingering || c->closing)
            break; /* input after a final response is discarded */
        if (c->req && c->req->streaming)
            break; /* input while streaming is ignored; reading continues to see the client leave */
        if (c->req && c->req->dispatched) {
            /* A handler is running: hold the rest (pipelined requests) until it answers. Reading
             * goes on, so the socket's poll registration stays as it is (no epoll_ctl per
             * request), up to a high-water mark. */
            if (sb_buf_append(&c->held, data, len) < 0)
                c->closing = true;
            if (c->held.len >= HELD_HIGH_WATER || c->closing)
                conn_read_stop(c);
            break;
        }
        size_t used = 0;
        int rc = sb_parser_execute(&c->parser, data, len, &used);
        data += used;
        len -= used;
        if (rc == SB_PARSE_MORE)
            break;
        if (rc == SB_PARSE_MESSAGE || rc == SB_PARSE_UPGRADE) {
            if (rc == SB_PARSE_UPGRADE) { /* no protocol switches here: answer, then close */
                c->req->keep_alive = false;
                len = 0;
            }
            conn_dispatch(c);
            continue;
        }
        int status = c->parser.err_status;
        char detail[160];
        if (status == 431)
            snprintf(detail, sizeof(detail), "request header block larger than %d bytes or more than %d fields",
                     SB_HEAD_MAX, SB_MAX_HEADERS);
        else if (status == 413)
            snprintf(detail, sizeof(detail), "request body larger than %llu bytes",
                     (unsigned long long)c->loop->srv->cfg->max_body);
        else
            snprintf(detail, sizeof(detail), "malformed HTTP request: %s", sb_parser_error_reason(&c->parser));
        conn_fail(c, status, detail);
        break;
    }
    c->in_feed = false;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sb_conn_t *c = s->data;
    if (c->shut)
        return;
    if (nread > 0) {
        if (c->lingering)
            return;
        conn_feed(c, buf->base, (size_t)nread);
        conn_flush(c);
        return;
    }
    if (nread == 0)
        return;
    if (nread == UV_EOF && c->req && c->req->dispatched && !c->req->streaming && !c->lingering) {
        /* The client finished sending (half-close) while its request is being handled: answer
         * it and whatever it pipelined before, then close. */
        c->eof = true;
        conn_read_stop(c);
        return;
    }
    /* EOF or error. A request still being handled finishes without its peer. */
    conn_close(c);
}

/* ---------- parser hooks ---------- */

/* A body's deadline (docs/architecture.md "Timeouts", as mod_reqtimeout's body=20,MinRate=500):
 * --body-timeout-ms from the end of the headers, a second more per --body-min-rate bytes
 * received, never beyond --body-max-ms. A body trickled a byte at a time falls behind it. */
static uint64_t body_deadline(const sb_config_t *cfg, uint64_t start, size_t received)
{
    uint64_t d = cfg->body_timeout_ms;
    if (cfg->body_min_rate)
        d += (uint64_t)received * 1000 / cfg->body_min_rate;
    if (d > cfg->body_max_ms)
        d = cfg->body_max_ms;
    return start + d;
}

static sb_req_t *hook_begin(sb_parser_t *p)
{
    sb_conn_t *c = p->data;
    sb_req_t *req = req_acquire(c->loop);
    req->conn = c;
    c->req = req;
    c->deadline = uv_now(&c->loop->uv) + c->loop->srv->cfg->header_timeout_ms;
    c->body_start = 0;
    return req;
}

static void hook_headers(sb_parser_t *p, sb_req_t *req)
{
    sb_conn_t *c = p->data;
    sb_loop_t *loop = c->loop;
    if (loop->stopping)
        req->keep_alive = false;
    const sb_header_t *rid = sb_req_header(req, "x-request-id");
    if (rid && request_id_ok(rid->value)) {
        memcpy(req->request_id, rid->value.p, rid->value.len);
        req->request_id[rid->value.len] = '\0';
    } else {
        gen_request_id(loop, req->request_id);
    }
    if (req->expect_continue) {
        sb_buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        conn_flush(c);
    }
    c->body_start = uv_now(&loop->uv);
    c->deadline = body_deadline(loop->srv->cfg, c->body_start, 0);
}

static void hook_body(sb_parser_t *p)
{
    sb_conn_t *c = p->data;
    c->deadline = body_deadline(c->loop->srv->cfg, c->body_start, c->req ? c->req->body.len : 0);
}

static const sb_parser_hooks_t parser_hooks = {hook_begin, hook_headers, hook_body};

/* ---------- accept, timers, loop lifecycle ---------- */

static const char refuse_resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                  "Content-Type: application/problem+json\r\n"
                                  "Retry-After: 1\r\nConnection: close\r\nContent-Length: 102\r\n\r\n"
                                  "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,"
                                  "\"detail\":\"too many open connections\"}";
static const char refuse_peer_resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                       "Content-Type: application/problem+json\r\n"
                                       "Retry-After: 1\r\nConnection: close\r\nContent-Length: 119\r\n\r\n"
                                       "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,"
                                       "\"detail\":\"too many open connections from this client\"}";

static void free_handle(uv_handle_t *h)
{
    sb_free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    sb_loop_t *loop = server->data;
    if (status < 0) {
        sb_log(SB_LOG_WARN, "accept failed", "\"error\":\"%s\"", uv_strerror(status));
        return;
    }
    sb_server_t *srv = loop->srv;
    uint64_t n = __atomic_fetch_add(&srv->open_conns, 1, __ATOMIC_RELAXED);
    if (n >= srv->cfg->max_connections || loop->stopping) {
        __atomic_fetch_sub(&srv->open_conns, 1, __ATOMIC_RELAXED);
        uv_tcp_t *t = sb_malloc(sizeof(*t));
        uv_tcp_init(&loop->uv, t);
        if (uv_accept(server, (uv_stream_t *)t) == 0) {
            uv_buf_t b = uv_buf_init((char *)refuse_resp, sizeof(refuse_resp) - 1);
            uv_try_write((uv_stream_t *)t, &b, 1);
            sb_metrics_add(&loop->metrics.conns_refused, 1);
        }
        uv_close((uv_handle_t *)t, free_handle);
        return;
    }
    sb_conn_t *c = sb_calloc(1, sizeof(*c));
    c->loop = loop;
    c->tcp.data = c;
    uv_tcp_init(&loop->uv, &c->tcp);
    sb_buf_init(&c->out, 64u << 20);
    sb_buf_init(&c->wbuf, 64u << 20);
    sb_buf_init(&c->held, 256 * 1024);
    /* linked before accept so that on_conn_closed can always unlink it */
    c->next = loop->conns;
    if (loop->conns)
        loop->conns->prev = c;
    loop->conns = c;
    loop->nconns++;
    sb_metrics_add(&loop->metrics.conns_open, 1);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int len = sizeof(c->peer);
    uv_tcp_getpeername(&c->tcp, &c->peer.sa, &len);
    if (srv->peers && !sb_cidr_list_match(&srv->cfg->trusted_proxies, &c->peer.sa)) {
        /* one client, one budget: a proxy (trusted) carries many clients and is exempt */
        sb_peers_key(&c->peer.sa, srv->cfg->ipv6_prefix, c->peer_key);
        if (!sb_peers_take(srv->peers, c->peer_key, srv->cfg->max_connections_per_ip)) {
            uv_buf_t b = uv_buf_init((char *)refuse_peer_resp, sizeof(refuse_peer_resp) - 1);
            uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
            sb_metrics_add(&loop->metrics.conns_refused, 1);
            conn_close(c);
            return;
        }
        c->peer_counted = true;
    }
    sb_parser_init(&c->parser, &parser_hooks, c, srv->cfg->max_body);
    c->deadline = uv_now(&loop->uv) + srv->cfg->header_timeout_ms;
    conn_read_start(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    SB_UNUSED(h);
}

/* The application's services have closed: the loop's own handles go last. */
static void on_app_closed(sb_loop_t *loop)
{
    uv_close((uv_handle_t *)&loop->sweep, on_handle_closed);
    uv_close((uv_handle_t *)&loop->grace, on_handle_closed);
    uv_close((uv_handle_t *)&loop->wakeup, on_handle_closed);
    uv_close((uv_handle_t *)&loop->flush, on_handle_closed);
}

/* Once the last connection is gone: the application's services (the loop_drained hook), then
 * the handles. */
static void loop_maybe_finish(sb_loop_t *loop)
{
    if (!loop->stopping || loop->nconns || loop->closed)
        return;
    loop->closed = true;
    if (loop->srv->hooks.loop_drained)
        loop->srv->hooks.loop_drained(loop, on_app_closed);
    else
        on_app_closed(loop);
}

static void on_sweep(uv_timer_t *t)
{
    sb_loop_t *loop = t->data;
    uint64_t now = uv_now(&loop->uv);
    bool force = loop->stopping && now >= loop->stop_deadline;
    for (sb_conn_t *c = loop->conns; c; c = c->next) {
        if (c->shut)
            continue;
        if (force) {
            conn_close(c);
            continue;
        }
        if (!c->deadline || now < c->deadline)
            continue;
        if (c->req && !c->req->dispatched && !c->lingering && !c->writing) {
            conn_fail(c, 408, c->body_start ? "request body arrived too slowly" : "request not received in time");
            conn_flush(c);
        } else {
            conn_close(c);
        }
    }
    loop_maybe_finish(loop);
}

static void on_flush_check(uv_check_t *h)
{
    SB_UNUSED(h);
    sb_log_flush();
}

static void loop_begin_stop(sb_loop_t *loop)
{
    if (loop->stopping)
        return;
    loop->stopping = true;
    loop->stop_deadline = uv_now(&loop->uv) + loop->srv->cfg->shutdown_timeout_ms;
    if (loop->listening) {
        uv_close((uv_handle_t *)&loop->listener, on_handle_closed);
        loop->listening = false;
    }
    for (sb_conn_t *c = loop->conns; c; c = c->next) {
        if (c->shut)
            continue;
        if ((!c->req && !c->writing && c->out.len == 0) || (c->req && c->req->streaming))
            conn_close(c); /* idle keep-alive, or an event stream: nothing to finish */
        else
            c->closing = c->closing || (c->req == NULL);
    }
    loop_maybe_finish(loop);
}

static void on_wakeup(uv_async_t *a)
{
    sb_loop_t *loop = a->data;
    if (__atomic_load_n(&loop->srv->stop_requested, __ATOMIC_ACQUIRE))
        loop_begin_stop(loop);
}

static int open_listener(sb_loop_t *loop)
{
    sb_config_t *cfg = loop->srv->cfg;
    struct sockaddr_storage ss;
    int rc;
    if (strchr(cfg->listen_host, ':'))
        rc = uv_ip6_addr(cfg->listen_host, (int)cfg->listen_port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(cfg->listen_host, (int)cfg->listen_port, (struct sockaddr_in *)&ss);
    if (rc != 0)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* libuv 1.44 has no UV_TCP_REUSEPORT: set it on our own socket before binding. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss,
             ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    uv_tcp_init(&loop->uv, &loop->listener);
    loop->listener.data = loop;
    if ((rc = uv_tcp_open(&loop->listener, fd)) != 0) {
        close(fd);
        return rc;
    }
    loop->listening = true;
    return 0;
}

/* Accepting starts once the application says the loop is ready (its Redis connection is up),
 * or after a grace period, so that /healthz and clean 503s still work while Redis is down at
 * start. Until then the kernel hands new connections to loops that already accept. */
void sb_loop_accept(sb_loop_t *loop)
{
    if (loop->accepting || !loop->listening || loop->stopping)
        return;
    loop->accepting = true;
    uv_timer_stop(&loop->grace);
    int rc = uv_listen((uv_stream_t *)&loop->listener, 4096, on_connection);
    if (rc != 0)
        sb_log(SB_LOG_ERROR, "listen failed", "\"error\":\"%s\"", uv_strerror(rc));
}

static void on_grace(uv_timer_t *t)
{
    sb_loop_accept(t->data);
}

int sb_server_init(sb_server_t *srv, sb_config_t *cfg, sb_router_t *router, const sb_server_hooks_t *hooks)
{
    memset(srv, 0, sizeof(*srv));
    srv->cfg = cfg;
    srv->router = router;
    srv->hooks = *hooks;
    srv->nloops = cfg->threads;
    if (cfg->max_connections_per_ip)
        srv->peers = sb_peers_new();
    srv->loops = sb_calloc(srv->nloops, sizeof(sb_loop_t *));

    for (unsigned i = 0; i < srv->nloops; i++) {
        sb_loop_t *loop = sb_calloc(1, sizeof(*loop));
        srv->loops[i] = loop;
        loop->srv = srv;
        loop->index = i;
        uv_loop_init(&loop->uv);
        loop->uv.data = loop;
        uv_async_init(&loop->uv, &loop->wakeup, on_wakeup);
        loop->wakeup.data = loop;
        uv_timer_init(&loop->uv, &loop->sweep);
        loop->sweep.data = loop;
        uv_timer_init(&loop->uv, &loop->grace);
        loop->grace.data = loop;
        uv_check_init(&loop->uv, &loop->flush);
        loop->flush.data = loop;
        sb_random_bytes(loop->reqid_prefix, sizeof(loop->reqid_prefix));
        sb_metrics_register(&loop->metrics);
        if (srv->hooks.loop_init) {
            int rc = srv->hooks.loop_init(loop, srv->hooks.data);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int sb_server_listen(sb_server_t *srv)
{
    for (unsigned i = 0; i < srv->nloops; i++) {
        int rc = open_listener(srv->loops[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void loop_thread(void *arg)
{
    sb_loop_t *loop = arg;
    if (loop->srv->hooks.loop_start)
        loop->srv->hooks.loop_start(loop);
    uv_timer_start(&loop->grace, on_grace, STARTUP_GRACE_MS, 0);
    uv_timer_start(&loop->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_check_start(&loop->flush, on_flush_check);
    uv_unref((uv_handle_t *)&loop->flush);
    /* A stop requested before this thread ran must not be missed. */
    if (__atomic_load_n(&loop->srv->stop_requested, __ATOMIC_ACQUIRE))
        loop_begin_stop(loop);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    sb_log_flush();
    sb_crypto_thread_cleanup();
    sb_log_thread_cleanup();
}

int sb_server_start(sb_server_t *srv)
{
    for (unsigned i = 0; i < srv->nloops; i++) {
        int rc = uv_thread_create(&srv->loops[i]->thread, loop_thread, srv->loops[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void sb_server_stop(sb_server_t *srv)
{
    __atomic_store_n(&srv->stop_requested, 1, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < srv->nloops; i++)
        uv_async_send(&srv->loops[i]->wakeup);
}

void sb_server_join(sb_server_t *srv)
{
    for (unsigned i = 0; i < srv->nloops; i++)
        uv_thread_join(&srv->loops[i]->thread);
}

void sb_server_free(sb_server_t *srv)
{
    for (unsigned i = 0; i < srv->nloops; i++) {
        sb_loop_t *loop = srv->loops[i];
        if (!loop)
            continue;
        /* Handles that never ran (start failed) are closed here so the loop closes cleanly. */
        if (!loop->closed) {
            if (loop->listening)
                uv_close((uv_handle_t *)&loop->listener, on_handle_closed);
            loop->stopping = true;
            loop_maybe_finish(loop);
            uv_run(&loop->uv, UV_RUN_DEFAULT);
        }
        while (loop->free_reqs) {
            sb_req_t *r = loop->free_reqs;
            loop->free_reqs = r->next_free;
            sb_req_destroy(r);
        }
        int rc = uv_loop_close(&loop->uv);
        if (rc != 0)
            sb_log(SB_LOG_WARN, "loop closed with handles left", "\"loop\":%u", i);
        sb_free(loop);
    }
    sb_free(srv->loops);
    sb_peers_free(srv->peers);
    srv->peers = NULL;
    sb_metrics_reset_registry();
}
