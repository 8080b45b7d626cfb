/* Unit tests for src/delivery/outcome.c: SPEC 8's outcomes of webhook attempts, platform sends
 * and Bot Framework token requests (docs/deliveries.md "Outcomes and retries", docs/channels.md
 * "Verdicts"), rate-limit waits of sends (docs/channels.md "Platform send limits"), the retry
 * schedule with its jitter and Retry-After bounds, and the pacing gap. The jitter is a fixed
 * source, so every delay is exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "switchboard/outcome.h"

/* --retry-schedule's default (seconds) */
static const unsigned SCHEDULE[] = {0, 5, 300, 1800, 7200, 18000, 36000, 36000};
#define STEPS 8

typedef struct fixed_jitter {
    uint32_t value;
    unsigned calls;
} fixed_jitter_t;

static uint32_t fixed(void *data)
{
    fixed_jitter_t *j = data;
    j->calls++;
    return j->value;
}

static fixed_jitter_t jit;
static sb_retry_schedule_t sched = {SCHEDULE, STEPS, fixed, &jit};

static int reset(void **state)
{
    (void)state;
    jit.value = UINT32_MAX / 2 + 1; /* the middle: no jitter to speak of */
    jit.calls = 0;
    return 0;
}

static sb_attempt_result_t http(sb_attempt_kind_t kind, int status)
{
    return (sb_attempt_result_t){.kind = kind, .status = status, .retry_after_s = -1, .answer = SB_ANSWER_ACCEPTED};
}

static sb_outcome_t decide(const sb_attempt_result_t *r)
{
    sb_outcome_t o;
    sb_outcome_decide(r, &sched, &o);
    return o;
}

/* ---------- webhooks ---------- */

static void test_2xx_is_success(void **state)
{
    (void)state;
    for (int s = 200; s < 300; s += 33) {
        sb_attempt_result_t r = http(SB_ATTEMPT_WEBHOOK, s);
        sb_outcome_t o = decide(&r);
        assert_int_equal(o.verdict, SB_VERDICT_SUCCESS);
        assert_string_equal(o.error, "");
    }
    sb_attempt_result_t r = http(SB_ATTEMPT_WEBHOOK, 299);
    assert_int_equal(decide(&r).verdict, SB_VERDICT_SUCCESS);
    assert_int_equal(jit.calls, 0); /* the jitter is drawn only for a retry */
}

static void test_3xx_is_a_failure_not_followed_and_retried(void **state)
{
    (void)state;
    int statuses[] = {301, 302, 307, 308, 399};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        sb_attempt_result_t r = http(SB_ATTEMPT_WEBHOOK, statuses[i]);
        sb_outcome_t o = decide(&r);
        assert_int_equal(o.verdict, SB_VERDICT_RETRY);
        char want[64];
        snprintf(want, sizeof(want), "HTTP %d (redirects are not followed)", statuses[i]);
        assert_string_equal(o.error, want);
    }
}

static void test_5xx_429_and_1xx_are_retried(void **state)
{
    (void)state;
    int statuses[] = {500, 502, 503, 599, 429, 100, 199};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        sb_attempt_result_t r = http(SB_ATTEMPT_WEBHOOK, statuses[i]);
        sb_outcome_t o = decide(&r);
        assert_int_equal(o.verdict, SB_VERDICT_RETRY);
        char want[32];
        snprintf(want, sizeof(want), "HTTP %d", statuses[i]);
        assert_string_equal(o.error, want);
    }
}

static void test_network_errors_and_timeouts_are_retried(void **state)
{
    (void)state;
    int errors[] = {SB_CLIENT_ERR_TIMEOUT,  SB_CLIENT_ERR_CONNECT, SB_CLIENT_ERR_DNS, SB_CLIENT_ERR_TLS,
                    SB_CLIENT_ERR_PROTOCOL, SB_CLIENT_ERR_BLOCKED, SB_CLIENT_ERR_URL};
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        sb_attempt_result_t r = {.kind = SB_ATTEMPT_WEBHOOK,
                                 .error = errors[i],
                                 .error_text = "timed out after 3000 ms",
                                 .status = 0,
                                 .retry_after_s = -1};
        sb_outcome_t o = decide(&r);
        assert_int_equal(o.verdict, SB_VERDICT_RETRY);
        assert_string_equal(o.error, "timed out after 3000 ms"); /* the client's own words */
    }
}

static void test_other_4xx_are_final(void **state)
{
    (void)state;
    int statuses[] = {400, 401, 403, 404, 405, 409, 413, 422, 451, 499};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        sb_attempt_result_t r = http(SB_ATTEMPT_WEBHOOK, statuses[i]);
        r.retry_after_s = 10; /* a Retry-After does not make a 403 retried */
        sb_outcome_t o = decide(&r);
        assert_int_equal(o.verdict, SB_VERDICT_FINAL);
        char want[32];
        snprintf(want, sizeof(want), "HTTP %d (final)", statuses[i]);
        assert_string_equal(o.error, want);
    }
    assert_int_equal(jit.calls, 0);
}

