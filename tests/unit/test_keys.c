/* Unit tests for src/store/keys.c: the exact key formats and the ids they refuse. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "switchboard/store.h"

#define TID "9b2c4f1e-3a5d-4e6f-8a7b-1c2d3e4f5a6b"

static void test_tenant_key(void **state)
{
    (void)state;
    char k[SB_KEY_MAX];
    int n = sb_key_tenant(k, TID, "tenant");
    assert_string_equal(k, "sb:{t:" TID "}:tenant");
    assert_int_equal(n, (int)strlen(k));
    assert_true(sb_key_tenant(k, TID, "apikeys:byhash") > 0);
    assert_string_equal(k, "sb:{t:" TID "}:apikeys:byhash");
    assert_true(sb_key_tenant(k, "t1", "widgets") > 0);
    assert_string_equal(k, "sb:{t:t1}:widgets");
}

static void test_tenant_item_key(void **state)
{
    (void)state;
    char k[SB_KEY_MAX];
    int n = sb_key_tenant_item(k, TID, "widget", "w-1");
    assert_string_equal(k, "sb:{t:" TID "}:widget:w-1");
    assert_int_equal(n, (int)strlen(k));
}

static void test_global_key(void **state)
{
    (void)state;
    char k[SB_KEY_MAX];
    assert_int_equal(sb_key_global(k, "tenants", NULL), (int)strlen("sb:tenants"));
    assert_string_equal(k, "sb:tenants");
    assert_true(sb_key_global(k, "idx", "widgets") > 0);
    assert_string_equal(k, "sb:idx:widgets");
}

/* All keys of one tenant share one Redis Cluster hash slot: the hash tag is the first {...}. */
static void test_hash_tag(void **state)
{
    (void)state;
    char a[SB_KEY_MAX], b[SB_KEY_MAX];
    sb_key_tenant(a, TID, "tenant");
    sb_key_tenant_item(b, TID, "agents", "x");
    const char *ta = strchr(a, '{'), *tb = strchr(b, '{');
    size_t la = (size_t)(strchr(ta, '}') - ta), lb = (size_t)(strchr(tb, '}') - tb);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
}

static void test_refused_tenant_ids(void **state)
{
    (void)state;
    char k[SB_KEY_MAX];
    static const char *const bad[] = {"", "a{b", "a}b", "{", "}", "a:b", ":", "a b", " ", "a\rb", "a\nb", "t}:x{y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sb_key_tenant(k, bad[i], "tenant") != -EINVAL)
            fail_msg("sb_key_tenant accepted tenant id '%s'", bad[i]);
        if (sb_key_tenant_item(k, bad[i], "widget", "w1") != -EINVAL)
            fail_msg("sb_key_tenant_item accepted tenant id '%s'", bad[i]);
    }
    assert_int_equal(sb_key_tenant(k, NULL, "tenant"), -EINVAL);
    assert_int_equal(sb_key_tenant_item(k, NULL, "widget", "w1"), -EINVAL);
}

static void test_refused_item_ids(void **state)
{
    (void)state;
    char k[SB_KEY_MAX];
    static const char *const bad[] = {"", "a{b", "a}b", "a b", "a\rb", "a\nb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sb_key_tenant_item(k, TID, "widget", bad[i]) != -EINVAL)
            fail_msg("sb_key_tenant_item accepted item id '%s'", bad[i]);
        if (sb_key_global(k, "idx", bad[i]) != -EINVAL)
            fail_msg("sb_key_global accepted id '%s'", bad[i]);
    }
    assert_int_equal(sb_key_tenant_item(k, TID, "widget", NULL), -EINVAL);
}

static void test_too_long(void **state)
{
    (void)state;
    char k[SB_KEY_MAX];
    char id[SB_KEY_MAX + 8];
    memset(id, 'a', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    assert_int_equal(sb_key_tenant(k, id, "tenant"), -E2BIG);
    assert_int_equal(sb_key_tenant_item(k, TID, "widget", id), -E2BIG);
    assert_int_equal(sb_key_global(k, "idx", id), -E2BIG);
    /* the longest key that fits: SB_KEY_MAX - 1 characters */
    char fit[SB_KEY_MAX];
    size_t room = SB_KEY_MAX - 1 - strlen("sb:idx:");
    memset(fit, 'b', room);
    fit[room] = '\0';
    assert_int_equal(sb_key_global(k, "idx", fit), SB_KEY_MAX - 1);
    fit[room] = 'b';
    fit[room + 1] = '\0';
    assert_int_equal(sb_key_global(k, "idx", fit), -E2BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_key),
        cmocka_unit_test(test_tenant_item_key),
        cmocka_unit_test(test_global_key),
        cmocka_unit_test(test_hash_tag),
        cmocka_unit_test(test_refused_tenant_ids),
        cmocka_unit_test(test_refused_item_ids),
        cmocka_unit_test(test_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
