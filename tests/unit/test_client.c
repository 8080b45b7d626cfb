/* Unit tests for the pure parts of src/http/client.c: the SSRF guard and Retry-After. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "../../src/http/client_parse.h"
#include "switchboard/client.h"

static bool allowed(const char *ip, const char *allow)
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
    sb_cidr_list_t list = {0};
    if (allow)
        assert_int_equal(sb_cidr_list_parse(allow, &list), 0);
    return sb_addr_allowed((struct sockaddr *)&ss, &list);
}

static void test_ssrf_refuses_private_and_special(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "192.0.2.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2001:db8::1",
        "2002:7f00:1::1",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (allowed(refused[i], NULL))
            fail_msg("%s must be refused", refused[i]);
    }
}

static void test_ssrf_allows_public(void **state)
{
    (void)state;
    static const char *const ok[] = {"8.8.8.8",         "93.184.216.34",  "172.32.0.1",     "100.128.0.1",
                                     "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (!allowed(ok[i], NULL))
            fail_msg("%s must be allowed", ok[i]);
    }
}

static void test_ssrf_allow_list_opens_ranges(void **state)
{
    (void)state;
    assert_true(allowed("127.0.0.1", "127.0.0.0/8"));
    assert_true(allowed("::ffff:127.0.0.1", "127.0.0.0/8"));
    assert_true(allowed("10.1.2.3", "10.0.0.0/8,192.168.0.0/16"));
    assert_false(allowed("10.1.2.3", "192.168.0.0/16"));
    assert_true(allowed("fd00::5", "fd00::/8"));
    assert_false(allowed("::1", "127.0.0.0/8"));
}

static void test_retry_after(void **state)
{
    (void)state;
    assert_int_equal(sb_retry_after_parse("120", 3, 0), 120);
    assert_int_equal(sb_retry_after_parse(" 5 ", 3, 0), 5);
    assert_int_equal(sb_retry_after_parse("0", 1, 0), 0);
    assert_int_equal(sb_retry_after_parse("-5", 2, 0), -1);
    assert_int_equal(sb_retry_after_parse("soon", 4, 0), -1);
    assert_int_equal(sb_retry_after_parse("", 0, 0), -1);
    /* HTTP date: Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 */
    const char *d = "Wed, 21 Oct 2015 07:28:00 GMT";
    assert_int_equal(sb_retry_after_parse(d, strlen(d), 1445412480 - 30), 30);
    assert_int_equal(sb_retry_after_parse(d, strlen(d), 1445412480 + 30), 0); /* in the past: now */
    const char *bad = "Wed, 21 Oct 2015 07:28:00";
    assert_int_equal(sb_retry_after_parse(bad, strlen(bad), 0), -1);
}

static int64_t fixed_now(void)
{
    return 1700000000;
}

/* The response parser (src/http/client_parse.h) on whole responses: status, body, keep-alive. */
static int parse(const char *raw, bool close_after, sb_client_resp_t *r, bool *keep)
{
    sb__resp_parser_t p;
    sb__resp_parser_init(&p, 1024, fixed_now);
    int rc = sb__resp_parser_feed(&p, raw, strlen(raw));
    if (rc == SB__RESP_MORE && close_after && sb__resp_parser_eof(&p))
        rc = SB__RESP_DONE;
    sb__resp_parser_result(&p, r);
    static char body[1100];
    snprintf(body, sizeof(body), "%.*s", (int)r->body_len, r->body);
    r->body = body;
    *keep = p.keep_alive;
    sb__resp_parser_free(&p);
    return rc;
}