static void test_410_disables_the_endpoint(void **state)
{
    (void)state;
    sb_attempt_result_t r = http(SB_ATTEMPT_WEBHOOK, 410);
    sb_outcome_t o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_GONE);
    assert_string_equal(o.error, "410 Gone: endpoint disabled");
}

/* ---------- the schedule ---------- */

static void test_schedule_steps_with_jitter(void **state)
{
    (void)state;
    /* attempt n failed: the delay is step n + 1 of the schedule, x [0.8, 1.2] */
    for (int n = 0; n + 1 < STEPS; n++) {
        sb_attempt_result_t r = http(SB_ATTEMPT_WEBHOOK, 503);
        r.attempt = n;
        uint64_t base = SCHEDULE[n + 1] * 1000ull;
        jit.value = 0;
        sb_outcome_t lo = decide(&r);
        assert_int_equal(lo.verdict, SB_VERDICT_RETRY);
        assert_int_equal(lo.delay_ms, base * 8 / 10);
        jit.value = UINT32_MAX;
        sb_outcome_t hi = decide(&r);
        assert_int_equal(hi.delay_ms, base * 12 / 10);
        jit.value = UINT32_MAX / 4;
        sb_outcome_t q = decide(&r);
        assert_true(q.delay_ms >= base * 89 / 100 && q.delay_ms <= base * 91 / 100);
    }
}

static void test_last_step_dead_letters(void **state)
{
    (void)state;
    sb_attempt_result_t r = http(SB_ATTEMPT_WEBHOOK, 500);
    r.attempt = STEPS - 1;
    sb_outcome_t o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_EXHAUSTED);
    assert_string_equal(o.error, "HTTP 500"); /* a webhook's dead letter names the last failure */
    assert_int_equal(jit.calls, 0);
    r.attempt = STEPS - 2;
    assert_int_equal(decide(&r).verdict, SB_VERDICT_RETRY);

    /* a one-step schedule: the first failure is the last */
    sb_retry_schedule_t one = {SCHEDULE, 1, fixed, &jit};
    r.attempt = 0;
    sb_outcome_t x;
    sb_outcome_decide(&r, &one, &x);
    assert_int_equal(x.verdict, SB_VERDICT_EXHAUSTED);
}

static void test_retry_after_is_honoured_within_bounds(void **state)
{
    (void)state;
    jit.value = 0;
    sb_attempt_result_t r = http(SB_ATTEMPT_WEBHOOK, 429);
    r.attempt = 0; /* next step: 5 s, 4 s with this jitter */
    r.retry_after_s = 120;
    assert_int_equal(decide(&r).delay_ms, 120000);
    r.retry_after_s = 2; /* shorter than the schedule: the schedule wins */
    assert_int_equal(decide(&r).delay_ms, 4000);
    r.retry_after_s = 999999; /* at most 1 h */
    assert_int_equal(decide(&r).delay_ms, 3600000);
    r.retry_after_s = 0; /* at least 1 s */
    sb_retry_schedule_t zero = {(const unsigned[]){0, 0}, 2, fixed, &jit};
    sb_outcome_t o;
    sb_outcome_decide(&r, &zero, &o);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_int_equal(o.delay_ms, 1000);
    r.retry_after_s = -1; /* none */
    sb_outcome_decide(&r, &zero, &o);
    assert_int_equal(o.delay_ms, 0);
    /* 5xx too */
    r = http(SB_ATTEMPT_WEBHOOK, 503);
    r.retry_after_s = 60;
    assert_int_equal(decide(&r).delay_ms, 60000);
    /* a Retry-After does not extend the schedule */
    r.attempt = STEPS - 1;
    assert_int_equal(decide(&r).verdict, SB_VERDICT_EXHAUSTED);
}

static void test_retry_next_alone(void **state)
{
    (void)state;
    uint64_t delay = 7;
    jit.value = 0;
    assert_true(sb_retry_next(&sched, 1, -1, &delay));
    assert_int_equal(delay, 240000); /* 300 s x 0.8 */
    assert_false(sb_retry_next(&sched, STEPS - 1, -1, &delay));
    assert_false(sb_retry_next(&sched, -2, -1, &delay));
}

/* ---------- platform sends ---------- */

