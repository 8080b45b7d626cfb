/* Unit tests for src/core/text.c: encodings, UTF-8 validation, percent decoding, integer and
 * UUID parsing, query strings, timestamps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "switchboard/text.h"

#define U8(lit) (lit), (sizeof(lit) - 1)

static void test_hex(void **state)
{
    (void)state;
    char out[16];
    static const unsigned char in[] = {0x00, 0x01, 0x7f, 0xab, 0xff};
    sb_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "00017fabff");
    memset(out, 'x', sizeof(out));
    sb_hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *in, *b64, *b64url;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void test_base64url(void **state)
{
    (void)state;
    char out[64];
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        size_t n = strlen(rfc4648[i].in);
        memset(out, 'x', sizeof(out));
        size_t len = sb_base64url_encode((const unsigned char *)rfc4648[i].in, n, out);
        assert_string_equal(out, rfc4648[i].b64url);
        assert_int_equal(len, strlen(rfc4648[i].b64url));
        assert_int_equal(sb_base64url_len(n), len);
    }
    /* the URL-safe alphabet: '-' and '_' instead of '+' and '/' */
    static const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    sb_base64url_encode(hi, sizeof(hi), out);
    assert_string_equal(out, "-_-_");
    sb_base64url_encode(hi, 2, out);
    assert_string_equal(out, "-_8");
    /* 32 random bytes become a 43-character token */
    unsigned char k[32] = {0};
    assert_int_equal(sb_base64url_len(32), 43);
    assert_int_equal(sb_base64url_encode(k, 32, out), 43);
    assert_int_equal(strlen(out), 43);
}

static void test_base64(void **state)
{
    (void)state;
    char out[64];
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        size_t n = strlen(rfc4648[i].in);
        memset(out, 'x', sizeof(out));
        size_t len = sb_base64_encode((const unsigned char *)rfc4648[i].in, n, out);
        assert_string_equal(out, rfc4648[i].b64);
        assert_int_equal(len, 4 * ((n + 2) / 3));
    }
    static const unsigned char hi[] = {0xfb, 0xff, 0xbf};
    sb_base64_encode(hi, sizeof(hi), out);
    assert_string_equal(out, "+/+/");
    static const unsigned char bin[] = {0x00, 0x10, 0x83, 0x10, 0x51, 0x87};
    sb_base64_encode(bin, sizeof(bin), out);
    assert_string_equal(out, "ABCDEFGH");
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(sb_utf8_valid(U8("")));
    assert_true(sb_utf8_valid(U8("plain ascii ~\x7f")));
    assert_true(sb_utf8_valid(U8("h\xc3\xa9llo")));            /* é */
    assert_true(sb_utf8_valid(U8("\xc2\x80")));                /* U+0080 */
    assert_true(sb_utf8_valid(U8("\xdf\xbf")));                /* U+07FF */
    assert_true(sb_utf8_valid(U8("\xe0\xa0\x80")));            /* U+0800 */
    assert_true(sb_utf8_valid(U8("\xe2\x82\xac")));            /* € */
    assert_true(sb_utf8_valid(U8("\xed\x9f\xbf")));            /* U+D7FF, just below the surrogates */
    assert_true(sb_utf8_valid(U8("\xee\x80\x80")));            /* U+E000, just above */
    assert_true(sb_utf8_valid(U8("\xef\xbf\xbf")));            /* U+FFFF */
    assert_true(sb_utf8_valid(U8("\xf0\x90\x80\x80")));        /* U+10000 */
    assert_true(sb_utf8_valid(U8("\xf0\x9f\x98\x80")));        /* emoji */
    assert_true(sb_utf8_valid(U8("\xf4\x8f\xbf\xbf")));        /* U+10FFFF */
    assert_true(sb_utf8_valid(U8("a\0b")));                    /* NUL is a valid code point */
    assert_true(sb_utf8_valid("\xc3\xa9\xc3", 2));             /* the length is honoured */
}

