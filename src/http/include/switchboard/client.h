/* Non-blocking HTTP/1.1 client on a loop thread: async DNS (uv_getaddrinfo), the SSRF guard,
 * http and https (mbedTLS, verified against the system CA store plus --ca-file, with SNI),
 * llhttp response parsing, and a keep-alive pool per origin with a cap. One deadline covers
 * DNS + connect + TLS + request + response. */
#ifndef SWITCHBOARD_CLIENT_H
#define SWITCHBOARD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "switchboard/config.h"

#define SB_CLIENT_KEEP_BODY (16 * 1024) /* response bytes kept (commands read 4096 chars) */

typedef struct sb_client sb_client_t;

typedef struct sb_client_req {
    const char *url; /* absolute http:// or https:// */
    const char *method;
    const char *headers; /* extra header lines, each "Name: value\r\n"; may be NULL */
    const char *body;
    size_t body_len;
    unsigned timeout_ms;
    size_t keep_body; /* response bytes kept; 0: SB_CLIENT_KEEP_BODY */
    /* 0: no cap; else a response body longer than this (or a Content-Length over it, before a
     * byte of the body is read) fails the call with SB_CLIENT_ERR_TOO_LARGE (a download) */
    size_t max_body;
} sb_client_req_t;

enum {
    SB_CLIENT_OK = 0,
    SB_CLIENT_ERR_URL = -1,      /* not an absolute http(s) URL */
    SB_CLIENT_ERR_DNS = -2,      /* name did not resolve */
    SB_CLIENT_ERR_BLOCKED = -3,  /* SSRF guard: address not allowed */
    SB_CLIENT_ERR_CONNECT = -4,  /* refused, unreachable, reset before a response */
    SB_CLIENT_ERR_TLS = -5,      /* handshake or certificate verification failed */
    SB_CLIENT_ERR_TIMEOUT = -6,  /* the deadline passed */
    SB_CLIENT_ERR_PROTOCOL = -7, /* malformed response */
    SB_CLIENT_ERR_SHUTDOWN = -8, /* the loop is stopping; outcome unknown */
    SB_CLIENT_ERR_TOO_LARGE = -9, /* the body is longer than the request's max_body */
};

typedef struct sb_client_resp {
    int error; /* SB_CLIENT_OK or one of the codes above */
    char error_text[160];
    int status;       /* HTTP status when error == SB_CLIENT_OK */
    const char *body; /* the first SB_CLIENT_KEEP_BODY bytes */
    size_t body_len;
    size_t body_total;
    long retry_after_s; /* -1: absent or unparsable */
    char content_type[128]; /* the Content-Type header ("" absent or longer than this) */
    uint64_t latency_us;
} sb_client_resp_t;

typedef void (*sb_client_cb)(void *data, const sb_client_resp_t *resp);

sb_client_t *sb_client_new(uv_loop_t *loop, const sb_config_t *cfg);
/* The request's strings are copied; cb runs exactly once, never before this returns. */
int sb_client_send(sb_client_t *cl, const sb_client_req_t *req, sb_client_cb cb, void *data);
/* Fails every call in flight with SB_CLIENT_ERR_SHUTDOWN, closes connections, then frees. */
void sb_client_close(sb_client_t *cl, void (*done)(void *), void *data);
unsigned sb_client_inflight(const sb_client_t *cl);

/* SSRF guard: true when sa is a global unicast address, or inside allow. */
bool sb_addr_allowed(const struct sockaddr *sa, const sb_cidr_list_t *allow);
/* Parses "Retry-After": delta seconds or an HTTP date; -1 when unparsable. */
long sb_retry_after_parse(const char *v, size_t n, int64_t now_s);

#endif
