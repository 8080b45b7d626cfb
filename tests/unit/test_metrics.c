/* Unit tests for src/core/metrics.c: observations end up as the expected Prometheus lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "switchboard/metrics.h"

static sb_metrics_t m1, m2;

static int setup(void **state)
{
    (void)state;
    memset(&m1, 0, sizeof(m1));
    memset(&m2, 0, sizeof(m2));
    sb_metrics_reset_registry();
    sb_metrics_set_route_label(0, "/healthz", "GET");
    sb_metrics_set_route_label(1, "/api/admin/tenants/{tenantId}", "PUT");
    sb_metrics_set_route_label(2, "/never", "GET");
    return 0;
}

static char *render(sb_buf_t *b)
{
    sb_buf_init(b, 1u << 20);
    sb_metrics_render(b);
    assert_non_null(b->data);
    return b->data;
}

/* true when text holds line as a whole line */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        bool start = p == text || p[-1] == '\n';
        bool end = p[n] == '\n' || p[n] == '\0';
        if (start && end)
            return true;
    }
    return false;
}

#define EXPECT_LINE(text, line)                                                                                        \
    do {                                                                                                               \
        if (!has_line((text), (line)))                                                                                 \
            fail_msg("missing line: %s\n--- output ---\n%s", (line), (text));                                          \
    } while (0)

#define EXPECT_NO(text, frag)                                                                                          \
    do {                                                                                                               \
        if (strstr((text), (frag)))                                                                                    \
            fail_msg("unexpected '%s' in:\n%s", (frag), (text));                                                       \
    } while (0)

static void test_status_slots(void **state)
{
    (void)state;
    assert_int_equal(sb_metrics_status_slot(200), 0);
    assert_int_equal(sb_metrics_status_slot(201), 1);
    assert_int_equal(sb_metrics_status_slot(504), SB_METRICS_STATUS_SLOTS - 2);
    assert_int_equal(sb_metrics_status_slot(418), SB_METRICS_STATUS_SLOTS - 1);
    assert_int_equal(sb_metrics_status_slot(0), SB_METRICS_STATUS_SLOTS - 1);
    assert_int_equal(sb_metrics_status_slot(-1), SB_METRICS_STATUS_SLOTS - 1);
}

static void test_empty_render(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_metrics_register(&m1);
    char *t = render(&b);
    EXPECT_LINE(t, "# TYPE switchboard_http_requests_total counter");
    EXPECT_LINE(t, "# TYPE switchboard_http_request_duration_seconds histogram");
    EXPECT_LINE(t, "# TYPE switchboard_http_connections_open gauge");
    EXPECT_LINE(t, "switchboard_http_connections_open 0");
    EXPECT_LINE(t, "switchboard_http_connections_refused_total 0");
    EXPECT_LINE(t, "switchboard_redis_errors_total 0");
    EXPECT_LINE(t, "switchboard_redis_up 0");
    EXPECT_LINE(t, "switchboard_redis_connections_ready 0");
    EXPECT_NO(t, "switchboard_http_requests_total{");
    EXPECT_NO(t, "switchboard_http_request_duration_seconds_bucket{");
    /* the delivery engine's series exist from the start, at zero */
    EXPECT_LINE(t, "switchboard_deliveries_total{outcome=\"success\"} 0");
    EXPECT_LINE(t, "switchboard_deliveries_total{outcome=\"dead\"} 0");
    EXPECT_LINE(t, "switchboard_delivery_queue_depth{lane=\"fresh\"} 0");
    EXPECT_LINE(t, "switchboard_delivery_queue_depth{lane=\"dead\"} 0");
    EXPECT_LINE(t, "switchboard_delivery_attempt_duration_seconds_count 0");
    /* every line ends with a newline (text format 0.0.4) */
    assert_int_equal(t[b.len - 1], '\n');
    sb_buf_free(&b);
}

