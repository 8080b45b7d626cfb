/* Table-driven router. Patterns are literal segments and `{name}` parameters:
 * "/api/admin/tenants/{tenantId}/widgets/{widgetId}". Matching is pure: it needs no server. */
#ifndef SWITCHBOARD_ROUTER_H
#define SWITCHBOARD_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "switchboard/common.h"

#define SB_ROUTE_MAX_SEGMENTS 16
#define SB_ROUTE_MAX_PARAMS   8
#define SB_ROUTE_MAX          120

/* Methods as a bit set, so a 405 can list what a path allows. */
enum {
    SB_M_GET = 1 << 0,
    SB_M_HEAD = 1 << 1,
    SB_M_POST = 1 << 2,
    SB_M_PUT = 1 << 3,
    SB_M_DELETE = 1 << 4,
    SB_M_PATCH = 1 << 5,
    SB_M_OPTIONS = 1 << 6,
};

struct sb_req;
typedef void (*sb_handler_fn)(struct sb_req *req);

typedef struct sb_route {
    unsigned method; /* one SB_M_* bit */
    const char *pattern;
    sb_handler_fn handler;
    unsigned flags; /* interpreted by the API layer (authentication kind, ...) */
    /* compiled form */
    unsigned nsegs;
    sb_str_t segs[SB_ROUTE_MAX_SEGMENTS];
    bool is_param[SB_ROUTE_MAX_SEGMENTS];
    unsigned slot; /* index in the table, also the metrics slot */
} sb_route_t;

typedef struct sb_router {
    sb_route_t routes[SB_ROUTE_MAX];
    unsigned count;
} sb_router_t;

typedef struct sb_route_match {
    const sb_route_t *route; /* NULL: no route for this method */
    unsigned allowed;        /* methods the path allows (for 405); 0: no such path (404) */
    unsigned nparams;
    sb_str_t param_names[SB_ROUTE_MAX_PARAMS];
    sb_str_t params[SB_ROUTE_MAX_PARAMS]; /* raw (still percent-encoded) path segments */
} sb_route_match_t;

void sb_router_init(sb_router_t *r);
/* Adds a route; returns -EINVAL for a malformed pattern and -E2BIG when the table is full. */
int sb_router_add(sb_router_t *r, unsigned method, const char *pattern, sb_handler_fn handler, unsigned flags);
/* HEAD requests match GET routes. Returns 0 on a match, -ENOENT (404) or -EPERM (405). */
int sb_router_match(const sb_router_t *r, unsigned method, const char *path, size_t len, sb_route_match_t *m);
unsigned sb_method_bit(const char *name, size_t len);
const char *sb_method_name(unsigned bit);
/* "GET, HEAD, POST" for an Allow header. */
size_t sb_allow_header(unsigned methods, char *out, size_t outlen);

#endif
