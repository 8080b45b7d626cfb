/* Non-blocking HTTP/1.1 client (see client.h). A call owns its deadline timer; a connection
 * belongs to an origin pool and carries one call at a time. TLS runs over two memory queues
 * between the socket and mbedTLS: bio_recv drains what libuv read, bio_send collects what
 * mbedTLS wants written, and every mbedTLS step is followed by one flush. Each call parses its
 * response with its own sb__resp_parser_t (client_parse.h), which knows nothing of the
 * connection, so tests/fuzz/fuzz_client.c can feed it bytes alone. */
#include "switchboard/client.h"

#include <arpa/inet.h>
#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_parse.h"
#include "switchboard/alloc.h"
#include "switchboard/buf.h"
#include "switchboard/clock.h"
#include "switchboard/log.h"
#include "switchboard/text.h"

#define MAX_CONNS_PER_ORIGIN 64
#define IDLE_MAX_MS          30000
#define SWEEP_MS             1000
#define SYSTEM_CA            "/etc/ssl/certs/ca-certificates.crt"

typedef struct call call_t;
typedef struct conn conn_t;

typedef struct origin {
    struct origin *next;
    char key[300]; /* "https://host:port" */
    conn_t *idle;
    unsigned nconns;
    call_t *wait_head, *wait_tail;
} origin_t;

struct conn {
    uv_tcp_t tcp;
    sb_client_t *cl;
    origin_t *origin;
    conn_t *next_idle;
    call_t *call;
    uv_connect_t creq;
    bool tls, handshaken, connected, closing, reused;
    mbedtls_ssl_context ssl;
    sb_buf_t tls_in;
    sb_buf_t tls_out;
    uint64_t idle_since;
};

struct call {
    sb_client_t *cl;
    sb_client_cb cb;
    void *data;
    bool https;
    char host[256];
    unsigned port;
    char *request;
    size_t request_len;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    int refs; /* timer + a pending getaddrinfo */
    conn_t *conn;
    origin_t *origin;
    call_t *next_wait;
    call_t *prev_all, *next_all;
    struct sockaddr_storage addr;
    sb__resp_parser_t resp;
    bool got_bytes, sent, done, retried, waiting;
    uint64_t start_ns;
};

struct sb_client {
    uv_loop_t *loop;
    const sb_config_t *cfg;
    origin_t *origins;
    call_t *calls; /* every call not yet finished */
    unsigned inflight;
    uv_timer_t sweep;
    bool tls_ready, closing;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    void (*close_done)(void *);
    void *close_data;
    unsigned open_conns;
};

/* ---------- SSRF guard ---------- */

static bool v4_global(const unsigned char a[4])
{
    uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
    static const struct {
        uint32_t net, mask;
    } blocked[] = {
        {0x00000000, 0xff000000}, /* 0.0.0.0/8 this network */
        {0x0a000000, 0xff000000}, /* 10/8 */
        {0x64400000, 0xffc00000}, /* 100.64/10 CGNAT */
        {0x7f000000, 0xff000000}, /* 127/8 loopback */
        {0xa9fe0000, 0xffff0000}, /* 169.254/16 link-local */
        {0xac100000, 0xfff00000}, /* 172.16/12 */
        {0xc0000000, 0xffffff00}, /* 192.0.0/24 IETF */
        {0xc0000200, 0xffffff00}, /* 192.0.2/24 TEST-NET-1 */
        {0xc0a80000, 0xffff0000}, /* 192.168/16 */
        {0xc6120000, 0xfffe0000}, /* 198.18/15 benchmarking */
        {0xc6336400, 0xffffff00}, /* 198.51.100/24 TEST-NET-2 */
        {0xcb007100, 0xffffff00}, /* 203.0.113/24 TEST-NET-3 */
        {0xe0000000, 0xf0000000}, /* 224/4 multicast */
        {0xf0000000, 0xf0000000}, /* 240/4 reserved, broadcast */
    };
    for (size_t i = 0; i < SB_ARRAY_SIZE(blocked); i++)
        if ((x & blocked[i].mask) == blocked[i].net)
            return false;
    return true;
}

bool sb_addr_allowed(const struct sockaddr *sa, const sb_cidr_list_t *allow)
{
    if (allow && sb_cidr_list_match(allow, sa))
        return true;
    if (sa->sa_family == AF_INET)
        return v4_global((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family != AF_INET6)
        return false;
    const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
        /* the IPv4 inside decides; check it against the allow list too */
        struct sockaddr_in in4 = {.sin_family = AF_INET};
        memcpy(&in4.sin_addr, a + 12, 4);
        if (allow && sb_cidr_list_match(allow, (struct sockaddr *)&in4))
            return true;
        return v4_global(a + 12);
    }
    if ((a[0] & 0xe0) != 0x20) /* only 2000::/3 is global unicast (no ::1, fc00::/7, fe80::/10, ff00::/8) */
        return false;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* 2001:db8::/32 documentation */
        return false;
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) /* 2001::/32 Teredo */
        return false;
    if (a[0] == 0x20 && a[1] == 0x02) /* 2002::/16 6to4 embeds arbitrary IPv4 */
        return v4_global(a + 2);
    return true;
}

