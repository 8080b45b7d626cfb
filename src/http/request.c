/* Request accessors: headers, path parameters, query parameters, arena strings, the body as
 * JSON. */
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/http.h"
#include "switchboard/json.h"
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

/* ---------- request objects and their arena ---------- */

#define ARENA_CHUNK 4096

sb_req_t *sb_req_new(uint64_t max_body)
{
    sb_req_t *req = sb_calloc(1, sizeof(*req));
    sb_buf_init(&req->head, SB_HEAD_MAX);
    sb_buf_init(&req->body, max_body);
    sb_buf_init(&req->resp_headers, 8 * 1024);
    return req;
}

void sb_req_reset(sb_req_t *req)
{
    req->loop = NULL;
    req->conn = NULL;
    req->method = 0;
    req->method_name = SB_STR_LIT("");
    req->path = req->query = SB_STR_LIT("");
    req->nheaders = 0;
    memset(&req->match, 0, sizeof(req->match));
    req->request_id[0] = '\0';
    req->start_ns = uv_hrtime();
    req->keep_alive = false;
    req->status = 0;
    req->resp_bytes = 0;
    req->ctx = NULL;
    req->tenant_id = req->key_id = NULL;
    req->url_end = 0;
    req->hdr_state = 0;
    req->dispatched = req->done = req->expect_continue = req->streaming = false;
    req->on_abort = NULL;
    sb_buf_reset(&req->head);
    sb_buf_reset(&req->body);
    sb_buf_reset(&req->resp_headers);
}

static void arena_release(sb_req_t *req, bool keep_first)
{
    sb_arena_chunk_t *c = req->arena, *keep = NULL;
    while (c) {
        sb_arena_chunk_t *next = c->next;
        if (keep_first && !keep && c->cap == ARENA_CHUNK) {
            keep = c;
            keep->next = NULL;
            keep->used = 0;
        } else {
            sb_free(c);
        }
        c = next;
    }
    req->arena = keep;
}

void sb_req_trim(sb_req_t *req)
{
    arena_release(req, true);
    if (req->body.cap > 64 * 1024)
        sb_buf_free(&req->body); /* a 1 MiB upload must not stay pinned in a pool */
}

void sb_req_destroy(sb_req_t *req)
{
    arena_release(req, false);
    sb_buf_free(&req->head);
    sb_buf_free(&req->body);
    sb_buf_free(&req->resp_headers);
    sb_free(req);
}

void *sb_req_alloc(sb_req_t *req, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    sb_arena_chunk_t *c = req->arena;
    if (c && c->cap - c->used >= n) {
        void *p = c->data + c->used;
        c->used += n;
        return p;
    }
    if (n > ARENA_CHUNK / 2) {
        /* a large block gets a chunk of its own, kept behind the current one */
        sb_arena_chunk_t *big = sb_malloc(sizeof(*big) + n);
        big->cap = big->used = n;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            big->next = NULL;
            req->arena = big;
        }
        return big->data;
    }
    sb_arena_chunk_t *nc = sb_malloc(sizeof(*nc) + ARENA_CHUNK);
    nc->cap = ARENA_CHUNK;
    nc->used = n;
    nc->next = c;
    req->arena = nc;
    return nc->data;
}

int sb_req_query_get(sb_req_t *req, const char *name, const char **out)
{
    sb_str_t v;
    *out = NULL;
    if (!sb_query_get(req->query, name, &v))
        return -ENOENT;
    *out = decode(req, v, true);
    return *out ? 0 : -EINVAL;
}

cJSON *sb_json_body_parse(const sb_req_t *req, bool allow_empty, sb_verr_t *e)
{
    const char *p = req->body.data ? req->body.data : "";
    size_t n = req->body.len, i = 0;
    e->field[0] = '\0';
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i == n) {
        if (allow_empty)
            return cJSON_CreateObject();
        snprintf(e->detail, sizeof(e->detail), "request body must be a JSON object");
        return NULL;
    }
    char err[SB_JSON_ERR_MAX];
    cJSON *root = sb_json_parse(p, n, err);
    if (!root) {
        snprintf(e->detail, sizeof(e->detail), "request body %s", err);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(e->detail, sizeof(e->detail), "request body must be a JSON object");
        return NULL;
    }
    return root;
}
