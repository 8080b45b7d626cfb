/* Pagination of the native list routes (SPEC 2): ?page=&pageSize= and the envelope. */
#include <stdlib.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/text.h"

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
