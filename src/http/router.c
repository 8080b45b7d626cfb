/* Router (see router.h). A linear scan over compiled segment lists: with a few dozen routes
 * this costs less than hashing would, and the table reads like the SPEC's route tables. */
#include "switchboard/router.h"

#include <stdio.h>
#include <string.h>

static const char *const method_names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};

unsigned sb_method_bit(const char *name, size_t len)
{
    for (unsigned i = 0; i < SB_ARRAY_SIZE(method_names); i++)
        if (strlen(method_names[i]) == len && memcmp(method_names[i], name, len) == 0)
            return 1u << i;
    return 0;
}

const char *sb_method_name(unsigned bit)
{
    for (unsigned i = 0; i < SB_ARRAY_SIZE(method_names); i++)
        if (bit == 1u << i)
            return method_names[i];
    return "?";
}

size_t sb_allow_header(unsigned methods, char *out, size_t outlen)
{
    size_t k = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < SB_ARRAY_SIZE(method_names); i++) {
        if (!(methods & (1u << i)))
            continue;
        int n = snprintf(out + k, outlen - k, "%s%s", k ? ", " : "", method_names[i]);
        if (n < 0 || (size_t)n >= outlen - k)
            break;
        k += (size_t)n;
    }
    return k;
}

void sb_router_init(sb_router_t *r)
{
    memset(r, 0, sizeof(*r));
}

/* Splits "/a/b/c" into segments. Empty segments ("//", trailing "/") are kept as empty so that
 * "/healthz/" does not silently match "/healthz". */
static int split(const char *path, size_t len, sb_str_t *segs, unsigned max, unsigned *n)
{
    if (len == 0 || path[0] != '/')
        return -EINVAL;
    unsigned k = 0;
    size_t i = 1;
    if (len == 1) {
        *n = 0;
        return 0;
    }
    for (;;) {
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        if (k == max)
            return -E2BIG;
        segs[k].p = path + start;
        segs[k].len = i - start;
        k++;
        if (i >= len)
            break;
        i++;            /* skip '/' */
        if (i == len) { /* trailing slash: one empty segment */
            if (k == max)
                return -E2BIG;
            segs[k].p = path + i;
            segs[k].len = 0;
            k++;
            break;
        }
    }
    *n = k;
    return 0;
}

int sb_router_add(sb_router_t *r, unsigned method, const char *pattern, sb_handler_fn handler, unsigned flags)
{
    if (r->count == SB_ROUTE_MAX)
        return -E2BIG;
    sb_route_t *rt = &r->routes[r->count];
    memset(rt, 0, sizeof(*rt));
    if (split(pattern, strlen(pattern), rt->segs, SB_ROUTE_MAX_SEGMENTS, &rt->nsegs) < 0)
        return -EINVAL;
    unsigned nparams = 0;
    for (unsigned i = 0; i < rt->nsegs; i++) {
        sb_str_t s = rt->segs[i];
        if (s.len == 0)
            return -EINVAL;
        if (s.p[0] == '{') {
            if (s.len < 3 || s.p[s.len - 1] != '}' || ++nparams > SB_ROUTE_MAX_PARAMS)
                return -EINVAL;
            rt->is_param[i] = true;
            rt->segs[i].p = s.p + 1;
            rt->segs[i].len = s.len - 2;
        }
    }
    rt->method = method;
    rt->pattern = pattern;
    rt->handler = handler;
    rt->flags = flags;
    rt->slot = r->count;
    r->count++;
    return 0;
}

static bool route_matches(const sb_route_t *rt, const sb_str_t *segs, unsigned n)
{
    if (rt->nsegs != n)
        return false;
    for (unsigned i = 0; i < n; i++) {
        if (rt->is_param[i]) {
            if (segs[i].len == 0)
                return false;
        } else if (segs[i].len != rt->segs[i].len || memcmp(segs[i].p, rt->segs[i].p, segs[i].len) != 0) {
            return false;
        }
    }
    return true;
}

int sb_router_match(const sb_router_t *r, unsigned method, const char *path, size_t len, sb_route_match_t *m)
{
    sb_str_t segs[SB_ROUTE_MAX_SEGMENTS];
    unsigned n;
    memset(m, 0, sizeof(*m));
    if (split(path, len, segs, SB_ROUTE_MAX_SEGMENTS, &n) < 0)
        return -ENOENT;
    unsigned want = method == SB_M_HEAD ? SB_M_GET : method;
    for (unsigned i = 0; i < r->count; i++) {
        const sb_route_t *rt = &r->routes[i];
        if (!route_matches(rt, segs, n))
            continue;
        m->allowed |= rt->method;
        if (rt->method == SB_M_GET)
            m->allowed |= SB_M_HEAD;
        if (rt->method != want)
            continue;
        m->route = rt;
        for (unsigned k = 0; k < n; k++) {
            if (rt->is_param[k]) {
                m->param_names[m->nparams] = rt->segs[k];
                m->params[m->nparams] = segs[k];
                m->nparams++;
            }
        }
        return 0;
    }
    return m->allowed ? -EPERM : -ENOENT;
}
