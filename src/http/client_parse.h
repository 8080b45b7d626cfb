/* Inside the HTTP client: the response parser of one call, kept apart from the connection so
 * that it runs on bytes alone (no socket, no loop, no clock of its own), as the fuzz target
 * tests/fuzz/fuzz_client.c drives it. It is implemented in client.c, which embeds one in each
 * call and feeds it what the socket (or mbedTLS) reads. What it keeps of a response is what the
 * client reports: the status, the Retry-After header, the first keep_body body bytes and the
 * count of all of them, the Content-Type, and whether the connection may carry another call. It allocates
 * nothing but the body buffer (bounded by keep_body). */
#ifndef SB_HTTP_CLIENT_PARSE_H
#define SB_HTTP_CLIENT_PARSE_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/buf.h"
#include "switchboard/client.h"

typedef struct sb__resp_parser {
    llhttp_t llhttp;
    int64_t (*now_s)(void); /* the clock a Retry-After date is measured against */
    llhttp_errno_t error;   /* why the last feed failed (SB__RESP_ERROR) */
    sb_buf_t body;          /* the first keep_body bytes of the (decoded) body */
    size_t body_total;      /* every body byte, kept or not */
    int status;             /* set once the header block is complete; 0 before */
    long retry_after;       /* seconds; -1: absent or unparsable */
    bool complete;          /* the response is complete */
    bool keep_alive;        /* when complete: the connection may carry another call */
    /* the header being read: its name (only "Retry-After" matters) and a Retry-After value */
    char hdr[16];
    size_t hdr_len;
    bool hdr_overflow;
    char ra[64];
    size_t ra_len;
    bool in_ra;
    char ct[128]; /* the Content-Type value */
    size_t ct_len;
    bool in_ct;
    size_t max_body; /* 0: none; else a longer body is an error with too_large set */
    bool too_large;
} sb__resp_parser_t;

enum {
    SB__RESP_ERROR = -1, /* malformed: p->error says how (sb__resp_parser_error) */
    SB__RESP_MORE = 0,   /* every byte consumed, the response is not complete */
    SB__RESP_DONE = 1,   /* complete; bytes after it clear keep_alive */
};

/* Keeps at most keep_body body bytes; now_s dates a Retry-After (sb_now_s in the client). */
void sb__resp_parser_init(sb__resp_parser_t *p, size_t keep_body, int64_t (*now_s)(void));
/* Starts reading a response from its first byte again (a call sent on another connection).
 * Only the message state is reset: the body, Retry-After and keep_alive stay as they are. */
void sb__resp_parser_restart(sb__resp_parser_t *p);
/* Feeds bytes that follow those fed before. After SB__RESP_DONE or SB__RESP_ERROR, feed no more. */
int sb__resp_parser_feed(sb__resp_parser_t *p, const char *data, size_t len);
/* The peer closed the connection: true when that completed the response (a body that runs to
 * the end of the connection: HTTP/1.0, or neither Content-Length nor chunked). Interim 1xx
 * answers are skipped (the final one follows); a status below 100 is malformed. */
bool sb__resp_parser_eof(sb__resp_parser_t *p);
/* What a call reports of the response: status, body (never NULL), body_total, retry_after_s. */
void sb__resp_parser_result(const sb__resp_parser_t *p, sb_client_resp_t *r);
/* The llhttp error name of the last SB__RESP_ERROR ("HPE_INVALID_CONSTANT"). */
const char *sb__resp_parser_error(const sb__resp_parser_t *p);
void sb__resp_parser_free(sb__resp_parser_t *p);

#endif
