/* Request-body validation shared by every route family: JSON parsing, typed field checks that
 * name the bad field, pagination parameters. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/json.h"
#include "switchboard/text.h"

int sb_verr_set(sb_verr_t *e, const char *field, const char *fmt, ...)
{
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void sb_resp_verr(sb_req_t *req, const sb_verr_t *e)
{
    sb_resp_problem(req, 400, e->detail, e->field[0] ? e->field : NULL);
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

cJSON *sb_json_body(sb_req_t *req, bool allow_empty)
{
    sb_verr_t e;
    cJSON *root = sb_json_body_parse(req, allow_empty, &e);
    if (!root)
        sb_resp_verr(req, &e);
    return root;
}

static void join(char *out, size_t n, const char *path, const char *field)
{
    if (path && *path)
        snprintf(out, n, "%s.%s", path, field);
    else
        snprintf(out, n, "%s", field);
}

int sb_v_string(const cJSON *obj, const char *field, const char *path, bool required, size_t minlen, size_t maxlen,
                const cJSON **out, sb_verr_t *e)
{
    char name[96];
    join(name, sizeof(name), path, field);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = NULL;
    if (!v) {
        if (required)
            return sb_verr_set(e, name, "'%s' is required", name);
        return 0;
    }
    if (!cJSON_IsString(v))
        return sb_verr_set(e, name, "'%s' must be a string", name);
    size_t len = strlen(v->valuestring);
    if (len < minlen)
        return sb_verr_set(e, name, minlen == 1 ? "'%s' must not be empty" : "'%s' is too short", name);
    if (len > maxlen)
        return sb_verr_set(e, name, "'%s' is longer than %zu bytes", name, maxlen);
    *out = v;
    return 0;
}

int sb_v_bool(const cJSON *obj, const char *field, const char *path, const cJSON **out, sb_verr_t *e)
{
    char name[96];
    join(name, sizeof(name), path, field);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return sb_verr_set(e, name, "'%s' must be true or false", name);
    *out = v;
    return 0;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
}

/* Checks "host[:port]" or "[v6][:port]" in s[0..n). */
static bool authority_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    size_t i = 0;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb || rb == s + 1)
            return false;
        for (const char *p = s + 1; p < rb; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == ':' ||
                  *p == '.'))
                return false;
        i = (size_t)(rb - s) + 1;
    } else {
        while (i < n && host_char(s[i]))
            i++;
        if (i == 0)
            return false;
    }
    if (i == n)
        return true;
    if (s[i] != ':')
        return false;
    uint64_t port;
    return sb_parse_u64(s + i + 1, n - i - 1, 65535, &port) == 0 && port > 0;
}

static size_t scheme_len(const char *s)
{
    if (strncmp(s, "https://", 8) == 0)
        return 8;
    if (strncmp(s, "http://", 7) == 0)
        return 7;
    return 0;
}

bool sb_url_valid(const char *s)
{
    size_t sl = scheme_len(s);
    if (!sl)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    const char *a = s + sl;
    size_t n = strcspn(a, "/?#");
    if (memchr(a, '@', n)) /* no credentials in URLs: they would end up in logs */
        return false;
    return authority_valid(a, n);
}

bool sb_origin_valid(const char *s)
{
    size_t sl = scheme_len(s);
    if (!sl)
        return false;
    const char *a = s + sl;
    size_t n = strlen(a);
    return strcspn(a, "/?#@") == n && authority_valid(a, n);
}

int sb_v_url(const cJSON *obj, const char *field, const char *path, bool required, bool nullable, const cJSON **out,
             sb_verr_t *e)
{
    char name[96];
    join(name, sizeof(name), path, field);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = NULL;
    if (!v || (nullable && cJSON_IsNull(v))) {
        if (required)
            return sb_verr_set(e, name, "'%s' is required", name);
        *out = v;
        return 0;
    }
    if (!cJSON_IsString(v))
        return sb_verr_set(e, name, "'%s' must be a string", name);
    if (strlen(v->valuestring) > 2048 || !sb_url_valid(v->valuestring))
        return sb_verr_set(e, name, "'%s' must be an absolute http:// or https:// URL", name);
    *out = v;
    return 0;
}