long sb_retry_after_parse(const char *v, size_t n, int64_t now_s)
{
    sb_trim_ows(&v, &n);
    uint64_t secs;
    if (sb_parse_u64(v, n, 10u * 365 * 86400, &secs) == 0)
        return (long)secs;
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    int64_t when = (int64_t)timegm(&tm);
    return when > now_s ? (long)(when - now_s) : 0;
}

/* ---------- URL ---------- */

static int parse_url(const char *url, bool *https, char *host, size_t hostcap, unsigned *port, const char **path)
{
    const char *p;
    if (strncmp(url, "https://", 8) == 0) {
        *https = true;
        p = url + 8;
        *port = 443;
    } else if (strncmp(url, "http://", 7) == 0) {
        *https = false;
        p = url + 7;
        *port = 80;
    } else {
        return -EINVAL;
    }
    size_t alen = strcspn(p, "/?#");
    const char *end = p + alen;
    if (memchr(p, '@', alen))
        return -EINVAL;
    const char *hs = p, *he;
    const char *colon;
    if (*p == '[') {
        const char *rb = memchr(p, ']', alen);
        if (!rb)
            return -EINVAL;
        hs = p + 1;
        he = rb;
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        if (rb + 1 < end && !colon)
            return -EINVAL;
    } else {
        colon = memchr(p, ':', alen);
        he = colon ? colon : end;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= hostcap)
        return -EINVAL;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (colon) {
        uint64_t v;
        if (sb_parse_u64(colon + 1, (size_t)(end - colon - 1), 65535, &v) < 0 || v == 0)
            return -EINVAL;
        *port = (unsigned)v;
    }
    *path = *end == '/' || *end == '?' ? end : "/";
    return 0;
}

/* ---------- calls ---------- */

static void conn_close(conn_t *c);
static void conn_start(call_t *call);
static void call_write(call_t *call);

static void call_unref(call_t *call)
{
    if (--call->refs > 0)
        return;
    sb_free(call->request);
    sb__resp_parser_free(&call->resp);
    sb_free(call);
}

static void on_timer_closed(uv_handle_t *h)
{
    call_unref(h->data);
}

static void origin_wake(origin_t *o);

static void wait_remove(call_t *call)
{
    origin_t *o = call->origin;
    call_t **pp = &o->wait_head, *prev = NULL;
    while (*pp && *pp != call) {
        prev = *pp;
        pp = &(*pp)->next_wait;
    }
    if (*pp) {
        *pp = call->next_wait;
        if (o->wait_tail == call)
            o->wait_tail = prev;
    }
    call->waiting = false;
}

/* Ends a call: hands the connection back (kept alive) or closes it, then reports. */
static void call_finish(call_t *call, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void call_finish(call_t *call, int error, const char *fmt, ...)
{
    if (call->done)
        return;
    call->done = true;
    sb_client_t *cl = call->cl;
    uv_timer_stop(&call->timer);
    if (call->waiting)
        wait_remove(call);
    conn_t *c = call->conn;
    call->conn = NULL;
    if (c) {
        c->call = NULL;
        if (error == SB_CLIENT_OK && call->resp.keep_alive && !c->closing && !cl->closing) {
            c->idle_since = uv_now(cl->loop);
            c->next_idle = c->origin->idle;
            c->origin->idle = c;
        } else {
            conn_close(c);
        }
    }
    if (call->prev_all)
        call->prev_all->next_all = call->next_all;
    else
        cl->calls = call->next_all;
    if (call->next_all)
        call->next_all->prev_all = call->prev_all;
    cl->inflight--;

    sb_client_resp_t r;
    memset(&r, 0, sizeof(r));
    r.error = error;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r.error_text, sizeof(r.error_text), fmt, ap);
        va_end(ap);
    }
    sb__resp_parser_result(&call->resp, &r);
    if (error != SB_CLIENT_OK)
        r.status = 0;
    r.latency_us = (uv_hrtime() - call->start_ns) / 1000;
    call->cb(call->data, &r);
    if (call->origin)
        origin_wake(call->origin);
    uv_close((uv_handle_t *)&call->timer, on_timer_closed);
}

