/* Unit tests for src/http/router.c: pattern compilation, matching, 404 vs 405, Allow text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/router.h"

static void h_a(struct sb_req *req) { (void)req; }
static void h_b(struct sb_req *req) { (void)req; }

static int match(const sb_router_t *r, unsigned method, const char *path, sb_route_match_t *m)
{
    return sb_router_match(r, method, path, strlen(path), m);
}

static bool param_is(const sb_route_match_t *m, unsigned i, const char *name, const char *value)
{
    return i < m->nparams && sb_str_eq(m->param_names[i], name) && sb_str_eq(m->params[i], value);
}

static void build(sb_router_t *r)
{
    sb_router_init(r);
    assert_int_equal(sb_router_add(r, SB_M_GET, "/healthz", h_a, 0), 0);
    assert_int_equal(sb_router_add(r, SB_M_GET, "/", h_a, 0), 0);
    assert_int_equal(sb_router_add(r, SB_M_POST, "/api/admin/tenants", h_a, 1), 0);
    assert_int_equal(sb_router_add(r, SB_M_GET, "/api/admin/tenants", h_b, 1), 0);
    assert_int_equal(sb_router_add(r, SB_M_GET, "/api/admin/tenants/{tenantId}", h_a, 1), 0);
    assert_int_equal(sb_router_add(r, SB_M_DELETE, "/api/admin/tenants/{tenantId}", h_b, 1), 0);
    assert_int_equal(sb_router_add(r, SB_M_GET, "/api/admin/tenants/{tenantId}/widgets/{id}", h_a, 1), 0);
    assert_int_equal(sb_router_add(r, SB_M_POST, "/submit", h_a, 0), 0);
}

static void test_literal_match(void **state)
{
    (void)state;
    sb_router_t r;
    sb_route_match_t m;
    build(&r);
    assert_int_equal(match(&r, SB_M_GET, "/healthz", &m), 0);
    assert_non_null(m.route);
    assert_string_equal(m.route->pattern, "/healthz");
    assert_ptr_equal(m.route->handler, h_a);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(m.route->slot, 0);

    /* method picks the route among those with the same path */
    assert_int_equal(match(&r, SB_M_GET, "/api/admin/tenants", &m), 0);
    assert_ptr_equal(m.route->handler, h_b);
    assert_int_equal(m.route->method, SB_M_GET);
    assert_int_equal(m.route->flags, 1);
    assert_int_equal(match(&r, SB_M_POST, "/api/admin/tenants", &m), 0);
    assert_ptr_equal(m.route->handler, h_a);
    assert_int_equal(m.route->method, SB_M_POST);

    /* the root path */
    assert_int_equal(match(&r, SB_M_GET, "/", &m), 0);
    assert_string_equal(m.route->pattern, "/");
}

static void test_literal_is_exact(void **state)
{
    (void)state;
    sb_router_t r;
    sb_route_match_t m;
    build(&r);
    assert_int_equal(match(&r, SB_M_GET, "/healthzz", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "/health", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "/HEALTHZ", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "/healthz/x", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "/api/admin", &m), -ENOENT);
    /* length is honoured: a longer buffer cut at len matches */
    const char *s = "/healthz/extra";
    assert_int_equal(sb_router_match(&r, SB_M_GET, s, 8, &m), 0);
    assert_string_equal(m.route->pattern, "/healthz");
}

static void test_params_extracted(void **state)
{
    (void)state;
    sb_router_t r;
    sb_route_match_t m;
    build(&r);
    assert_int_equal(match(&r, SB_M_GET, "/api/admin/tenants/t-1", &m), 0);
    assert_int_equal(m.nparams, 1);
    assert_true(param_is(&m, 0, "tenantId", "t-1"));

    assert_int_equal(match(&r, SB_M_GET, "/api/admin/tenants/abc/widgets/w%2F9", &m), 0);
    assert_string_equal(m.route->pattern, "/api/admin/tenants/{tenantId}/widgets/{id}");
    assert_int_equal(m.nparams, 2);
    assert_true(param_is(&m, 0, "tenantId", "abc"));
    /* parameters stay raw (percent-encoded); decoding is the caller's job */
    assert_true(param_is(&m, 1, "id", "w%2F9"));

    assert_int_equal(match(&r, SB_M_DELETE, "/api/admin/tenants/xyz", &m), 0);
    assert_ptr_equal(m.route->handler, h_b);
    assert_true(param_is(&m, 0, "tenantId", "xyz"));
}

