/* Unit tests for sb_redis_url_parse (src/store/redis.c): the --redis URL forms. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "switchboard/store.h"

static sb_redis_addr_t parse_ok(const char *url)
{
    sb_redis_addr_t a;
    int rc = sb_redis_url_parse(url, &a);
    if (rc != 0)
        fail_msg("'%s' refused (%d)", url, rc);
    return a;
}

static void test_host_only(void **state)
{
    (void)state;
    sb_redis_addr_t a = parse_ok("redis://cache.internal");
    assert_string_equal(a.host, "cache.internal");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.db, 0);
    assert_string_equal(a.path, "");
    assert_string_equal(a.user, "");
    assert_string_equal(a.password, "");
    a = parse_ok("redis://127.0.0.1/");
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.db, 0);
}

static void test_host_port_db(void **state)
{
    (void)state;
    sb_redis_addr_t a = parse_ok("redis://10.0.0.5:6380/2");
    assert_string_equal(a.host, "10.0.0.5");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 2);
    a = parse_ok("redis://h:1/15");
    assert_int_equal(a.port, 1);
    assert_int_equal(a.db, 15);
    a = parse_ok("redis://h:65535");
    assert_int_equal(a.port, 65535);
    a = parse_ok("redis://h/0");
    assert_int_equal(a.port, 6379);
    assert_int_equal(a.db, 0);
}

static void test_credentials(void **state)
{
    (void)state;
    sb_redis_addr_t a = parse_ok("redis://:s3cret@localhost");
    assert_string_equal(a.user, "");
    assert_string_equal(a.password, "s3cret");
    assert_string_equal(a.host, "localhost");
    assert_int_equal(a.port, 6379);

    a = parse_ok("redis://user:pass@host:1/2");
    assert_string_equal(a.user, "user");
    assert_string_equal(a.password, "pass");
    assert_string_equal(a.host, "host");
    assert_int_equal(a.port, 1);
    assert_int_equal(a.db, 2);

    /* the last '@' ends the credentials, so a password may contain '@' and ':' */
    a = parse_ok("redis://u:p@ss:w@rd@db.example:7000");
    assert_string_equal(a.user, "u");
    assert_string_equal(a.password, "p@ss:w@rd");
    assert_string_equal(a.host, "db.example");
    assert_int_equal(a.port, 7000);

    /* generated (base64) passwords contain '/' and '+': taken raw, up to the last '@' */
    a = parse_ok("redis://:ab/cd+ef==@h:6380/1");
    assert_string_equal(a.password, "ab/cd+ef==");
    assert_string_equal(a.host, "h");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 1);

    /* no colon: the whole userinfo is the password (legacy requirepass form) */
    a = parse_ok("redis://onlypass@h");
    assert_string_equal(a.user, "");
    assert_string_equal(a.password, "onlypass");
}

static void test_ipv6(void **state)
{
    (void)state;
    sb_redis_addr_t a = parse_ok("redis://[::1]:6380");
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 6380);
    a = parse_ok("redis://[2001:db8::7]");
    assert_string_equal(a.host, "2001:db8::7");
    assert_int_equal(a.port, 6379);
    a = parse_ok("redis://:pw@[::1]:6381/3");
    assert_string_equal(a.host, "::1");
    assert_string_equal(a.password, "pw");
    assert_int_equal(a.port, 6381);
    assert_int_equal(a.db, 3);
}

static void test_unix(void **state)
{
    (void)state;
    sb_redis_addr_t a = parse_ok("unix:///var/run/redis.sock");
    assert_string_equal(a.path, "/var/run/redis.sock");
    assert_string_equal(a.host, "");
    assert_int_equal(a.db, 0);
    a = parse_ok("unix:///tmp/r.sock?db=3");
    assert_string_equal(a.path, "/tmp/r.sock");
    assert_int_equal(a.db, 3);
    a = parse_ok("unix:///s?db=15");
    assert_int_equal(a.db, 15);
}

static void test_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "http://localhost:6379",
        "rediss://localhost",
        "REDIS://localhost",
        "localhost:6379",
        "redis://",
        "redis:///0",
        "redis://:6379",
        "redis://:pw@",
        "redis://:pw@:6379",
        "redis://h:0",
        "redis://h:70000",
        "redis://h:65536",
        "redis://h:",
        "redis://h:-1",
        "redis://h:port",
        "redis://h:6379x",
        "redis://h/99",
        "redis://h/16",
        "redis://h/x",
        "redis://h/-1",
        "redis://[::1",
        "redis://[::1]6379",
        "redis://[]",
        "redis://[::1]:0",
        "unix://",
        "unix://relative.sock",
        "unix:///s?db=16",
        "unix:///s?db=",
        "unix:///s?database=1",
        "unix:///s?db=1&x=2",
        "unix://?db=1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_redis_addr_t a;
        if (sb_redis_url_parse(bad[i], &a) != -EINVAL)
            fail_msg("'%s' should be refused", bad[i]);
    }
}

static void test_overlong_fields(void **state)
{
    (void)state;
    sb_redis_addr_t a;
    char url[1200];
    char host[300];
    memset(host, 'h', sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(url, sizeof(url), "redis://%s:6379", host);
    assert_int_equal(sb_redis_url_parse(url, &a), -EINVAL);
    snprintf(url, sizeof(url), "redis://:%s@h", host); /* 299-byte password > 255 */
    assert_int_equal(sb_redis_url_parse(url, &a), -EINVAL);
    snprintf(url, sizeof(url), "unix:///%s", host);
    assert_int_equal(sb_redis_url_parse(url, &a), -EINVAL);
    snprintf(url, sizeof(url), "redis://[%s]", host);
    assert_int_equal(sb_redis_url_parse(url, &a), -EINVAL);
    /* the largest host that fits */
    host[255] = '\0';
    snprintf(url, sizeof(url), "redis://%s", host);
    assert_int_equal(sb_redis_url_parse(url, &a), 0);
    assert_int_equal(strlen(a.host), 255);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_only),
        cmocka_unit_test(test_host_port_db),
        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_rejected),
        cmocka_unit_test(test_overlong_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
