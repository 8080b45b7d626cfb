/* Unit tests for src/http/request.c (and the request arena of src/http/server.c): header
 * lookup, percent-decoded path and query parameters, arena strings. The request is built by
 * hand, as the server's parser callbacks would fill it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/http.h"
#include "switchboard/router.h"

static void h(struct sb_req *req) { (void)req; }

static sb_req_t *req_new(const char *path, const char *query)
{
    sb_req_t *r = sb_calloc(1, sizeof(*r));
    r->path = sb_str(path);
    r->query = sb_str(query);
    return r;
}

static void req_free(sb_req_t *r)
{
    for (sb_arena_chunk_t *c = r->arena, *next; c; c = next) {
        next = c->next;
        sb_free(c);
    }
    sb_free(r);
}

static void add_header(sb_req_t *r, const char *name, const char *value)
{
    r->headers[r->nheaders].name = sb_str(name);
    r->headers[r->nheaders].value = sb_str(value);
    r->nheaders++;
}

static void test_header_lookup(void **state)
{
    (void)state;
    sb_req_t *r = req_new("/", "");
    add_header(r, "Host", "example.com");
    add_header(r, "X-API-Key", "k1");
    add_header(r, "content-type", "application/json");
    add_header(r, "X-Api-Key", "k2");
    const sb_header_t *hd = sb_req_header(r, "x-api-key");
    assert_non_null(hd);
    assert_true(sb_str_eq(hd->value, "k1")); /* the first one wins */
    hd = sb_req_header(r, "Content-Type");
    assert_non_null(hd);
    assert_true(sb_str_eq(hd->value, "application/json"));
    assert_non_null(sb_req_header(r, "HOST"));
    assert_null(sb_req_header(r, "Hos"));
    assert_null(sb_req_header(r, "Hostx"));
    assert_null(sb_req_header(r, "authorization"));
    req_free(r);
}

static void test_query(void **state)
{
    (void)state;
    sb_req_t *r = req_new("/x", "page=2&name=a+b%20c%2B&empty=&flag&bad=%zz&nul=a%00b&utf=%C3%A9");
    assert_string_equal(sb_req_query(r, "page"), "2");
    assert_string_equal(sb_req_query(r, "name"), "a b c+"); /* '+' is a space in a query */
    assert_string_equal(sb_req_query(r, "empty"), "");
    assert_string_equal(sb_req_query(r, "flag"), "");
    assert_null(sb_req_query(r, "bad"));     /* bad escape */
    assert_null(sb_req_query(r, "nul"));     /* embedded NUL */
    assert_string_equal(sb_req_query(r, "utf"), "\xc3\xa9");
    assert_null(sb_req_query(r, "missing"));
    assert_null(sb_req_query(r, "Page"));
    req_free(r);

    r = req_new("/x", "");
    assert_null(sb_req_query(r, "page"));
    req_free(r);
}

static void test_path_params(void **state)
{
    (void)state;
    sb_router_t router;
    sb_router_init(&router);
    assert_int_equal(sb_router_add(&router, SB_M_GET, "/t/{tenantId}/w/{id}", h, 0), 0);

    sb_req_t *r = req_new("/t/acme%20co/w/a+b%2Fc", "");
    assert_int_equal(sb_router_match(&router, SB_M_GET, r->path.p, r->path.len, &r->match), 0);
    assert_string_equal(sb_req_param(r, "tenantId"), "acme co");
    assert_string_equal(sb_req_param(r, "id"), "a+b/c"); /* '+' is literal in a path */
    assert_null(sb_req_param(r, "other"));
    req_free(r);

    r = req_new("/t/%zz/w/x%00y", "");
    assert_int_equal(sb_router_match(&router, SB_M_GET, r->path.p, r->path.len, &r->match), 0);
    assert_null(sb_req_param(r, "tenantId")); /* bad escape */
    assert_null(sb_req_param(r, "id"));       /* embedded NUL */
    req_free(r);

    r = req_new("/t/abc%/w/x", "");
    assert_int_equal(sb_router_match(&router, SB_M_GET, r->path.p, r->path.len, &r->match), 0);
    assert_null(sb_req_param(r, "tenantId")); /* truncated escape */
    assert_string_equal(sb_req_param(r, "id"), "x");
    req_free(r);
}

static void test_arena(void **state)
{
    (void)state;
    sb_req_t *r = req_new("/", "");
    char *a = sb_req_strndup(r, "hello world", 5);
    assert_string_equal(a, "hello");
    /* many small allocations: distinct, aligned, writable */
    char *prev = NULL;
    for (int i = 0; i < 1000; i++) {
        char *p = sb_req_alloc(r, 24);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 8, 0);
        assert_true(p != prev);
        memset(p, 0xab, 24);
        prev = p;
    }
    /* an allocation larger than a chunk */
    char *big = sb_req_alloc(r, 100000);
    memset(big, 1, 100000);
    char *after = sb_req_strndup(r, "after", 5);
    assert_string_equal(after, "after");
    assert_string_equal(a, "hello"); /* earlier allocations are untouched */
    assert_int_equal(big[99999], 1);
    req_free(r);

    /* the first allocation of a request may be oversized too */
    r = req_new("/", "");
    big = sb_req_alloc(r, 50000);
    memset(big, 2, 50000);
    a = sb_req_strndup(r, "x", 1);
    assert_string_equal(a, "x");
    req_free(r);
}

static void test_peer_without_connection(void **state)
{
    (void)state;
    sb_req_t *r = req_new("/", "");
    const struct sockaddr *sa = sb_req_peer(r);
    assert_non_null(sa);
    assert_int_equal(sa->sa_family, AF_INET);
    req_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_lookup),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_path_params),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_peer_without_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