static void on_deadline(uv_timer_t *t)
{
    call_t *call = t->data;
    if (call->refs > 1) /* getaddrinfo still running: cancel it if it has not started */
        uv_cancel((uv_req_t *)&call->gai);
    call_finish(call, SB_CLIENT_ERR_TIMEOUT, "timed out after %llu ms",
                (unsigned long long)((uv_hrtime() - call->start_ns) / 1000000));
}

/* ---------- response parsing (client_parse.h): bytes in, no connection, no loop ---------- */

static llhttp_settings_t resp_settings;
static uv_once_t resp_settings_once = UV_ONCE_INIT;

static int on_resp_header_field(llhttp_t *l, const char *at, size_t len)
{
    sb__resp_parser_t *p = l->data;
    if (p->hdr_len + len < sizeof(p->hdr)) {
        memcpy(p->hdr + p->hdr_len, at, len);
        p->hdr_len += len;
    } else {
        p->hdr_overflow = true;
    }
    return 0;
}

static int on_resp_header_field_complete(llhttp_t *l)
{
    sb__resp_parser_t *p = l->data;
    p->in_ra = !p->hdr_overflow && sb_ascii_ieq(p->hdr, p->hdr_len, "retry-after");
    p->in_ct = !p->hdr_overflow && sb_ascii_ieq(p->hdr, p->hdr_len, "content-type");
    p->hdr_len = 0;
    p->hdr_overflow = false;
    p->ra_len = p->in_ra ? 0 : p->ra_len;
    p->ct_len = p->in_ct ? 0 : p->ct_len;
    return 0;
}

static int on_resp_header_value(llhttp_t *l, const char *at, size_t len)
{
    sb__resp_parser_t *p = l->data;
    if (p->in_ra && p->ra_len + len < sizeof(p->ra)) {
        memcpy(p->ra + p->ra_len, at, len);
        p->ra_len += len;
    } else if (p->in_ra) {
        p->ra_len = sizeof(p->ra); /* too long, however it arrives: not a Retry-After */
    }
    if (p->in_ct && p->ct_len + len < sizeof(p->ct)) {
        memcpy(p->ct + p->ct_len, at, len);
        p->ct_len += len;
    } else if (p->in_ct) {
        p->ct_len = sizeof(p->ct); /* too long: not reported */
    }
    return 0;
}

static int on_resp_header_value_complete(llhttp_t *l)
{
    sb__resp_parser_t *p = l->data;
    if (p->in_ra && p->ra_len < sizeof(p->ra))
        p->retry_after = sb_retry_after_parse(p->ra, p->ra_len, p->now_s());
    p->in_ra = false;
    p->in_ct = false;
    return 0;
}

static int on_resp_headers_complete(llhttp_t *l)
{
    sb__resp_parser_t *p = l->data;
    p->status = l->status_code;
    if (p->max_body && (l->flags & F_CONTENT_LENGTH) && l->content_length > p->max_body && p->status >= 200) {
        p->too_large = true; /* said before a byte of it is read */
        return -1;
    }
    return p->status >= 100 ? 0 : -1; /* a status line of fewer than three digits: malformed */
}

static int on_resp_body(llhttp_t *l, const char *at, size_t len)
{
    sb__resp_parser_t *p = l->data;
    p->body_total += len;
    if (p->max_body && p->body_total > p->max_body) {
        p->too_large = true;
        return -1;
    }
    size_t room = p->body.max - p->body.len;
    sb_buf_append(&p->body, at, len < room ? len : room);
    return 0;
}

/* Pauses: a call reads one response; what follows it is not for this call. */
static int on_resp_complete(llhttp_t *l)
{
    sb__resp_parser_t *p = l->data;
    if (p->status >= 100 && p->status < 200 && p->status != 101) {
        /* an interim answer (100 Continue, 103 Early Hints): the final one follows */
        p->status = 0;
        p->retry_after = -1;
        return 0;
    }
    p->complete = true;
    p->keep_alive = llhttp_should_keep_alive(l) != 0;
    return HPE_PAUSED;
}

/* Once per process: loop threads start calls concurrently. */
static void init_resp_settings(void)
{
    llhttp_settings_init(&resp_settings);
    resp_settings.on_header_field = on_resp_header_field;
    resp_settings.on_header_field_complete = on_resp_header_field_complete;
    resp_settings.on_header_value = on_resp_header_value;
    resp_settings.on_header_value_complete = on_resp_header_value_complete;
    resp_settings.on_headers_complete = on_resp_headers_complete;
    resp_settings.on_body = on_resp_body;
    resp_settings.on_message_complete = on_resp_complete;
}