static void test_observe_and_render(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_metrics_register(&m1);
    sb_metrics_observe(&m1, 0, 200, 50 * 1000ULL);          /* 50 us -> le 0.0001 */
    sb_metrics_observe(&m1, 0, 200, 3 * 1000 * 1000ULL);    /* 3 ms -> le 0.005 */
    sb_metrics_observe(&m1, 0, 404, 10ULL * 1000000000ULL); /* 10 s -> +Inf only */
    sb_metrics_observe(&m1, 1, 204, 100 * 1000ULL);         /* exactly 0.0001 s -> le 0.0001 */
    char *t = render(&b);

    EXPECT_LINE(t, "switchboard_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2");
    EXPECT_LINE(t, "switchboard_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"404\"} 1");
    EXPECT_LINE(t, "switchboard_http_requests_total{route=\"/api/admin/tenants/{tenantId}\",method=\"PUT\",status=\"204\"} 1");
    EXPECT_NO(t, "status=\"201\"");
    EXPECT_NO(t, "/never");

    /* cumulative buckets */
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"0.0001\"} 1");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"0.0025\"} 1");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"0.005\"} 2");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"2.5\"} 2");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_bucket{route=\"/healthz\",method=\"GET\",le=\"+Inf\"} 3");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_sum{route=\"/healthz\",method=\"GET\"} 10.003050");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"} 3");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_bucket{route=\"/api/admin/tenants/{tenantId}\",method=\"PUT\",le=\"0.0001\"} 1");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_count{route=\"/api/admin/tenants/{tenantId}\",method=\"PUT\"} 1");

    /* 13 bucket lines per observed route */
    size_t buckets = 0;
    for (const char *p = t; (p = strstr(p, "_bucket{route=\"/healthz\"")) != NULL; p++)
        buckets++;
    assert_int_equal(buckets, SB_METRICS_LAT_BUCKETS);
    sb_buf_free(&b);
}

static void test_other_status_and_unmatched(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_metrics_register(&m1);
    sb_metrics_observe(&m1, 0, 418, 1000);
    sb_metrics_observe(&m1, SB_METRICS_UNMATCHED, 404, 1000);
    sb_metrics_observe(&m1, 9999, 404, 1000); /* out of range: counted as unmatched */
    char *t = render(&b);
    EXPECT_LINE(t, "switchboard_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"other\"} 1");
    EXPECT_LINE(t, "switchboard_http_requests_total{route=\"unmatched\",method=\"ANY\",status=\"404\"} 2");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_count{route=\"unmatched\",method=\"ANY\"} 2");
    sb_buf_free(&b);
}

static void test_blocks_are_summed(void **state)
{
    (void)state;
    sb_buf_t b;
    sb_metrics_register(&m1);
    sb_metrics_register(&m2);
    sb_metrics_observe(&m1, 0, 200, 1000);
    sb_metrics_observe(&m2, 0, 200, 1000);
    sb_metrics_observe(&m2, 0, 200, 1000);
    sb_metrics_add(&m1.conns_open, 3);
    sb_metrics_add(&m2.conns_open, 2);
    sb_metrics_add(&m2.conns_open, -1);
    sb_metrics_add(&m1.conns_refused, 7);
    sb_metrics_add(&m2.redis_errors, 4);
    sb_metrics_add(&m1.redis_up, 1);
    sb_metrics_add(&m2.redis_up, 1);
    char *t = render(&b);
    EXPECT_LINE(t, "switchboard_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 3");
    EXPECT_LINE(t, "switchboard_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\"} 3");
    EXPECT_LINE(t, "switchboard_http_connections_open 4");
    EXPECT_LINE(t, "switchboard_http_connections_refused_total 7");
    EXPECT_LINE(t, "switchboard_redis_errors_total 4");
    /* every loop's Redis connection is ready: up is 1, and both are counted as ready */
    EXPECT_LINE(t, "switchboard_redis_up 1");
    EXPECT_LINE(t, "switchboard_redis_connections_ready 2");
    sb_buf_free(&b);

    /* one loop lost its connection: not up, one ready */
    sb_metrics_add(&m2.redis_up, -1);
    t = render(&b);
    EXPECT_LINE(t, "switchboard_redis_up 0");
    EXPECT_LINE(t, "switchboard_redis_connections_ready 1");
    sb_buf_free(&b);

    /* after a registry reset nothing is counted */
    sb_metrics_reset_registry();
    t = render(&b);
    EXPECT_NO(t, "switchboard_http_requests_total{");
    EXPECT_LINE(t, "switchboard_http_connections_open 0");
    EXPECT_LINE(t, "switchboard_redis_up 0"); /* no loop at all is not "up" */
    sb_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_slots),
        cmocka_unit_test_setup(test_empty_render, setup),
        cmocka_unit_test_setup(test_observe_and_render, setup),
        cmocka_unit_test_setup(test_other_status_and_unmatched, setup),
        cmocka_unit_test_setup(test_blocks_are_summed, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