static void test_response_parser(void **state)
{
    (void)state;
    sb_client_resp_t r;
    bool keep;
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, &r, &keep), SB__RESP_DONE);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    assert_true(keep);
    /* a body that runs to the end of the connection is complete when the peer closes */
    assert_int_equal(parse("HTTP/1.0 200 OK\r\n\r\nall of it", true, &r, &keep), SB__RESP_DONE);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "all of it");
    assert_false(keep);
    assert_int_equal(parse("HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\n{}", true, &r, &keep), SB__RESP_DONE);
    assert_string_equal(r.body, "{}");
    /* ... and not before */
    assert_int_equal(parse("HTTP/1.0 200 OK\r\n\r\npart", false, &r, &keep), SB__RESP_MORE);
    /* interim answers are skipped: the final one is the call's */
    assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                           "HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n",
                           false, &r, &keep),
                     SB__RESP_DONE);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.retry_after_s, 7);
    /* a status of fewer than three digits is malformed */
    assert_int_equal(parse("HTTP/1.1 0 X\r\nContent-Length: 0\r\n\r\n", false, &r, &keep), SB__RESP_ERROR);
    /* a Retry-After too long to be one is ignored however the bytes arrive */
    char raw[256];
    snprintf(raw, sizeof(raw), "HTTP/1.1 429 No\r\nRetry-After: 120%70s\r\nContent-Length: 0\r\n\r\n", "");
    assert_int_equal(parse(raw, false, &r, &keep), SB__RESP_DONE);
    assert_int_equal(r.retry_after_s, -1);
    sb__resp_parser_t p;
    sb__resp_parser_init(&p, 1024, fixed_now);
    size_t cut = strlen("HTTP/1.1 429 No\r\nRetry-After: 120");
    assert_int_equal(sb__resp_parser_feed(&p, raw, cut), SB__RESP_MORE);
    assert_int_equal(sb__resp_parser_feed(&p, raw + cut, strlen(raw) - cut), SB__RESP_DONE);
    sb__resp_parser_result(&p, &r);
    assert_int_equal(r.retry_after_s, -1);
    sb__resp_parser_free(&p);
}

/* A download's cap (max_body) and the Content-Type it reports. */
static int parse_capped(const char *raw, size_t max_body, bool close_after, sb_client_resp_t *r, bool *too_large)
{
    sb__resp_parser_t p;
    sb__resp_parser_init(&p, 1024, fixed_now);
    p.max_body = max_body;
    int rc = sb__resp_parser_feed(&p, raw, strlen(raw));
    if (rc == SB__RESP_MORE && close_after)
        rc = sb__resp_parser_eof(&p) ? SB__RESP_DONE : SB__RESP_ERROR;
    sb__resp_parser_result(&p, r);
    *too_large = p.too_large;
    sb__resp_parser_free(&p);
    return rc;
}

static void test_response_cap_and_type(void **state)
{
    (void)state;
    sb_client_resp_t r;
    bool big;
    assert_int_equal(parse_capped("HTTP/1.1 200 OK\r\ncontent-TYPE: image/png; q=1\r\nContent-Length: 4\r\n\r\nabcd", 4,
                                  false, &r, &big),
                     SB__RESP_DONE);
    assert_false(big);
    assert_string_equal(r.content_type, "image/png; q=1");
    assert_int_equal(r.body_len, 4);
    /* a Content-Length over the cap stops before the body */
    assert_int_equal(parse_capped("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 4, false, &r, &big), SB__RESP_ERROR);
    assert_true(big);
    /* ... and so does a body without one that grows past it */
    assert_int_equal(parse_capped("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcde", 4, true, &r, &big),
                     SB__RESP_ERROR);
    assert_true(big);
    assert_int_equal(parse_capped("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                                  4, false, &r, &big),
                     SB__RESP_ERROR);
    assert_true(big);
    /* no cap, no type */
    assert_int_equal(parse_capped("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde", 0, false, &r, &big), SB__RESP_DONE);
    assert_false(big);
    assert_string_equal(r.content_type, "");
    /* a type too long to keep is not reported */
    char raw[400];
    snprintf(raw, sizeof(raw), "HTTP/1.1 200 OK\r\nContent-Type: text/%200s\r\nContent-Length: 0\r\n\r\n", "x");
    assert_int_equal(parse_capped(raw, 0, false, &r, &big), SB__RESP_DONE);
    assert_string_equal(r.content_type, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssrf_refuses_private_and_special),
        cmocka_unit_test(test_response_cap_and_type),
        cmocka_unit_test(test_ssrf_allows_public),
        cmocka_unit_test(test_ssrf_allow_list_opens_ranges),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_response_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