void sb__resp_parser_init(sb__resp_parser_t *p, size_t keep_body, int64_t (*now_s)(void))
{
    uv_once(&resp_settings_once, init_resp_settings);
    memset(p, 0, sizeof(*p));
    p->now_s = now_s;
    p->retry_after = -1;
    sb_buf_init(&p->body, keep_body);
    sb__resp_parser_restart(p);
}

void sb__resp_parser_restart(sb__resp_parser_t *p)
{
    p->complete = false;
    p->status = 0;
    llhttp_init(&p->llhttp, HTTP_RESPONSE, &resp_settings);
    p->llhttp.data = p;
}

int sb__resp_parser_feed(sb__resp_parser_t *p, const char *data, size_t len)
{
    llhttp_errno_t e = llhttp_execute(&p->llhttp, data, len);
    if (p->complete) {
        if (e == HPE_PAUSED) {
            const char *pos = llhttp_get_error_pos(&p->llhttp);
            if (pos && pos != data + len)
                p->keep_alive = false; /* unexpected extra bytes */
        }
        return SB__RESP_DONE;
    }
    if (e != HPE_OK) {
        p->error = e;
        return SB__RESP_ERROR;
    }
    return SB__RESP_MORE;
}

bool sb__resp_parser_eof(sb__resp_parser_t *p)
{
    if (!llhttp_message_needs_eof(&p->llhttp))
        return false;
    llhttp_errno_t e = llhttp_finish(&p->llhttp); /* completes it: on_resp_complete pauses */
    p->keep_alive = false;
    return (e == HPE_OK || e == HPE_PAUSED) && p->complete;
}

void sb__resp_parser_result(const sb__resp_parser_t *p, sb_client_resp_t *r)
{
    r->status = p->status;
    r->body = p->body.data ? p->body.data : "";
    r->body_len = p->body.len;
    r->body_total = p->body_total;
    r->retry_after_s = p->retry_after;
    size_t n = p->ct_len < sizeof(p->ct) ? p->ct_len : 0;
    memcpy(r->content_type, p->ct, n);
    r->content_type[n] = '\0';
}

const char *sb__resp_parser_error(const sb__resp_parser_t *p)
{
    return llhttp_errno_name(p->error);
}

void sb__resp_parser_free(sb__resp_parser_t *p)
{
    sb_buf_free(&p->body);
}

/* ---------- response ---------- */

/* Feeds response bytes; finishes the call when the message is complete. */
static void feed_response(conn_t *c, const char *data, size_t len)
{
    call_t *call = c->call;
    if (!call) { /* bytes on an idle connection: the server is not speaking HTTP to us */
        conn_close(c);
        return;
    }
    call->got_bytes = true;
    int rc = sb__resp_parser_feed(&call->resp, data, len);
    if (rc == SB__RESP_DONE)
        call_finish(call, SB_CLIENT_OK, NULL);
    else if (rc == SB__RESP_ERROR && call->resp.too_large)
        call_finish(call, SB_CLIENT_ERR_TOO_LARGE, "the body is longer than %zu bytes", call->resp.max_body);
    else if (rc == SB__RESP_ERROR)
        call_finish(call, SB_CLIENT_ERR_PROTOCOL, "malformed response: %s", sb__resp_parser_error(&call->resp));
}

/* ---------- connections ---------- */

static void on_sweep_closed(uv_handle_t *h);

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    sb_client_t *cl = c->cl;
    if (c->tls)
        mbedtls_ssl_free(&c->ssl);
    sb_buf_free(&c->tls_in);
    sb_buf_free(&c->tls_out);
    sb_free(c);
    cl->open_conns--;
    if (cl->closing && cl->open_conns == 0)
        uv_close((uv_handle_t *)&cl->sweep, on_sweep_closed); /* the last handle: then free */
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    origin_t *o = c->origin;
    /* unlink from the idle list if it is there */
    for (conn_t **pp = &o->idle; *pp; pp = &(*pp)->next_idle) {
        if (*pp == c) {
            *pp = c->next_idle;
            break;
        }
    }
    o->nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

typedef struct write_req {
    uv_write_t w;
    size_t len;
    char data[];
} write_req_t;

static void on_written(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    conn_t *c = w->handle->data;
    sb_free(wr);
    if (status < 0 && !c->closing && c->call)
        call_finish(c->call, SB_CLIENT_ERR_CONNECT, "write failed: %s", uv_strerror(status));
}