static void test_send_verdicts_in_a_2xx(void **state)
{
    (void)state;
    sb_attempt_result_t r = http(SB_ATTEMPT_SEND, 200);
    assert_int_equal(decide(&r).verdict, SB_VERDICT_SUCCESS);
    r.answer = SB_ANSWER_REFUSED; /* Slack's "ok":false */
    r.answer_error = "slack: channel_not_found";
    sb_outcome_t o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_FINAL);
    assert_string_equal(o.error, "slack: channel_not_found");
    r.answer = SB_ANSWER_RETRY; /* ratelimited */
    r.answer_error = "slack: ratelimited";
    o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_string_equal(o.error, "slack: ratelimited");
}

static void test_send_statuses(void **state)
{
    (void)state;
    struct {
        int status;
        bool oauth;
        sb_verdict_t verdict;
        const char *error;
    } cases[] = {
        {500, false, SB_VERDICT_RETRY, "HTTP 500"},         {429, false, SB_VERDICT_RETRY, "HTTP 429"},
        {302, false, SB_VERDICT_RETRY, "HTTP 302"},         {101, false, SB_VERDICT_RETRY, "HTTP 101"},
        {401, true, SB_VERDICT_RETRY, "HTTP 401"}, /* the Bot Framework token ran out */
        {401, false, SB_VERDICT_FINAL, "HTTP 401 (final)"}, {403, true, SB_VERDICT_FINAL, "HTTP 403 (final)"},
        {404, false, SB_VERDICT_FINAL, "HTTP 404 (final)"}, {410, false, SB_VERDICT_FINAL, "HTTP 410 (final)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sb_attempt_result_t r = http(SB_ATTEMPT_SEND, cases[i].status);
        r.oauth = cases[i].oauth;
        sb_outcome_t o = decide(&r);
        assert_int_equal(o.verdict, cases[i].verdict);
        assert_string_equal(o.error, cases[i].error);
    }
    sb_attempt_result_t r = {
        .kind = SB_ATTEMPT_SEND, .error = SB_CLIENT_ERR_CONNECT, .error_text = "refused", .retry_after_s = -1};
    sb_outcome_t o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_string_equal(o.error, "refused");
}

static void test_send_exhausted_says_so(void **state)
{
    (void)state;
    sb_attempt_result_t r = http(SB_ATTEMPT_SEND, 503);
    r.attempt = STEPS - 1;
    sb_outcome_t o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_EXHAUSTED);
    assert_string_equal(o.error, "retries exhausted, last: HTTP 503");

    /* a long reason is cut to the record's size, as before */
    char longer[300];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    r = http(SB_ATTEMPT_SEND, 200);
    r.answer = SB_ANSWER_RETRY;
    r.answer_error = longer;
    r.attempt = STEPS - 1;
    o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_EXHAUSTED);
    assert_int_equal(strlen(o.error), SB_OUTCOME_ERROR_MAX - 1);
    assert_memory_equal(o.error, "retries exhausted, last: xxx", 28);
}

/* A send refused for the platform's rate waits what the platform asked (within [1 s, 1 h]), with no
 * jitter, and is no step of the schedule: not even on its last step. */
static void test_send_rate_limit_waits_without_a_step(void **state)
{
    (void)state;
    sb_attempt_result_t r = http(SB_ATTEMPT_SEND, 429);
    r.rate_limited = true;
    r.retry_after_s = 2;
    r.answer_error = "telegram: 429 Too Many Requests";
    r.attempt = STEPS - 1; /* a failure here would dead-letter */
    r.rate_limits = 3;
    sb_outcome_t o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_true(o.rate_limited);
    assert_int_equal(o.delay_ms, 2000);
    assert_int_equal(jit.calls, 0);
    assert_string_equal(o.error, "rate limited (telegram: 429 Too Many Requests), retry after 2 s");
    r.retry_after_s = 0; /* at least 1 s */
    assert_int_equal(decide(&r).delay_ms, 1000);
    r.retry_after_s = 86400; /* at most 1 h */
    assert_int_equal(decide(&r).delay_ms, 3600000);
    /* a WhatsApp 130429 in a 400 is the same */
    r = http(SB_ATTEMPT_SEND, 400);
    r.rate_limited = true;
    r.retry_after_s = 1;
    o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_true(o.rate_limited);
    assert_int_equal(o.delay_ms, 1000);
    /* not for webhooks: their 429 is a step like a 5xx */
    r = http(SB_ATTEMPT_WEBHOOK, 429);
    r.rate_limited = true;
    o = decide(&r);
    assert_false(o.rate_limited);
    assert_int_equal(o.delay_ms, 5000);
}