static void test_head_matches_get(void **state)
{
    (void)state;
    sb_router_t r;
    sb_route_match_t m;
    build(&r);
    assert_int_equal(match(&r, SB_M_HEAD, "/healthz", &m), 0);
    assert_non_null(m.route);
    assert_int_equal(m.route->method, SB_M_GET);
    assert_int_equal(match(&r, SB_M_HEAD, "/api/admin/tenants/t1/widgets/w1", &m), 0);
    assert_int_equal(m.nparams, 2);
    /* HEAD does not match a POST-only path */
    assert_int_equal(match(&r, SB_M_HEAD, "/submit", &m), -EPERM);
    assert_null(m.route);
    assert_int_equal(m.allowed, SB_M_POST);
}

static void test_404_vs_405(void **state)
{
    (void)state;
    sb_router_t r;
    sb_route_match_t m;
    build(&r);
    assert_int_equal(match(&r, SB_M_GET, "/nope", &m), -ENOENT);
    assert_null(m.route);
    assert_int_equal(m.allowed, 0);

    assert_int_equal(match(&r, SB_M_PUT, "/healthz", &m), -EPERM);
    assert_null(m.route);
    assert_int_equal(m.allowed, SB_M_GET | SB_M_HEAD);

    assert_int_equal(match(&r, SB_M_PATCH, "/api/admin/tenants", &m), -EPERM);
    assert_int_equal(m.allowed, SB_M_GET | SB_M_HEAD | SB_M_POST);

    assert_int_equal(match(&r, SB_M_POST, "/api/admin/tenants/t1", &m), -EPERM);
    assert_int_equal(m.allowed, SB_M_GET | SB_M_HEAD | SB_M_DELETE);
    assert_int_equal(m.nparams, 0);

    assert_int_equal(match(&r, SB_M_GET, "/submit", &m), -EPERM);
    assert_int_equal(m.allowed, SB_M_POST);

    /* an unknown method (bit 0) is a 405 on a known path */
    assert_int_equal(match(&r, 0, "/healthz", &m), -EPERM);
    assert_int_equal(m.allowed, SB_M_GET | SB_M_HEAD);
}

static void test_trailing_slash_and_empty_segments(void **state)
{
    (void)state;
    sb_router_t r;
    sb_route_match_t m;
    build(&r);
    assert_int_equal(match(&r, SB_M_GET, "/healthz/", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "/api/admin/tenants/", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "//healthz", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "/api//admin/tenants", &m), -ENOENT);
    /* an empty segment never fills a parameter */
    assert_int_equal(match(&r, SB_M_GET, "/api/admin/tenants//widgets/w1", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "/api/admin/tenants/t1/widgets/", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "//", &m), -ENOENT);
}

static void test_bad_paths(void **state)
{
    (void)state;
    sb_router_t r;
    sb_route_match_t m;
    build(&r);
    assert_int_equal(sb_router_match(&r, SB_M_GET, "", 0, &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "healthz", &m), -ENOENT);
    assert_int_equal(match(&r, SB_M_GET, "*", &m), -ENOENT);
    /* more segments than any route can have */
    char deep[128] = "";
    for (int i = 0; i < SB_ROUTE_MAX_SEGMENTS + 1; i++)
        strcat(deep, "/a");
    assert_int_equal(match(&r, SB_M_GET, deep, &m), -ENOENT);
    assert_null(m.route);
}

static void test_malformed_patterns(void **state)
{
    (void)state;
    sb_router_t r;
    sb_router_init(&r);
    static const char *const bad[] = {
        "",  "healthz", "/a/",     "/a//b",   "//", "/{}",  "/{x",  "/a/{id}x", "/a/{id}/",
        "{x}", "/a/{}/b",
    };
    for (size_t i = 0; i < SB_ARRAY_SIZE(bad); i++) {
        int rc = sb_router_add(&r, SB_M_GET, bad[i], h_a, 0);
        if (rc != -EINVAL)
            fail_msg("pattern '%s': expected -EINVAL, got %d", bad[i], rc);
    }
    assert_int_equal(r.count, 0);

    /* too many segments */
    char deep[128] = "";
    for (int i = 0; i < SB_ROUTE_MAX_SEGMENTS + 1; i++)
        strcat(deep, "/a");
    assert_int_equal(sb_router_add(&r, SB_M_GET, deep, h_a, 0), -EINVAL);
    /* exactly the maximum is fine */
    static char ok16[128];
    ok16[0] = '\0';
    for (int i = 0; i < SB_ROUTE_MAX_SEGMENTS; i++)
        strcat(ok16, "/a");
    assert_int_equal(sb_router_add(&r, SB_M_GET, ok16, h_a, 0), 0);

    /* too many parameters */
    static char many[256];
    many[0] = '\0';
    for (int i = 0; i < SB_ROUTE_MAX_PARAMS + 1; i++) {
        char seg[16];
        snprintf(seg, sizeof(seg), "/{p%d}", i);
        strcat(many, seg);
    }
    assert_int_equal(sb_router_add(&r, SB_M_GET, many, h_a, 0), -EINVAL);
    static char eight[256];
    eight[0] = '\0';
    for (int i = 0; i < SB_ROUTE_MAX_PARAMS; i++) {
        char seg[16];
        snprintf(seg, sizeof(seg), "/{p%d}", i);
        strcat(eight, seg);
    }
    assert_int_equal(sb_router_add(&r, SB_M_GET, eight, h_a, 0), 0);
    assert_int_equal(r.count, 2);

    sb_route_match_t m;
    assert_int_equal(match(&r, SB_M_GET, "/1/2/3/4/5/6/7/8", &m), 0);
    assert_int_equal(m.nparams, 8);
    assert_true(param_is(&m, 0, "p0", "1"));
    assert_true(param_is(&m, 7, "p7", "8"));
}