static void conn_write(conn_t *c, const char *p, size_t n)
{
    if (!n || c->closing)
        return;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w == (int)n)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        if (c->call)
            call_finish(c->call, SB_CLIENT_ERR_CONNECT, "write failed: %s", uv_strerror(w));
        return;
    }
    if (w > 0) {
        p += w;
        n -= (size_t)w;
    }
    write_req_t *wr = sb_malloc(sizeof(*wr) + n);
    memcpy(wr->data, p, n);
    wr->len = n;
    b = uv_buf_init(wr->data, (unsigned)n);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        sb_free(wr);
        if (c->call)
            call_finish(c->call, SB_CLIENT_ERR_CONNECT, "write failed");
    }
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    conn_t *c = ctx;
    if (sb_buf_append(&c->tls_out, buf, len) < 0)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    conn_t *c = ctx;
    if (c->tls_in.len == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = len < c->tls_in.len ? len : c->tls_in.len;
    memcpy(buf, c->tls_in.data, n);
    sb_buf_consume(&c->tls_in, n);
    return (int)n;
}

static void tls_flush(conn_t *c)
{
    if (c->tls_out.len) {
        conn_write(c, c->tls_out.data, c->tls_out.len);
        sb_buf_reset(&c->tls_out);
    }
}

/* Runs the TLS state machine as far as it goes: handshake, request, response. */
static void tls_drive(conn_t *c)
{
    call_t *call = c->call;
    if (!c->handshaken) {
        int r = mbedtls_ssl_handshake(&c->ssl);
        tls_flush(c);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            return;
        if (r != 0) {
            char why[120] = "";
            uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
            if (flags && flags != (uint32_t)-1)
                mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
            else
                mbedtls_strerror(r, why, sizeof(why));
            for (char *q = why; *q; q++)
                if (*q == '\n')
                    *q = ' ';
            if (call)
                call_finish(call, SB_CLIENT_ERR_TLS, "TLS handshake failed: %s", why);
            else
                conn_close(c);
            return;
        }
        c->handshaken = true;
    }
    if (!call)
        return;
    if (!call->sent) {
        call_write(call);
        return;
    }
    unsigned char buf[16384];
    for (;;) {
        int r = mbedtls_ssl_read(&c->ssl, buf, sizeof(buf));
        if (r > 0) {
            feed_response(c, (const char *)buf, (size_t)r);
            if (!c->call || c->closing)
                break;
            continue;
        }
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
            break;
        /* close_notify, EOF or an error */
        if (sb__resp_parser_eof(&call->resp)) {
            call_finish(call, SB_CLIENT_OK, NULL);
        } else {
            call_finish(call, SB_CLIENT_ERR_CONNECT, "connection closed before a complete response");
        }
        break;
    }
    tls_flush(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    SB_UNUSED(h);
    SB_UNUSED(suggested);
    static __thread char rbuf[64 * 1024];
    buf->base = rbuf;
    buf->len = sizeof(rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *c = s->data;
    if (c->closing)
        return;
    call_t *call = c->call;
    if (nread > 0) {
        if (c->tls) {
            sb_buf_append(&c->tls_in, buf->base, (size_t)nread);
            tls_drive(c);
        } else {
            feed_response(c, buf->base, (size_t)nread);
        }
        return;
    }
    if (nread == 0)
        return;
    if (!call) {
        conn_close(c); /* an idle connection closed by the server */
        return;
    }
    if (!c->tls && call->got_bytes && sb__resp_parser_eof(&call->resp)) {
        call->resp.keep_alive = false;
        call_finish(call, SB_CLIENT_OK, NULL);
        return;
    }
    if (c->reused && !call->got_bytes && !call->retried) {
        /* A pooled connection the server had closed: retry once on a fresh one. */
        call->retried = true;
        call->sent = false;
        c->call = NULL;
        call->conn = NULL;
        conn_close(c);
        conn_start(call);
        return;
    }
    call_finish(call, SB_CLIENT_ERR_CONNECT, "%s before a complete response",
                nread == UV_EOF ? "connection closed" : uv_strerror((int)nread));
}

static void call_write(call_t *call)
{
    conn_t *c = call->conn;
    call->sent = true;
    if (!c->tls) {
        conn_write(c, call->request, call->request_len);
        return;
    }
    size_t off = 0;
    while (off < call->request_len) {
        int r = mbedtls_ssl_write(&c->ssl, (const unsigned char *)call->request + off, call->request_len - off);
        if (r > 0) {
            off += (size_t)r;
            continue;
        }
        if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ)
            continue; /* the memory BIO always takes everything; mbedTLS asks again */
        call_finish(call, SB_CLIENT_ERR_TLS, "TLS write failed (%d)", r);
        return;
    }
    tls_flush(c);
}

/* Binds a call to a connection and starts the exchange. */
static void conn_attach(conn_t *c, call_t *call)
{
    c->call = call;
    call->conn = c;
    call->got_bytes = false;
    sb__resp_parser_restart(&call->resp);
    if (c->connected && (!c->tls || c->handshaken))
        call_write(call);
}

static void on_connected(uv_connect_t *req, int status)
{
    conn_t *c = req->data;
    if (c->closing)
        return;
    call_t *call = c->call;
    if (status < 0) {
        if (call)
            call_finish(call, SB_CLIENT_ERR_CONNECT, "connect to %s:%u failed: %s", call->host, call->port,
                        uv_strerror(status));
        else
            conn_close(c);
        return;
    }
    c->connected = true;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
    if (c->tls)
        tls_drive(c);
    else if (call)
        call_write(call);
}

/* mbedTLS 2.28 drops iPAddress entries from subject_alt_names, so a certificate for an IP
 * literal is checked here: the raw extensions are walked for subjectAltName [7] entries. */
static bool cert_has_ip(const mbedtls_x509_crt *crt, const unsigned char *ip, size_t iplen)
{
    unsigned char *p = crt->v3_ext.p, *end = crt->v3_ext.p + crt->v3_ext.len;
    size_t len;
    if (!p || mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        return false;
    end = p + len;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            return false;
        unsigned char *ext_end = p + len;
        size_t oid_len;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid_len, MBEDTLS_ASN1_OID) != 0)
            return false;
        bool san = oid_len == 3 && p[0] == 0x55 && p[1] == 0x1d && p[2] == 0x11; /* 2.5.29.17 */
        p += oid_len;
        int critical;
        if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN)
            mbedtls_asn1_get_bool(&p, ext_end, &critical);
        size_t vlen;
        if (mbedtls_asn1_get_tag(&p, ext_end, &vlen, MBEDTLS_ASN1_OCTET_STRING) != 0)
            return false;
        if (san) {
            unsigned char *q = p, *vend = p + vlen;
            size_t glen;
            if (mbedtls_asn1_get_tag(&q, vend, &glen, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
                return false;
            vend = q + glen;
            while (q < vend) {
                unsigned char tag = *q++;
                size_t nlen;
                if (mbedtls_asn1_get_len(&q, vend, &nlen) != 0)
                    return false;
                if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && nlen == iplen && memcmp(q, ip, iplen) == 0)
                    return true;
                q += nlen;
            }
        }
        p = ext_end;
    }
    return false;
}