/* The waits do not count: a later failure takes the schedule's step after attempt - waits. */
static void test_send_rate_limit_waits_are_not_steps(void **state)
{
    (void)state;
    sb_attempt_result_t r = http(SB_ATTEMPT_SEND, 503);
    r.attempt = 5; /* attempts 1..5 were rate-limit waits but one */
    r.rate_limits = 4;
    sb_outcome_t o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_false(o.rate_limited);
    assert_int_equal(o.delay_ms, 300000); /* step 2, as after the second attempt */
    /* a replayed dead letter starts at attempt 0: its old waits cannot push the step below 0 */
    r.attempt = 0;
    r.rate_limits = 7;
    o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_int_equal(o.delay_ms, 5000);
}

/* After SB_RATE_LIMIT_RETRIES waits a rate limit is a failure: a step, with its Retry-After. */
static void test_send_rate_limit_waits_are_capped(void **state)
{
    (void)state;
    sb_attempt_result_t r = http(SB_ATTEMPT_SEND, 429);
    r.rate_limited = true;
    r.retry_after_s = 2;
    r.attempt = SB_RATE_LIMIT_RETRIES;
    r.rate_limits = SB_RATE_LIMIT_RETRIES;
    sb_outcome_t o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_false(o.rate_limited);
    assert_int_equal(o.delay_ms, 5000); /* step 1: the first counted failure */
    r.attempt = SB_RATE_LIMIT_RETRIES + STEPS - 1;
    o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_EXHAUSTED);
    assert_string_equal(o.error, "retries exhausted, last: rate limited (HTTP 429), retry after 2 s");
}

static void test_token_endpoint(void **state)
{
    (void)state;
    sb_attempt_result_t r = http(SB_ATTEMPT_TOKEN, 200);
    assert_int_equal(decide(&r).verdict, SB_VERDICT_SUCCESS);
    r.answer = SB_ANSWER_RETRY; /* a 200 without a token */
    sb_outcome_t o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_string_equal(o.error, "token endpoint: HTTP 200 without an access_token");
    r = http(SB_ATTEMPT_TOKEN, 401);
    o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_FINAL);
    assert_string_equal(o.error, "token endpoint: HTTP 401 (check appId and appPassword)");
    r = http(SB_ATTEMPT_TOKEN, 429);
    o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_string_equal(o.error, "token endpoint: HTTP 429");
    r = http(SB_ATTEMPT_TOKEN, 502);
    assert_string_equal(decide(&r).error, "token endpoint: HTTP 502");
    r = (sb_attempt_result_t){
        .kind = SB_ATTEMPT_TOKEN, .error = SB_CLIENT_ERR_TIMEOUT, .error_text = "timed out", .retry_after_s = -1};
    o = decide(&r);
    assert_int_equal(o.verdict, SB_VERDICT_RETRY);
    assert_string_equal(o.error, "token endpoint: timed out");
    r.attempt = STEPS - 1;
    assert_string_equal(decide(&r).error, "retries exhausted, last: token endpoint: timed out");
}

/* ---------- pacing ---------- */

static void test_pace_gap_bounds(void **state)
{
    (void)state;
    assert_int_equal(sb_pace_gap_ms(2000, 0), 1700);
    assert_int_equal(sb_pace_gap_ms(2000, UINT32_MAX), 2500);
    unsigned mid = sb_pace_gap_ms(2000, UINT32_MAX / 2);
    assert_true(mid >= 2099 && mid <= 2100); /* 1.05 x pace */
    assert_int_equal(sb_pace_gap_ms(0, UINT32_MAX), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_2xx_is_success, reset),
        cmocka_unit_test_setup(test_3xx_is_a_failure_not_followed_and_retried, reset),
        cmocka_unit_test_setup(test_5xx_429_and_1xx_are_retried, reset),
        cmocka_unit_test_setup(test_network_errors_and_timeouts_are_retried, reset),
        cmocka_unit_test_setup(test_other_4xx_are_final, reset),
        cmocka_unit_test_setup(test_410_disables_the_endpoint, reset),
        cmocka_unit_test_setup(test_schedule_steps_with_jitter, reset),
        cmocka_unit_test_setup(test_last_step_dead_letters, reset),
        cmocka_unit_test_setup(test_retry_after_is_honoured_within_bounds, reset),
        cmocka_unit_test_setup(test_retry_next_alone, reset),
        cmocka_unit_test_setup(test_send_verdicts_in_a_2xx, reset),
        cmocka_unit_test_setup(test_send_statuses, reset),
        cmocka_unit_test_setup(test_send_exhausted_says_so, reset),
        cmocka_unit_test_setup(test_send_rate_limit_waits_without_a_step, reset),
        cmocka_unit_test_setup(test_send_rate_limit_waits_are_not_steps, reset),
        cmocka_unit_test_setup(test_send_rate_limit_waits_are_capped, reset),
        cmocka_unit_test_setup(test_token_endpoint, reset),
        cmocka_unit_test_setup(test_pace_gap_bounds, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
