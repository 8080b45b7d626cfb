/* Unit tests for src/api/routes.c: the real route table compiles, and the paths the API
 * documents reach the right handler with the right credential. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "switchboard/api.h"

static sb_router_t router;

static int setup(void **state)
{
    (void)state;
    return sb_api_routes(&router) == 0 ? 0 : -1;
}

static const sb_route_t *route(unsigned method, const char *path, int expect_rc, sb_route_match_t *m)
{
    int rc = sb_router_match(&router, method, path, strlen(path), m);
    if (rc != expect_rc)
        fail_msg("%s %s: expected %d, got %d", sb_method_name(method), path, expect_rc, rc);
    return m->route;
}

static void test_table_compiles(void **state)
{
    (void)state;
    assert_true(router.count > 20);
    assert_true(router.count < SB_METRICS_ROUTES);
    for (unsigned i = 0; i < router.count; i++) {
        assert_int_equal(router.routes[i].slot, i);
        assert_non_null(router.routes[i].handler);
    }
}

static void test_ops_routes_public(void **state)
{
    (void)state;
    sb_route_match_t m;
    assert_ptr_equal(route(SB_M_GET, "/healthz", 0, &m)->handler, sb_ops_healthz);
    assert_int_equal(m.route->flags, SB_AUTH_NONE);
    assert_ptr_equal(route(SB_M_GET, "/readyz", 0, &m)->handler, sb_ops_readyz);
    assert_ptr_equal(route(SB_M_GET, "/metrics", 0, &m)->handler, sb_ops_metrics);
    assert_int_equal(m.route->flags, SB_AUTH_NONE);
    assert_ptr_equal(route(SB_M_HEAD, "/healthz", 0, &m)->handler, sb_ops_healthz);
}

static void test_admin_routes(void **state)
{
    (void)state;
    sb_route_match_t m;
    assert_ptr_equal(route(SB_M_POST, "/api/admin/tenants", 0, &m)->handler, sb_admin_tenant_create);
    assert_int_equal(m.route->flags, SB_AUTH_ADMIN);
    assert_ptr_equal(route(SB_M_GET, "/api/admin/tenants", 0, &m)->handler, sb_admin_tenant_list);
    assert_ptr_equal(route(SB_M_PUT, "/api/admin/tenants/T", 0, &m)->handler, sb_admin_tenant_update);
    assert_true(sb_str_eq(m.params[0], "T") && sb_str_eq(m.param_names[0], "tenantId"));
    assert_ptr_equal(route(SB_M_DELETE, "/api/admin/tenants/T/api-keys/K", 0, &m)->handler, sb_admin_key_revoke);
    assert_int_equal(m.nparams, 2);
    assert_true(sb_str_eq(m.param_names[1], "keyId") && sb_str_eq(m.params[1], "K"));
    assert_ptr_equal(route(SB_M_GET, "/api/admin/tenants/T/widgets/W", 0, &m)->handler, sb_admin_widget_get);
    assert_true(sb_str_eq(m.param_names[1], "id") && sb_str_eq(m.params[1], "W"));
    assert_ptr_equal(route(SB_M_PUT, "/api/admin/tenants/T/agents/A", 0, &m)->handler, sb_admin_agent_update);
    assert_ptr_equal(route(SB_M_DELETE, "/api/admin/tenants/T/channels/C", 0, &m)->handler,
                     sb_admin_channel_delete);
    assert_ptr_equal(route(SB_M_POST, "/api/admin/tenants/T/channels", 0, &m)->handler, sb_admin_channel_create);
    for (unsigned i = 0; i < router.count; i++)
        if (strncmp(router.routes[i].pattern, "/api/admin/", 11) == 0)
            assert_int_equal(router.routes[i].flags, SB_AUTH_ADMIN);
}

static void test_tenant_route(void **state)
{
    (void)state;
    sb_route_match_t m;
    assert_ptr_equal(route(SB_M_GET, "/api/tenant", 0, &m)->handler, sb_tenant_whoami);
    assert_int_equal(m.route->flags, SB_AUTH_TENANT);
}

static void test_not_found_and_not_allowed(void **state)
{
    (void)state;
    sb_route_match_t m;
    route(SB_M_GET, "/", -ENOENT, &m);
    route(SB_M_GET, "/api/admin/tenants/", -ENOENT, &m);
    route(SB_M_GET, "/api/admin/tenants/T/unknown", -ENOENT, &m);
    route(SB_M_GET, "/api/admin/tenants/T/api-keys/K", -EPERM, &m);
    assert_int_equal(m.allowed, SB_M_DELETE);
    route(SB_M_PATCH, "/api/admin/tenants/T", -EPERM, &m);
    assert_int_equal(m.allowed, SB_M_GET | SB_M_HEAD | SB_M_PUT | SB_M_DELETE);
    route(SB_M_POST, "/healthz", -EPERM, &m);
    assert_int_equal(m.allowed, SB_M_GET | SB_M_HEAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_compiles),
        cmocka_unit_test(test_ops_routes_public),
        cmocka_unit_test(test_admin_routes),
        cmocka_unit_test(test_tenant_route),
        cmocka_unit_test(test_not_found_and_not_allowed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
