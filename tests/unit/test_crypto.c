/* Unit tests for src/core/crypto.c: SHA-256 and HMAC-SHA256 against published vectors, UUIDv4
 * format, random tokens and constant-time comparison; SHA-256 and HMAC against mbedTLS's own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/crypto.h"
#include "switchboard/text.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    sb_hex_encode(d, n, out);
}

static void test_sha256(void **state)
{
    (void)state;
    char h[65];
    sb_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sb_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sb_sha256_hex(two_blocks, strlen(two_blocks), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a' (FIPS 180-2 long message) */
    char *mil = malloc(1000000);
    assert_non_null(mil);
    memset(mil, 'a', 1000000);
    sb_sha256_hex(mil, 1000000, h);
    free(mil);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    unsigned char raw[32];
    sb_sha256("abc", 3, raw);
    assert_int_equal(raw[0], 0xba);
    assert_int_equal(raw[31], 0xad);
}

/* RFC 4231, test cases 1-4, 6 and 7 (5 is a truncated output, checked as a prefix). */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    unsigned char key[131], data[160], mac[32];
    char h[65];

    memset(key, 0x0b, 20);
    sb_hmac_sha256(key, 20, "Hi There", 8, mac);
    hex(mac, 32, h);
    assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    sb_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    hex(mac, 32, h);
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    sb_hmac_sha256(key, 20, data, 50, mac);
    hex(mac, 32, h);
    assert_string_equal(h, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");

    for (int i = 0; i < 25; i++)
        key[i] = (unsigned char)(i + 1);
    memset(data, 0xcd, 50);
    sb_hmac_sha256(key, 25, data, 50, mac);
    hex(mac, 32, h);
    assert_string_equal(h, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");

    memset(key, 0x0c, 20);
    sb_hmac_sha256(key, 20, "Test With Truncation", 20, mac);
    hex(mac, 16, h);
    assert_string_equal(h, "a3b6167473100ee06e0c796c2955552b");

    memset(key, 0xaa, 131);
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    sb_hmac_sha256(key, 131, d6, strlen(d6), mac);
    hex(mac, 32, h);
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    const char *d7 = "This is a test using a larger than block-size key and a larger than block-size data. "
                     "The key needs to be hashed before being used by the HMAC algorithm.";
    sb_hmac_sha256(key, 131, d7, strlen(d7), mac);
    hex(mac, 32, h);
    assert_string_equal(h, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void check_uuid4(const char *u)
{
    assert_int_equal(strlen(u), 36);
    assert_true(sb_uuid_valid(u, 36));
    for (int i = 0; i < 36; i++)
        if (u[i] >= 'A' && u[i] <= 'F')
            fail_msg("uuid '%s' is not lower-case", u);
    assert_int_equal(u[14], '4'); /* version 4 */
    if (!strchr("89ab", u[19]))   /* RFC 4122 variant */
        fail_msg("uuid '%s' has variant nibble %c", u, u[19]);
}

static void test_uuid4(void **state)
{
    (void)state;
    char a[37], b[37];
    sb_uuid4(a);
    sb_uuid4(b);
    check_uuid4(a);
    check_uuid4(b);
    assert_string_not_equal(a, b);
    /* every variant nibble shows up and nothing else does, over many draws */
    unsigned seen = 0;
    for (int i = 0; i < 400; i++) {
        sb_uuid4(a);
        check_uuid4(a);
        seen |= 1u << (strchr("89ab", a[19]) - "89ab");
    }
    assert_int_equal(seen, 0xf);
}

static void *thread_uuid(void *arg)
{
    sb_uuid4(arg);
    sb_crypto_thread_cleanup();
    return NULL;
}

static void test_uuid4_other_thread(void **state)
{
    (void)state;
    char a[37], b[37];
    pthread_t t;
    sb_uuid4(a);
    assert_int_equal(pthread_create(&t, NULL, thread_uuid, b), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    check_uuid4(b);
    assert_string_not_equal(a, b);
}

static void test_random(void **state)
{
    (void)state;
    char tok[100], tok2[100];
    sb_random_token(tok, 32);
    assert_int_equal(strlen(tok), 43);
    assert_int_equal(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    sb_random_token(tok2, 32);
    assert_string_not_equal(tok, tok2);
    sb_random_token(tok, 16);
    assert_int_equal(strlen(tok), 22);
    sb_random_token(tok, 1000); /* capped at 64 bytes */
    assert_int_equal(strlen(tok), sb_base64url_len(64));

    /* larger than one DRBG request */
    size_t n = 5000;
    unsigned char *buf = calloc(1, n);
    assert_non_null(buf);
    sb_random_bytes(buf, n);
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += buf[i] == 0;
    assert_true(zeros < 100); /* ~20 expected */
    size_t tail_zeros = 0;
    for (size_t i = n - 64; i < n; i++)
        tail_zeros += buf[i] == 0;
    assert_true(tail_zeros < 16); /* the last chunk was filled too */
    free(buf);
    sb_random_bytes(tok, 0);
}

/* Small draws come from a per-thread pool refilled by the DRBG: across many refills no two
 * draws repeat, each draw's bytes look random, and draws of mixed sizes never overlap. */
static void test_random_pool(void **state)
{
    (void)state;
    enum { DRAWS = 2000 };
    unsigned char(*d)[64] = calloc(DRAWS, sizeof(*d));
    assert_non_null(d);
    size_t zeros = 0, total = 0;
    for (int i = 0; i < DRAWS; i++) {
        size_t n = (size_t)(i % 7 == 0 ? 64 : 1 + i % 40); /* 1..64 bytes, the pool's limit */
        sb_random_bytes(d[i], n);
        total += n;
        for (size_t k = 0; k < n; k++)
            zeros += d[i][k] == 0;
    }
    assert_true(zeros < total / 128); /* ~1/256 expected */
    for (int i = 0; i < DRAWS; i++)   /* the 16-byte prefix of every draw of 16+ bytes is unique */
        for (int j = i + 1; j < DRAWS; j++)
            if ((i % 7 == 0 || 1 + i % 40 >= 16) && (j % 7 == 0 || 1 + j % 40 >= 16))
                assert_memory_not_equal(d[i], d[j], 16);
    free(d);
    char u[37], v[37];
    sb_uuid4(u);
    sb_uuid4(v);
    assert_string_not_equal(u, v);
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(sb_ct_equal("secret", 6, "secret", 6));
    assert_false(sb_ct_equal("secret", 6, "secreT", 6));
    assert_false(sb_ct_equal("Secret", 6, "secret", 6));
    assert_false(sb_ct_equal("secret", 6, "secret!", 7));
    assert_false(sb_ct_equal("secret", 6, "secre", 5));
    assert_true(sb_ct_equal("", 0, "", 0));
    assert_false(sb_ct_equal("", 0, "x", 1));
    assert_true(sb_ct_equal("a\0b", 3, "a\0b", 3));
    assert_false(sb_ct_equal("a\0b", 3, "a\0c", 3));
    unsigned char x[64], y[64];
    memset(x, 0x5a, sizeof(x));
    memcpy(y, x, sizeof(y));
    assert_true(sb_ct_equal(x, 64, y, 64));
    y[63] ^= 0x80;
    assert_false(sb_ct_equal(x, 64, y, 64));
}

static int teardown(void **state)
{
    (void)state;
    sb_crypto_thread_cleanup();
    return 0;
}

/* Every length around the block and padding edges, keys shorter and longer than a block, and
 * the message split into parts at every offset: the same bytes as mbedTLS's own SHA-256 and
 * HMAC (on a CPU with the SHA extensions that compares the two implementations). */
static void test_matches_mbedtls(void **state)
{
    (void)state;
    printf("SHA-256 on the CPU's SHA extensions: %s\n", sb_sha256_accelerated() ? "yes" : "no (mbedTLS)");
    unsigned char msg[1100], key[200], a[32], b[32];
    uint32_t x = 2463534242u; /* xorshift: the same bytes every run */
    for (size_t i = 0; i < sizeof(msg); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        msg[i] = (unsigned char)x;
    }
    memcpy(key, msg + 500, sizeof(key));
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    for (size_t n = 0; n <= sizeof(msg); n += (n < 200 ? 1 : 37)) {
        sb_sha256(msg, n, a);
        mbedtls_sha256_ret(msg, n, b, 0);
        assert_memory_equal(a, b, 32);
        size_t kl = n % 150; /* 0 .. 149: empty, short, one block, longer (hashed first) */
        sb_hmac_sha256(key, kl, msg, n, a);
        mbedtls_md_hmac(md, key, kl, msg, n, b);
        assert_memory_equal(a, b, 32);
    }
    for (size_t cut = 0; cut <= 300; cut++) {
        const void *parts[3] = {msg, msg + cut, msg + 300};
        size_t lens[3] = {cut, 300 - cut, 5};
        sb_hmac_sha256_parts(key, 64, parts, lens, 3, a);
        mbedtls_md_hmac(md, key, 64, msg, 305, b);
        assert_memory_equal(a, b, 32);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_matches_mbedtls),
        cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_uuid4_other_thread),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_random_pool),
        cmocka_unit_test(test_ct_equal),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