static int verify_ip(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    conn_t *c = ctx;
    if (depth != 0 || !c->call)
        return 0;
    unsigned char ip[16];
    size_t iplen = 0;
    if (inet_pton(AF_INET, c->call->host, ip) == 1)
        iplen = 4;
    else if (inet_pton(AF_INET6, c->call->host, ip) == 1)
        iplen = 16;
    if (!iplen)
        return 0; /* a host name: mbedTLS's own check stands */
    if (cert_has_ip(crt, ip, iplen))
        *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
    else
        *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

static int tls_setup(sb_client_t *cl)
{
    if (cl->tls_ready)
        return 0;
    mbedtls_ssl_config_init(&cl->conf);
    mbedtls_x509_crt_init(&cl->ca);
    mbedtls_entropy_init(&cl->entropy);
    mbedtls_ctr_drbg_init(&cl->drbg);
    if (mbedtls_ctr_drbg_seed(&cl->drbg, mbedtls_entropy_func, &cl->entropy, (const unsigned char *)"sb-client", 9))
        return -EIO;
    /* A bundle with a few unparsable entries still loads the rest (positive return). */
    int loaded = mbedtls_x509_crt_parse_file(&cl->ca, SYSTEM_CA) >= 0;
    const char *extra = cl->cfg->ca_file;
    if (extra && mbedtls_x509_crt_parse_file(&cl->ca, extra) >= 0)
        loaded = 1;
    if (!loaded)
        sb_log(SB_LOG_WARN, "no CA certificates loaded: https deliveries will fail", "\"bundle\":\"%s\"", SYSTEM_CA);
    if (mbedtls_ssl_config_defaults(&cl->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT))
        return -EIO;
    mbedtls_ssl_conf_authmode(&cl->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&cl->conf, &cl->ca, NULL);
    mbedtls_ssl_conf_rng(&cl->conf, mbedtls_ctr_drbg_random, &cl->drbg);
    mbedtls_ssl_conf_min_version(&cl->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    cl->tls_ready = true;
    return 0;
}

static void conn_open(call_t *call)
{
    sb_client_t *cl = call->cl;
    conn_t *c = sb_calloc(1, sizeof(*c));
    c->cl = cl;
    c->origin = call->origin;
    c->origin->nconns++;
    cl->open_conns++;
    uv_tcp_init(cl->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    sb_buf_init(&c->tls_in, 1u << 20);
    sb_buf_init(&c->tls_out, 1u << 20);
    conn_attach(c, call);
    if (call->https) {
        if (tls_setup(cl) < 0) {
            call_finish(call, SB_CLIENT_ERR_TLS, "TLS setup failed");
            return;
        }
        c->tls = true;
        mbedtls_ssl_init(&c->ssl);
        if (mbedtls_ssl_setup(&c->ssl, &cl->conf) != 0 || mbedtls_ssl_set_hostname(&c->ssl, call->host) != 0) {
            call_finish(call, SB_CLIENT_ERR_TLS, "TLS setup failed");
            return;
        }
        mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
        mbedtls_ssl_set_verify(&c->ssl, verify_ip, c);
    }
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&call->addr, on_connected);
    if (rc != 0)
        call_finish(call, SB_CLIENT_ERR_CONNECT, "connect failed: %s", uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    call_t *call = req->data;
    if (call->done) {
        uv_freeaddrinfo(res);
        call_unref(call);
        return;
    }
    call->refs--;
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        call_finish(call, SB_CLIENT_ERR_DNS, "cannot resolve %s: %s", call->host, uv_strerror(status));
        return;
    }
    /* Every address must pass: a name that also points inside is refused outright. */
    struct addrinfo *first = NULL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        if (!sb_addr_allowed(ai->ai_addr, &call->cl->cfg->allow_private_targets)) {
            char ip[INET6_ADDRSTRLEN] = "?";
            const void *a = ai->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                                     : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
            inet_ntop(ai->ai_family, a, ip, sizeof(ip));
            uv_freeaddrinfo(res);
            call_finish(call, SB_CLIENT_ERR_BLOCKED, "%s resolves to %s, which is not a public address", call->host,
                        ip);
            return;
        }
        if (!first)
            first = ai;
    }
    if (!first) {
        uv_freeaddrinfo(res);
        call_finish(call, SB_CLIENT_ERR_DNS, "no address for %s", call->host);
        return;
    }
    memcpy(&call->addr, first->ai_addr, first->ai_addrlen);
    ((struct sockaddr_in *)&call->addr)->sin_port = htons((uint16_t)call->port); /* same offset for v6 */
    uv_freeaddrinfo(res);
    conn_open(call); /* connect to the address that was checked: no second lookup to rebind */
}

/* Starts a call on its origin: an idle connection, a new one, or a place in the queue. */
static void conn_start(call_t *call)
{
    origin_t *o = call->origin;
    while (o->idle) {
        conn_t *c = o->idle;
        o->idle = c->next_idle;
        if (c->closing)
            continue;
        c->reused = true;
        conn_attach(c, call);
        return;
    }
    if (o->nconns >= MAX_CONNS_PER_ORIGIN) {
        call->waiting = true;
        call->next_wait = NULL;
        if (o->wait_tail)
            o->wait_tail->next_wait = call;
        else
            o->wait_head = call;
        o->wait_tail = call;
        return;
    }
    /* Numeric hosts skip DNS but not the guard. */
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&call->addr;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&call->addr;
    memset(&call->addr, 0, sizeof(call->addr));
    if (uv_ip4_addr(call->host, (int)call->port, a4) == 0 || uv_ip6_addr(call->host, (int)call->port, a6) == 0) {
        if (!sb_addr_allowed((struct sockaddr *)&call->addr, &call->cl->cfg->allow_private_targets)) {
            call_finish(call, SB_CLIENT_ERR_BLOCKED, "%s is not a public address (see --allow-private-targets)",
                        call->host);
            return;
        }
        conn_open(call);
        return;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    call->gai.data = call;
    call->refs++;
    int rc = uv_getaddrinfo(call->cl->loop, &call->gai, on_resolved, call->host, NULL, &hints);
    if (rc != 0) {
        call->refs--;
        call_finish(call, SB_CLIENT_ERR_DNS, "cannot resolve %s: %s", call->host, uv_strerror(rc));
    }
}

static void origin_wake(origin_t *o)
{
    while (o->wait_head && (o->idle || o->nconns < MAX_CONNS_PER_ORIGIN)) {
        call_t *call = o->wait_head;
        o->wait_head = call->next_wait;
        if (!o->wait_head)
            o->wait_tail = NULL;
        call->waiting = false;
        conn_start(call);
    }
}

static origin_t *origin_get(sb_client_t *cl, bool https, const char *host, unsigned port)
{
    char key[300];
    snprintf(key, sizeof(key), "%s://%s:%u", https ? "https" : "http", host, port);
    for (origin_t *o = cl->origins; o; o = o->next)
        if (strcmp(o->key, key) == 0)
            return o;
    origin_t *o = sb_calloc(1, sizeof(*o));
    snprintf(o->key, sizeof(o->key), "%s", key);
    o->next = cl->origins;
    cl->origins = o;
    return o;
}

int sb_client_send(sb_client_t *cl, const sb_client_req_t *req, sb_client_cb cb, void *data)
{
    if (cl->closing)
        return -ESHUTDOWN;
    bool https;
    char host[256];
    unsigned port;
    const char *path;
    if (parse_url(req->url, &https, host, sizeof(host), &port, &path) < 0)
        return -EINVAL;
    call_t *call = sb_calloc(1, sizeof(*call));
    call->cl = cl;
    call->cb = cb;
    call->data = data;
    call->https = https;
    memcpy(call->host, host, sizeof(host));
    call->port = port;
    call->refs = 1;
    call->start_ns = uv_hrtime();
    sb__resp_parser_init(&call->resp, req->keep_body ? req->keep_body : SB_CLIENT_KEEP_BODY, sb_now_s);
    call->resp.max_body = req->max_body;
    /* The request is formatted once; a retry on a fresh connection resends the same bytes. */
    sb_buf_t b;
    sb_buf_init(&b, (size_t)-1 / 2);
    bool default_port = (https && port == 443) || (!https && port == 80);
    bool v6 = strchr(host, ':') != NULL;
    sb_buf_printf(&b, "%s %.*s HTTP/1.1\r\nHost: %s%s%s", req->method, (int)strcspn(path, "#"), path, v6 ? "[" : "",
                  host, v6 ? "]" : "");
    if (!default_port)
        sb_buf_printf(&b, ":%u", port);
    sb_buf_printf(&b, "\r\nUser-Agent: switchboard/%s\r\nContent-Length: %zu\r\n", SB_VERSION, req->body_len);
    if (req->headers)
        sb_buf_puts(&b, req->headers);
    sb_buf_puts(&b, "\r\n");
    if (req->body_len)
        sb_buf_append(&b, req->body, req->body_len);
    call->request = b.data;
    call->request_len = b.len;
    call->origin = origin_get(cl, https, host, port);
    uv_timer_init(cl->loop, &call->timer);
    call->timer.data = call;
    uv_timer_start(&call->timer, on_deadline, req->timeout_ms ? req->timeout_ms : 3000, 0);
    call->next_all = cl->calls;
    if (cl->calls)
        cl->calls->prev_all = call;
    cl->calls = call;
    cl->inflight++;
    conn_start(call);
    return 0;
}

unsigned sb_client_inflight(const sb_client_t *cl)
{
    return cl->inflight;
}

static void on_sweep(uv_timer_t *t)
{
    sb_client_t *cl = t->data;
    uint64_t now = uv_now(cl->loop);
    for (origin_t *o = cl->origins; o; o = o->next) {
        conn_t **pp = &o->idle;
        while (*pp) {
            conn_t *c = *pp;
            if (now - c->idle_since > IDLE_MAX_MS) {
                *pp = c->next_idle;
                c->next_idle = NULL;
                conn_close(c); /* already unlinked: conn_close finds nothing to unlink */
            } else {
                pp = &c->next_idle;
            }
        }
    }
}

sb_client_t *sb_client_new(uv_loop_t *loop, const sb_config_t *cfg)
{
    sb_client_t *cl = sb_calloc(1, sizeof(*cl));
    cl->loop = loop;
    cl->cfg = cfg;
    uv_timer_init(loop, &cl->sweep);
    cl->sweep.data = cl;
    uv_timer_start(&cl->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&cl->sweep);
    return cl;
}

static void on_sweep_closed(uv_handle_t *h)
{
    sb_client_t *cl = h->data;
    void (*done)(void *) = cl->close_done;
    void *data = cl->close_data;
    while (cl->origins) {
        origin_t *o = cl->origins;
        cl->origins = o->next;
        sb_free(o);
    }
    if (cl->tls_ready) {
        mbedtls_ssl_config_free(&cl->conf);
        mbedtls_x509_crt_free(&cl->ca);
        mbedtls_ctr_drbg_free(&cl->drbg);
        mbedtls_entropy_free(&cl->entropy);
    }
    sb_free(cl);
    if (done)
        done(data);
}

void sb_client_close(sb_client_t *cl, void (*done)(void *), void *data)
{
    cl->closing = true;
    cl->close_done = done;
    cl->close_data = data;
    while (cl->calls)
        call_finish(cl->calls, SB_CLIENT_ERR_SHUTDOWN, "shutting down");
    for (origin_t *o = cl->origins; o; o = o->next)
        while (o->idle)
            conn_close(o->idle);
    cl->close_done = done;
    cl->close_data = data;
    uv_timer_stop(&cl->sweep);
    /* Connections close asynchronously; the sweep handle closes last (see on_conn_closed). */
    if (cl->open_conns == 0)
        uv_close((uv_handle_t *)&cl->sweep, on_sweep_closed);
}
