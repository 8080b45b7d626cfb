/* Unit tests for src/http/peers.c: who counts as one client, the cap, and a table that stays
 * exact and shrinks back through thousands of clients coming and going. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/peers.h"

static void key_of(const char *ip, unsigned prefix, unsigned char key[16])
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    sb_peers_key((struct sockaddr *)&ss, prefix, key);
}

static void test_keys(void **state)
{
    (void)state;
    unsigned char a[16], b[16];
    key_of("203.0.113.7", 64, a);
    key_of("::ffff:203.0.113.7", 64, b);
    assert_memory_equal(a, b, 16); /* IPv4, however written */
    key_of("203.0.113.8", 64, b);
    assert_memory_not_equal(a, b, 16);
    key_of("2001:db8:1:2::1", 64, a);
    key_of("2001:db8:1:2:ffff:ffff:ffff:ffff", 64, b);
    assert_memory_equal(a, b, 16); /* one /64 */
    key_of("2001:db8:1:3::1", 64, b);
    assert_memory_not_equal(a, b, 16);
    key_of("2001:db8:1:2::1", 128, a);
    key_of("2001:db8:1:2::2", 128, b);
    assert_memory_not_equal(a, b, 16);
    key_of("2001:db8:1:2::1", 56, a);
    key_of("2001:db8:1:ff::1", 56, b);
    assert_memory_equal(a, b, 16); /* a prefix that is not a whole byte: 56 bits */
    key_of("2001:db8:1:102::1", 56, b);
    assert_memory_not_equal(a, b, 16);
}

static void test_cap(void **state)
{
    (void)state;
    sb_peers_t *t = sb_peers_new();
    unsigned char a[16], b[16];
    key_of("198.51.100.1", 64, a);
    key_of("198.51.100.2", 64, b);
    for (int i = 0; i < 3; i++)
        assert_true(sb_peers_take(t, a, 3));
    assert_false(sb_peers_take(t, a, 3));
    assert_true(sb_peers_take(t, b, 3)); /* another client has its own budget */
    assert_int_equal(sb_peers_count(t), 2);
    sb_peers_drop(t, a);
    assert_true(sb_peers_take(t, a, 3));
    assert_false(sb_peers_take(t, a, 3));
    for (int i = 0; i < 3; i++)
        sb_peers_drop(t, a);
    sb_peers_drop(t, b);
    assert_int_equal(sb_peers_count(t), 0);
    sb_peers_free(t);
}

/* Many clients in and out in an interleaved order: every count stays exact (a lost entry after
 * a deletion would show as a second budget or a refused client), and the table empties. */
static void test_churn(void **state)
{
    (void)state;
    enum { N = 5000 };
    sb_peers_t *t = sb_peers_new();
    static unsigned char keys[N][16];
    for (int i = 0; i < N; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        key_of(ip, 64, keys[i]);
        assert_true(sb_peers_take(t, keys[i], 2));
        assert_true(sb_peers_take(t, keys[i], 2));
    }
    assert_int_equal(sb_peers_count(t), N);
    for (int i = 0; i < N; i += 2) { /* every other client leaves */
        sb_peers_drop(t, keys[i]);
        sb_peers_drop(t, keys[i]);
    }
    assert_int_equal(sb_peers_count(t), N / 2);
    for (int i = 0; i < N; i++) {
        if (i % 2) {
            assert_false(sb_peers_take(t, keys[i], 2)); /* still holds two */
        } else {
            assert_true(sb_peers_take(t, keys[i], 2)); /* came back with a fresh count */
            assert_true(sb_peers_take(t, keys[i], 2));
            assert_false(sb_peers_take(t, keys[i], 2));
        }
    }
    for (int i = 0; i < N; i++) {
        sb_peers_drop(t, keys[i]);
        sb_peers_drop(t, keys[i]);
    }
    assert_int_equal(sb_peers_count(t), 0);
    assert_true(sb_peers_take(t, keys[7], 1));
    sb_peers_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