static void test_table_full(void **state)
{
    (void)state;
    static sb_router_t r;
    sb_router_init(&r);
    for (unsigned i = 0; i < SB_ROUTE_MAX; i++)
        assert_int_equal(sb_router_add(&r, SB_M_GET, "/x", h_a, 0), 0);
    assert_int_equal(sb_router_add(&r, SB_M_GET, "/y", h_a, 0), -E2BIG);
    assert_int_equal(r.count, SB_ROUTE_MAX);
    assert_int_equal(r.routes[SB_ROUTE_MAX - 1].slot, SB_ROUTE_MAX - 1);
}

static void test_method_names(void **state)
{
    (void)state;
    assert_int_equal(sb_method_bit("GET", 3), SB_M_GET);
    assert_int_equal(sb_method_bit("HEAD", 4), SB_M_HEAD);
    assert_int_equal(sb_method_bit("POST", 4), SB_M_POST);
    assert_int_equal(sb_method_bit("PUT", 3), SB_M_PUT);
    assert_int_equal(sb_method_bit("DELETE", 6), SB_M_DELETE);
    assert_int_equal(sb_method_bit("PATCH", 5), SB_M_PATCH);
    assert_int_equal(sb_method_bit("OPTIONS", 7), SB_M_OPTIONS);
    assert_int_equal(sb_method_bit("get", 3), 0);
    assert_int_equal(sb_method_bit("GE", 2), 0);
    assert_int_equal(sb_method_bit("GETS", 4), 0);
    assert_int_equal(sb_method_bit("CONNECT", 7), 0);
    assert_string_equal(sb_method_name(SB_M_DELETE), "DELETE");
    assert_string_equal(sb_method_name(SB_M_GET), "GET");
    assert_string_equal(sb_method_name(SB_M_GET | SB_M_POST), "?");
    assert_string_equal(sb_method_name(0), "?");
}

static void test_allow_header(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(sb_allow_header(SB_M_GET | SB_M_HEAD, out, sizeof(out)), strlen("GET, HEAD"));
    assert_string_equal(out, "GET, HEAD");
    sb_allow_header(SB_M_DELETE | SB_M_GET | SB_M_HEAD | SB_M_OPTIONS, out, sizeof(out));
    assert_string_equal(out, "GET, HEAD, DELETE, OPTIONS");
    sb_allow_header(SB_M_POST, out, sizeof(out));
    assert_string_equal(out, "POST");
    size_t n = sb_allow_header(0x7f, out, sizeof(out));
    assert_string_equal(out, "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
    assert_int_equal(n, strlen(out));
    assert_int_equal(sb_allow_header(0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

/* A 405 must list exactly what the path allows, as the server builds it. */
static void test_allow_from_match(void **state)
{
    (void)state;
    sb_router_t r;
    sb_route_match_t m;
    char out[128];
    build(&r);
    assert_int_equal(match(&r, SB_M_PUT, "/api/admin/tenants/t1", &m), -EPERM);
    sb_allow_header(m.allowed | SB_M_OPTIONS, out, sizeof(out));
    assert_string_equal(out, "GET, HEAD, DELETE, OPTIONS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_match),
        cmocka_unit_test(test_literal_is_exact),
        cmocka_unit_test(test_params_extracted),
        cmocka_unit_test(test_head_matches_get),
        cmocka_unit_test(test_404_vs_405),
        cmocka_unit_test(test_trailing_slash_and_empty_segments),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_malformed_patterns),
        cmocka_unit_test(test_table_full),
        cmocka_unit_test(test_method_names),
        cmocka_unit_test(test_allow_header),
        cmocka_unit_test(test_allow_from_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
