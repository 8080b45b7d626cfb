/* Request accessors: headers, path parameters, query parameters, arena strings. */
#include <string.h>

#include "switchboard/http.h"
#include "switchboard/text.h"

const sb_header_t *sb_req_header(const sb_req_t *req, const char *name)
{
    for (unsigned i = 0; i < req->nheaders; i++)
        if (sb_ascii_ieq(req->headers[i].name.p, req->headers[i].name.len, name))
            return &req->headers[i];
    return NULL;
}

char *sb_req_strndup(sb_req_t *req, const char *s, size_t n)
{
    char *p = sb_req_alloc(req, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static const char *decode(sb_req_t *req, sb_str_t raw, bool plus_space)
{
    char *out = sb_req_alloc(req, raw.len + 1);
    int n = sb_percent_decode(raw.p, raw.len, out, raw.len + 1, plus_space);
    if (n < 0 || memchr(out, '\0', (size_t)n))
        return NULL; /* bad escapes or an embedded NUL */
    return out;
}

const char *sb_req_param(sb_req_t *req, const char *name)
{
    for (unsigned i = 0; i < req->match.nparams; i++)
        if (sb_str_eq(req->match.param_names[i], name))
            return decode(req, req->match.params[i], false);
    return NULL;
}

const char *sb_req_query(sb_req_t *req, const char *name)
{
    sb_str_t v;
    if (!sb_query_get(req->query, name, &v))
        return NULL;
    return decode(req, v, true);
}
