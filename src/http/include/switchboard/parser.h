/* HTTP/1.x request parsing over llhttp, shared by the server and the fuzz target. It collects
 * the request line and header block into the request's bounded head buffer (431 past
 * SB_HEAD_MAX bytes or SB_MAX_HEADERS fields), the body into its body buffer (413 past
 * max_body), and stops after each complete message, so a connection handles one request at a
 * time and pipelined responses stay in order. */
#ifndef SWITCHBOARD_PARSER_H
#define SWITCHBOARD_PARSER_H

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>

#include "switchboard/http.h"

typedef struct sb_parser sb_parser_t;

typedef struct sb_parser_hooks {
    /* A message starts: return the (reset) request that receives it. */
    sb_req_t *(*begin)(sb_parser_t *p);
    /* The header block is complete and req's method, path, query, headers are set. */
    void (*headers)(sb_parser_t *p, sb_req_t *req);
    /* Body bytes arrived (for inactivity deadlines); may be NULL. */
    void (*body)(sb_parser_t *p);
} sb_parser_hooks_t;

struct sb_parser {
    llhttp_t llhttp;
    const sb_parser_hooks_t *hooks;
    void *data; /* the hooks' owner */
    sb_req_t *req;
    uint64_t max_body;
    uint32_t head_bytes;
    int err_status;
};

enum {
    SB_PARSE_ERROR = -1,  /* p->err_status: 400, 413 or 431; then close */
    SB_PARSE_MORE = 0,    /* everything consumed, the message is not complete */
    SB_PARSE_MESSAGE = 1, /* a complete message: handle it, then feed the rest */
    SB_PARSE_UPGRADE = 2, /* a complete message asking for a protocol switch: answer, then close */
};

void sb_parser_init(sb_parser_t *p, const sb_parser_hooks_t *hooks, void *data, uint64_t max_body);
/* Parses until a message completes or data runs out; *used tells how much was consumed. */
int sb_parser_execute(sb_parser_t *p, const char *data, size_t len, size_t *used);
/* Human-readable reason of the last SB_PARSE_ERROR. */
const char *sb_parser_error_reason(const sb_parser_t *p);
bool sb_parser_http10(const sb_parser_t *p);

#endif
