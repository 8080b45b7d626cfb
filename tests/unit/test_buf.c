/* Unit tests for src/core/buf.c: bounded growth, printf, JSON escaping, consume. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "switchboard/buf.h"

static void test_append_and_nul(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_buf_init(&b, 1024);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(sb_buf_puts(&b, "hello"), 0);
    assert_int_equal(sb_buf_putc(&b, ' '), 0);
    assert_int_equal(sb_buf_append(&b, "world!!", 5), 0);
    assert_int_equal(b.len, 11);
    assert_string_equal(b.data, "hello world"); /* always NUL-terminated */
    assert_true(b.cap > b.len);
    assert_int_equal(sb_buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 11);
    assert_int_equal(sb_buf_put_u64(&b, 0), 0);
    assert_int_equal(sb_buf_putc(&b, ','), 0);
    assert_int_equal(sb_buf_put_u64(&b, 18446744073709551615ULL), 0);
    assert_string_equal(b.data, "hello world0,18446744073709551615");
    sb_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(sb_buf_puts(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    sb_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    sb_buf_free(&b); /* twice is harmless */
}

static void test_bounded_growth(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_buf_init(&b, 10);
    assert_int_equal(sb_buf_append(&b, "0123456789", 10), 0); /* exactly max */
    assert_int_equal(b.len, 10);
    assert_true(b.cap <= 11);                                  /* never allocates beyond max + NUL */
    assert_int_equal(sb_buf_putc(&b, 'x'), -E2BIG);
    assert_int_equal(sb_buf_append(&b, "x", 1), -E2BIG);
    assert_int_equal(sb_buf_puts(&b, "more"), -E2BIG);
    assert_int_equal(sb_buf_put_u64(&b, 1), -E2BIG);
    assert_int_equal(sb_buf_printf(&b, "%d", 1), -E2BIG);
    assert_int_equal(b.len, 10); /* a refused append changes nothing */
    assert_string_equal(b.data, "0123456789");
    assert_int_equal(sb_buf_append(&b, "", 0), 0);
    sb_buf_free(&b);

    /* a single oversize append is refused whole, even on an empty buffer */
    sb_buf_init(&b, 4);
    assert_int_equal(sb_buf_append(&b, "12345", 5), -E2BIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(sb_buf_append(&b, "12", 2), 0);
    assert_int_equal(sb_buf_append(&b, "345", 3), -E2BIG);
    assert_int_equal(sb_buf_append(&b, "34", 2), 0);
    assert_string_equal(b.data, "1234");
    sb_buf_free(&b);

    /* reserve arithmetic does not wrap around */
    sb_buf_init(&b, 100);
    assert_int_equal(sb_buf_puts(&b, "abc"), 0);
    assert_int_equal(sb_buf_reserve(&b, SIZE_MAX), -E2BIG);
    assert_int_equal(sb_buf_reserve(&b, SIZE_MAX - 1), -E2BIG);
    assert_int_equal(sb_buf_reserve(&b, 98), -E2BIG);
    assert_int_equal(sb_buf_reserve(&b, 97), 0);
    assert_true(b.cap >= 101);
    sb_buf_free(&b);
}

static void test_large_growth(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_buf_init(&b, 1u << 20);
    char chunk[1000];
    memset(chunk, 'a', sizeof(chunk));
    size_t total = 0;
    while (sb_buf_append(&b, chunk, sizeof(chunk)) == 0)
        total += sizeof(chunk);
    assert_int_equal(total, (1u << 20) / 1000 * 1000);
    assert_int_equal(b.len, total);
    assert_int_equal(b.data[total], '\0');
    assert_int_equal(b.data[total - 1], 'a');
    sb_buf_free(&b);
}

static void test_printf(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_buf_init(&b, 4096);
    assert_int_equal(sb_buf_printf(&b, "%s=%d;", "x", 42), 0);
    assert_int_equal(sb_buf_printf(&b, "%05.1f|%llu", 3.14159, 18446744073709551615ULL), 0);
    assert_string_equal(b.data, "x=42;003.1|18446744073709551615");
    assert_int_equal(sb_buf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.len, strlen("x=42;003.1|18446744073709551615"));

    /* longer than the internal 256-byte scratch buffer */
    char big[1000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sb_buf_reset(&b);
    assert_int_equal(sb_buf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '[');
    assert_int_equal(b.data[1000], ']');
    assert_int_equal(b.data[1001], '\0');
    assert_int_equal(sb_buf_printf(&b, "%s", big), 0);
    assert_int_equal(b.len, 2000);
    assert_int_equal(b.data[2000], '\0');
    sb_buf_free(&b);

    /* a long printf beyond max is refused and leaves the buffer unchanged */
    sb_buf_init(&b, 300);
    assert_int_equal(sb_buf_puts(&b, "keep"), 0);
    assert_int_equal(sb_buf_printf(&b, "%s", big), -E2BIG);
    assert_string_equal(b.data, "keep");
    assert_int_equal(sb_buf_printf(&b, "%.296s", big), 0);
    assert_int_equal(b.len, 300);
    assert_int_equal(b.data[300], '\0');
    sb_buf_free(&b);
}

static const char *esc(sb_buf_t *b, const char *s, size_t n)
{
    sb_buf_reset(b);
    assert_int_equal(sb_buf_json_escape(b, s, n), 0);
    return b->data ? b->data : "";
}

static void test_json_escape(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_buf_init(&b, 4096);
    assert_string_equal(esc(&b, "plain", 5), "plain");
    assert_string_equal(esc(&b, "say \"hi\"", 8), "say \\\"hi\\\"");
    assert_string_equal(esc(&b, "back\\slash", 10), "back\\\\slash");
    assert_string_equal(esc(&b, "a\nb\rc\td", 7), "a\\nb\\rc\\td");
    assert_string_equal(esc(&b, "\x01\x1f", 2), "\\u0001\\u001f");
    assert_string_equal(esc(&b, "\b\f", 2), "\\u0008\\u000c");
    assert_string_equal(esc(&b, "nul\0byte", 8), "nul\\u0000byte");
    /* non-ASCII UTF-8 and DEL pass through unchanged */
    assert_string_equal(esc(&b, "\xc3\xa9\x7f/", 4), "\xc3\xa9\x7f/");
    assert_string_equal(esc(&b, "", 0), "");
    /* appends: the escaped text follows what was there */
    sb_buf_reset(&b);
    sb_buf_puts(&b, "{\"k\":\"");
    sb_buf_json_escape(&b, "\"", 1);
    sb_buf_puts(&b, "\"}");
    assert_string_equal(b.data, "{\"k\":\"\\\"\"}");
    sb_buf_free(&b);

    /* escaping respects the bound */
    sb_buf_init(&b, 5);
    assert_int_equal(sb_buf_json_escape(&b, "\x01", 1), -E2BIG);
    sb_buf_reset(&b);
    assert_int_equal(sb_buf_json_escape(&b, "ab\"", 3), 0);
    assert_string_equal(b.data, "ab\\\"");
    assert_int_equal(sb_buf_json_escape(&b, "xy", 2), -E2BIG);
    sb_buf_free(&b);
}

static void test_consume(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_buf_init(&b, 64);
    sb_buf_consume(&b, 5); /* on an empty, unallocated buffer */
    assert_int_equal(b.len, 0);
    sb_buf_puts(&b, "GET / HTTP/1.1\r\n");
    sb_buf_consume(&b, 4);
    assert_string_equal(b.data, "/ HTTP/1.1\r\n");
    assert_int_equal(b.len, 12);
    sb_buf_consume(&b, 0);
    assert_int_equal(b.len, 12);
    sb_buf_consume(&b, 11);
    assert_string_equal(b.data, "\n");
    sb_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    /* space freed by consume can be used again up to max */
    char fill[64];
    memset(fill, 'f', sizeof(fill));
    assert_int_equal(sb_buf_append(&b, fill, 64), 0);
    assert_int_equal(sb_buf_putc(&b, 'x'), -E2BIG);
    sb_buf_consume(&b, 1);
    assert_int_equal(sb_buf_putc(&b, 'x'), 0);
    assert_int_equal(b.len, 64);
    assert_int_equal(b.data[63], 'x');
    sb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_nul),
        cmocka_unit_test(test_bounded_growth),
        cmocka_unit_test(test_large_growth),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_consume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