int sb_v_uuid(const cJSON *obj, const char *field, const char *path, bool required, bool nullable, const cJSON **out,
              sb_verr_t *e)
{
    char name[96];
    join(name, sizeof(name), path, field);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = NULL;
    if (!v || (nullable && cJSON_IsNull(v))) {
        if (required)
            return sb_verr_set(e, name, "'%s' is required", name);
        *out = v;
        return 0;
    }
    if (!cJSON_IsString(v) || !sb_uuid_valid(v->valuestring, strlen(v->valuestring)))
        return sb_verr_set(e, name, "'%s' must be a UUID string", name);
    *out = v;
    return 0;
}

int sb_v_only(const cJSON *obj, const char *const *allowed, const char *path, sb_verr_t *e)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, it->string) == 0)
                ok = true;
        if (!ok) {
            char name[96];
            join(name, sizeof(name), path, it->string);
            return sb_verr_set(e, name, "unknown field '%s'", name);
        }
    }
    return 0;
}

int sb_page_params(sb_req_t *req, unsigned *page, unsigned *size)
{
    *page = 1;
    *size = 20;
    const char *p, *s;
    int prc = sb_req_query_get(req, "page", &p);
    int src = sb_req_query_get(req, "pageSize", &s);
    uint64_t v;
    if (prc == -EINVAL) {
        sb_resp_problem(req, 400, "'page' must be an integer >= 1", "page");
        return -1;
    }
    if (src == -EINVAL) {
        sb_resp_problem(req, 400, "'pageSize' must be an integer from 1 to 100", "pageSize");
        return -1;
    }
    if (p) {
        if (sb_parse_u64(p, strlen(p), 1000000, &v) < 0 || v < 1) {
            sb_resp_problem(req, 400, "'page' must be an integer >= 1", "page");
            return -1;
        }
        *page = (unsigned)v;
    }
    if (s) {
        if (sb_parse_u64(s, strlen(s), 100, &v) < 0 || v < 1) {
            sb_resp_problem(req, 400, "'pageSize' must be an integer from 1 to 100", "pageSize");
            return -1;
        }
        *size = (unsigned)v;
    }
    return 0;
}

cJSON *sb_page_envelope(cJSON *items, unsigned page, unsigned size, unsigned long total)
{
    cJSON *o = cJSON_CreateObject();
    unsigned long pages = (total + size - 1) / size;
    cJSON_AddItemToObject(o, "items", items);
    cJSON_AddNumberToObject(o, "pageNumber", page);
    cJSON_AddNumberToObject(o, "totalPages", (double)pages);
    cJSON_AddNumberToObject(o, "totalCount", (double)total);
    cJSON_AddBoolToObject(o, "hasPreviousPage", page > 1);
    cJSON_AddBoolToObject(o, "hasNextPage", page < pages);
    return o;
}

static int by_created(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    const char *cx = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "createdAt"));
    const char *cy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "createdAt"));
    int c = strcmp(cx ? cx : "", cy ? cy : "");
    if (c)
        return c;
    const char *ix = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "id"));
    const char *iy = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "id"));
    return strcmp(ix ? ix : "", iy ? iy : "");
}

cJSON *sb_page_slice(cJSON *all, unsigned page, unsigned size)
{
    int n = cJSON_GetArraySize(all);
    cJSON **v = sb_calloc((size_t)(n ? n : 1), sizeof(*v));
    int k = 0;
    while (all->child) {
        v[k++] = cJSON_DetachItemViaPointer(all, all->child);
    }
    qsort(v, (size_t)k, sizeof(*v), by_created);
    cJSON *items = cJSON_CreateArray();
    unsigned long start = (unsigned long)(page - 1) * size;
    for (int i = 0; i < k; i++) {
        if ((unsigned long)i >= start && (unsigned long)i < start + size)
            cJSON_AddItemToArray(items, v[i]);
        else
            cJSON_Delete(v[i]);
    }
    sb_free(v);
    cJSON_Delete(all);
    return sb_page_envelope(items, page, size, (unsigned long)k);
}

void sb_api_unavailable(sb_req_t *req)
{
    sb_resp_problem(req, 503, "storage is unavailable, retry shortly", NULL);
}

bool sb_api_reply_failed(sb_req_t *req, const redisReply *reply)
{
    if (reply && reply->type != REDIS_REPLY_ERROR)
        return false;
    sb_api_unavailable(req);
    return true;
}