static void test_utf8_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n;
        const char *why;
    } bad[] = {
        {U8("\xc0\x80"), "overlong NUL"},
        {U8("\xc1\xbf"), "overlong 2-byte"},
        {U8("\xe0\x80\x80"), "overlong 3-byte"},
        {U8("\xe0\x9f\xbf"), "overlong 3-byte (U+07FF)"},
        {U8("\xf0\x80\x80\x80"), "overlong 4-byte"},
        {U8("\xf0\x8f\xbf\xbf"), "overlong 4-byte (U+FFFF)"},
        {U8("\xed\xa0\x80"), "surrogate U+D800"},
        {U8("\xed\xbf\xbf"), "surrogate U+DFFF"},
        {U8("\xed\xa0\xbd\xed\xb8\x80"), "CESU-8 surrogate pair"},
        {U8("\xf4\x90\x80\x80"), "U+110000"},
        {U8("\xf5\x80\x80\x80"), "lead byte F5"},
        {U8("\xf7\xbf\xbf\xbf"), "lead byte F7"},
        {U8("\xf8\x88\x80\x80\x80"), "5-byte form"},
        {U8("\xfe"), "FE"},
        {U8("\xff"), "FF"},
        {U8("\x80"), "lone continuation"},
        {U8("a\xbf"), "lone continuation after ASCII"},
        {U8("\xc3"), "truncated 2-byte"},
        {U8("\xe2\x82"), "truncated 3-byte"},
        {U8("\xf0\x9f\x98"), "truncated 4-byte"},
        {U8("ok\xe2"), "truncated at the end"},
        {U8("\xc3\x28"), "bad continuation"},
        {U8("\xe2\x28\xa1"), "bad second byte"},
        {U8("\xe2\x82\x28"), "bad third byte"},
        {U8("\xf0\x9f\x98\x28"), "bad fourth byte"},
        {U8("\xc3\xa9\xa9"), "extra continuation"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sb_utf8_valid(bad[i].s, bad[i].n))
            fail_msg("accepted invalid UTF-8: %s", bad[i].why);
    /* cut inside a valid sequence by the length */
    assert_false(sb_utf8_valid("\xe2\x82\xac", 2));
}

static void test_ascii_ieq(void **state)
{
    (void)state;
    assert_true(sb_ascii_ieq(U8("Content-Type"), "content-type"));
    assert_true(sb_ascii_ieq(U8("X-API-KEY"), "x-api-key"));
    assert_true(sb_ascii_ieq(U8("expect"), "Expect"));
    assert_true(sb_ascii_ieq(U8(""), ""));
    assert_false(sb_ascii_ieq(U8("Content"), "content-type"));
    assert_false(sb_ascii_ieq(U8("Content-Type-X"), "content-type"));
    assert_false(sb_ascii_ieq(U8("Content_Type"), "content-type"));
    assert_false(sb_ascii_ieq(U8("a"), ""));
    /* only ASCII letters fold: '@' (0x40) and '`' (0x60) stay distinct */
    assert_false(sb_ascii_ieq(U8("@"), "`"));
    assert_false(sb_ascii_ieq(U8("["), "{"));
}

static int pdec(const char *in, bool plus, char *out, size_t cap)
{
    return sb_percent_decode(in, strlen(in), out, cap, plus);
}

static void test_percent_decode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(pdec("a%20b", false, out, sizeof(out)), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(pdec("%41%42%43", false, out, sizeof(out)), 3);
    assert_string_equal(out, "ABC");
    assert_int_equal(pdec("%7e%7E", false, out, sizeof(out)), 2);
    assert_string_equal(out, "~~");
    assert_int_equal(pdec("%c3%a9", false, out, sizeof(out)), 2);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(pdec("a+b", true, out, sizeof(out)), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(pdec("a+b", false, out, sizeof(out)), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(pdec("%2B", true, out, sizeof(out)), 1);
    assert_string_equal(out, "+");
    assert_int_equal(pdec("%2F..%2f", false, out, sizeof(out)), 4);
    assert_string_equal(out, "/../");
    assert_int_equal(pdec("", false, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* an escaped NUL decodes (callers refuse embedded NULs themselves) */
    assert_int_equal(pdec("a%00b", false, out, sizeof(out)), 3);
    assert_memory_equal(out, "a\0b", 4);
    /* the input length is honoured */
    assert_int_equal(sb_percent_decode("ab%41", 2, out, sizeof(out), false), 2);
    assert_string_equal(out, "ab");
}

static void test_percent_decode_errors(void **state)
{
    (void)state;
    char out[64];
    static const char *const bad[] = {"%", "%4", "abc%", "abc%2", "%%", "%zz", "%4g", "%g4", "a%-1", "%%41", "% 4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = pdec(bad[i], false, out, sizeof(out));
        if (rc != -EINVAL)
            fail_msg("'%s': expected -EINVAL, got %d", bad[i], rc);
    }
    /* a '%' cut off by the length is truncated, even if the bytes after it are hex */
    assert_int_equal(sb_percent_decode("a%41", 3, out, sizeof(out), false), -EINVAL);
    /* output capacity includes the terminating NUL */
    assert_int_equal(pdec("abcd", false, out, 4), -E2BIG);
    assert_int_equal(pdec("abcd", false, out, 5), 4);
    assert_string_equal(out, "abcd");
    assert_int_equal(pdec("%41%41", false, out, 2), -E2BIG);
    assert_int_equal(pdec("%41%41", false, out, 3), 2);
    assert_int_equal(pdec("", false, out, 0), -E2BIG);
}

static void test_fmt_u64(void **state)
{
    (void)state;
    char out[21];
    static const struct {
        uint64_t v;
        const char *s;
    } cases[] = {{0, "0"}, {7, "7"}, {10, "10"}, {60000, "60000"}, {UINT64_MAX, "18446744073709551615"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(out, 'x', sizeof(out));
        assert_int_equal(sb_fmt_u64(cases[i].v, out), strlen(cases[i].s));
        assert_string_equal(out, cases[i].s);
        uint64_t back;
        assert_int_equal(sb_parse_u64(out, strlen(out), UINT64_MAX, &back), 0);
        assert_true(back == cases[i].v);
    }
}

static void test_parse_u64(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(sb_parse_u64(U8("0"), 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(sb_parse_u64(U8("123"), 1000, &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(sb_parse_u64(U8("100"), 100, &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(sb_parse_u64(U8("007"), 100, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(sb_parse_u64(U8("18446744073709551615"), UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(sb_parse_u64("12345", 2, 100, &v), 0); /* the length is honoured */
    assert_int_equal(v, 12);

    v = 42;
    assert_int_equal(sb_parse_u64(U8("101"), 100, &v), -ERANGE);
    assert_int_equal(sb_parse_u64(U8("18446744073709551616"), UINT64_MAX, &v), -ERANGE);
    assert_int_equal(sb_parse_u64(U8("18446744073709551620"), UINT64_MAX, &v), -ERANGE);
    assert_int_equal(sb_parse_u64(U8("99999999999999999999"), UINT64_MAX, &v), -ERANGE);
    assert_int_equal(sb_parse_u64(U8("184467440737095516150"), UINT64_MAX, &v), -EINVAL); /* 21 digits */
    assert_int_equal(sb_parse_u64(U8(""), 100, &v), -EINVAL);
    assert_int_equal(sb_parse_u64(U8("-1"), 100, &v), -EINVAL);
    assert_int_equal(sb_parse_u64(U8("+1"), 100, &v), -EINVAL);
    assert_int_equal(sb_parse_u64(U8(" 1"), 100, &v), -EINVAL);
    assert_int_equal(sb_parse_u64(U8("1 "), 100, &v), -EINVAL);
    assert_int_equal(sb_parse_u64(U8("12a"), 100, &v), -EINVAL);
    assert_int_equal(sb_parse_u64(U8("0x10"), 100, &v), -EINVAL);
    assert_int_equal(sb_parse_u64(U8("1.0"), 100, &v), -EINVAL);
    assert_int_equal(sb_parse_u64(U8("1e3"), 10000, &v), -EINVAL);
    assert_int_equal(v, 42); /* untouched on error */
}

static void test_uuid_valid(void **state)
{
    (void)state;
    assert_true(sb_uuid_valid(U8("123e4567-e89b-12d3-a456-426614174000")));
    assert_true(sb_uuid_valid(U8("00000000-0000-0000-0000-000000000000")));
    assert_true(sb_uuid_valid(U8("123E4567-E89B-12D3-A456-426614174000")));
    assert_false(sb_uuid_valid(U8("123e4567-e89b-12d3-a456-42661417400")));
    assert_false(sb_uuid_valid(U8("123e4567-e89b-12d3-a456-4266141740000")));
    assert_false(sb_uuid_valid(U8("123e4567e89b12d3a456426614174000")));
    assert_false(sb_uuid_valid(U8("123e4567-e89b-12d3-a4564-26614174000")));
    assert_false(sb_uuid_valid(U8("123e4567_e89b_12d3_a456_426614174000")));
    assert_false(sb_uuid_valid(U8("g23e4567-e89b-12d3-a456-426614174000")));
    assert_false(sb_uuid_valid(U8("{23e4567-e89b-12d3-a456-426614174000")));
    assert_false(sb_uuid_valid(U8("123e4567-e89b-12d3-a456-42661417400 ")));
    assert_false(sb_uuid_valid(U8("")));
    assert_false(sb_uuid_valid("123e4567-e89b-12d3-a456-426614174000", 35));
}

static bool q(const char *query, const char *key, const char *want)
{
    sb_str_t v = {"sentinel", 8};
    bool found = sb_query_get(sb_str(query), key, &v);
    if (!want)
        return !found;
    return found && v.len == strlen(want) && memcmp(v.p, want, v.len) == 0;
}

static void test_query_get(void **state)
{
    (void)state;
    assert_true(q("a=1&b=2&c", "a", "1"));
    assert_true(q("a=1&b=2&c", "b", "2"));
    assert_true(q("a=1&b=2&c", "c", ""));
    assert_true(q("a=1&b=2&c", "d", NULL));
    assert_true(q("page=2&pageSize=50", "page", "2"));
    assert_true(q("pageSize=50&page=2", "page", "2"));
    assert_true(q("pageSize=50", "page", NULL));
    assert_true(q("ab=1", "a", NULL));
    assert_true(q("a=1&a=2", "a", "1")); /* first one wins */
    assert_true(q("a=b=c", "a", "b=c"));
    assert_true(q("a=", "a", ""));
    assert_true(q("=x&k=v", "k", "v"));
    assert_true(q("&&k=v&", "k", "v"));
    assert_true(q("k=%20x+y", "k", "%20x+y")); /* raw: decoding is the caller's job */
    assert_true(q("", "a", NULL));
    assert_true(q("A=1", "a", NULL)); /* keys are case-sensitive */
    /* the query length is honoured */
    sb_str_t v;
    sb_str_t cut = {"a=1&b=2", 3};
    assert_true(sb_query_get(cut, "a", &v));
    assert_int_equal(v.len, 1);
    assert_false(sb_query_get(cut, "b", &v));
}

static void test_time_rfc3339(void **state)
{
    (void)state;
    char out[32];
    sb_time_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    sb_time_rfc3339(1700000000123LL, out);
    assert_string_equal(out, "2023-11-14T22:13:20.123Z");
    assert_int_equal(strlen(out), 24);
    sb_time_rfc3339(951782400005LL, out);
    assert_string_equal(out, "2000-02-29T00:00:00.005Z");
    sb_time_rfc3339(4102444799999LL, out);
    assert_string_equal(out, "2099-12-31T23:59:59.999Z");
    sb_time_rfc3339(1700000000010LL, out);
    assert_string_equal(out, "2023-11-14T22:13:20.010Z");
    sb_time_rfc3339_us(1700000000000007LL, out);
    assert_string_equal(out, "2023-11-14T22:13:20.000007Z");
    sb_time_rfc3339(-1000LL, out);
    assert_string_equal(out, "1969-12-31T23:59:59.000Z");
    sb_time_rfc3339(253402300799999LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
    sb_time_rfc3339(-62135596800000LL, out); /* the first day of year 1 */
    assert_string_equal(out, "0001-01-01T00:00:00.000Z");
    sb_time_rfc3339(253402300800000LL, out); /* year 10000: the C library's way */
    assert_string_equal(out, "10000-01-01T00:00:00.000Z");
}

/* The formatter agrees with gmtime_r + strftime on every second it is given: 200,000 of them
 * spread over the years 1000 to 9999, and every day boundary around the leap days of
 * 1900, 2000, 2100 (+-1 s). */
static void test_time_rfc3339_matches_libc(void **state)
{
    (void)state;
    char got[32], want[32];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    const int64_t lo = -30610224000LL, hi = 253402300799LL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t s = lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
        time_t t = (time_t)s;
        struct tm tm;
        gmtime_r(&t, &tm);
        size_t n = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof(want) - n, ".%03uZ", (unsigned)(i % 1000));
        sb_time_rfc3339(s * 1000 + i % 1000, got);
        assert_string_equal(got, want);
    }
    const int64_t marks[] = {-2203891200LL, -2203804800LL, 951782400LL, 951868800LL, 4107456000LL, 4107542400LL};
    for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
        for (int64_t s = marks[i] - 86401; s <= marks[i] + 86401; s += 86400) {
            time_t t = (time_t)s;
            struct tm tm;
            gmtime_r(&t, &tm);
            size_t n = strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
            snprintf(want + n, sizeof(want) - n, ".000Z");
            sb_time_rfc3339(s * 1000, got);
            assert_string_equal(got, want);
        }
    }
}

static void test_str_join(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(sb_str_join(out, sizeof(out), (const char *[]){"sb:", "ab", ":c"}, 3), 7);
    assert_string_equal(out, "sb:ab:c");
    assert_int_equal(sb_str_join(out, sizeof(out), (const char *[]){"sb:", "abc", ":d"}, 3), -E2BIG);
    assert_string_equal(out, "sb:abc:"); /* what fits, like snprintf */
    assert_int_equal(sb_str_join(out, sizeof(out), (const char *[]){"12345678"}, 1), -E2BIG);
    assert_string_equal(out, "1234567");
    assert_int_equal(sb_str_join(out, sizeof(out), (const char *[]){""}, 1), 0);
    assert_string_equal(out, "");
}

static bool acc(const char *v)
{
    return sb_accepts_coding(v, strlen(v), "gzip");
}

static void test_accepts_coding(void **state)
{
    (void)state;
    assert_true(acc("gzip"));
    assert_true(acc("gzip, deflate, br"));
    assert_true(acc("br;q=1.0, GZIP;Q=0.001"));
    assert_true(acc(" deflate ,\tgzip ; q=0.5 "));
    assert_true(acc("*"));
    assert_true(acc("br, *;q=0.1"));
    assert_true(acc("gzip;level=9;q=1"));
    assert_true(acc("x-gzip, gzip"));
    assert_false(acc(""));
    assert_false(acc("identity"));
    assert_false(acc("deflate, br"));
    assert_false(acc("gzip;q=0"));
    assert_false(acc("gzip;q=0.000"));
    assert_false(acc("gzip;q=0, *"));   /* the named coding beats the wildcard */
    assert_false(acc("*;q=0"));
    assert_false(acc("gzip;q=2"));      /* a malformed q counts as 0 */
    assert_false(acc("gzip;q=0.0001")); /* four decimals */
    assert_false(acc("gzip;q="));
    assert_false(acc("gzipx, xgzip, gz"));
}

static void trims(const char *in, const char *want)
{
    const char *s = in;
    size_t n = strlen(in);
    sb_trim_ows(&s, &n);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(s, want, n);
}

static void test_trim_ows(void **state)
{
    (void)state;
    trims("", "");
    trims(" \t ", "");
    trims("gzip", "gzip");
    trims(" \tgzip \t", "gzip");
    trims("  a b  ", "a b");
    trims("\r\nx", "\r\nx"); /* only spaces and tabs are optional whitespace */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_base64url),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_ascii_ieq),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_percent_decode_errors),
        cmocka_unit_test(test_fmt_u64),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_time_rfc3339),
        cmocka_unit_test(test_time_rfc3339_matches_libc),
        cmocka_unit_test(test_str_join),
        cmocka_unit_test(test_accepts_coding),
        cmocka_unit_test(test_trim_ows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
