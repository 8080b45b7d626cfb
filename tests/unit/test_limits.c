/* Unit tests for src/channels/limits.c (docs/channels.md "Platform send limits"): the platforms'
 * default rates and the table pace_tick takes, a binding's "sendLimits" through each platform's
 * config_check (merged, replaced, cleared, refused with the field named), and each platform's
 * "too many requests" in a send's answer: whose line waits, and for how long. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "switchboard/platform.h"

/* ---------- defaults ---------- */

static void test_defaults(void **state)
{
    (void)state;
    const sb_send_limits_t *l = sb_send_limits_default("telegram");
    assert_true(l->per_chat == 1 && l->per_account == 30);
    assert_true(l->per_group > 0.33 && l->per_group < 0.34); /* 20 a minute */
    l = sb_send_limits_default("slack");
    assert_true(l->per_chat == 1 && l->per_account == 5 && l->per_group == 0);
    l = sb_send_limits_default("teams");
    assert_true(l->per_chat == 2 && l->per_account == 50);
    l = sb_send_limits_default("whatsapp");
    assert_true(l->per_chat == 1 && l->per_account == 80);
    l = sb_send_limits_default("carrier-pigeon");
    assert_true(l->per_chat == 1 && l->per_account == 10);
    l = sb_send_limits_default(NULL);
    assert_true(l->per_chat == 1);
}

static void test_table_for_the_script(void **state)
{
    (void)state;
    char out[256];
    int n = sb_send_limits_format(out, sizeof(out));
    assert_string_equal(out, "slack:1:0:5 teams:2:0:50 telegram:1:0.333333:30 whatsapp:1:0:80");
    assert_int_equal(n, (int)strlen(out));
    char small[20];
    assert_int_equal(sb_send_limits_format(small, sizeof(small)), -E2BIG);
}

/* ---------- the binding's override ---------- */

static int check(const char *type, const char *json, cJSON *cfg, sb_verr_t *e)
{
    cJSON *in = cJSON_Parse(json);
    assert_non_null(in);
    int rc = sb_platform_find(type)->config_check(cfg, in, e);
    cJSON_Delete(in);
    return rc;
}

static double rate(const cJSON *cfg, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "sendLimits"), name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_override_merged_replaced_cleared(void **state)
{
    (void)state;
    sb_verr_t e;
    cJSON *cfg = cJSON_CreateObject();
    assert_int_equal(check("telegram",
                           "{\"botId\":\"7001\",\"botToken\":\"7001:A\",\"sendLimits\":{\"perChatPerSecond\":0.5,"
                           "\"perAccountPerSecond\":2}}",
                           cfg, &e),
                     0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "botId")), "7001");
    assert_true(rate(cfg, "perChatPerSecond") == 0.5 && rate(cfg, "perAccountPerSecond") == 2);
    /* an update without sendLimits keeps it */
    assert_int_equal(check("telegram", "{\"botToken\":\"7001:B\"}", cfg, &e), 0);
    assert_true(rate(cfg, "perAccountPerSecond") == 2);
    /* a new one replaces it whole */
    assert_int_equal(check("telegram", "{\"sendLimits\":{\"perAccountPerSecond\":10}}", cfg, &e), 0);
    assert_true(rate(cfg, "perChatPerSecond") == -1 && rate(cfg, "perAccountPerSecond") == 10);
    /* null, or an empty object, clears it */
    assert_int_equal(check("telegram", "{\"sendLimits\":null}", cfg, &e), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(cfg, "sendLimits"));
    assert_int_equal(check("telegram", "{\"sendLimits\":{}}", cfg, &e), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(cfg, "sendLimits"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "botToken")), "7001:B");
    cJSON_Delete(cfg);
}

static void test_override_every_platform(void **state)
{
    (void)state;
    static const char *const configs[][2] = {
        {"slack", "{\"teamId\":\"T1\",\"botToken\":\"x\",\"sendLimits\":{\"perChatPerSecond\":1}}"},
        {"teams", "{\"appId\":\"a1\",\"appPassword\":\"p\",\"sendLimits\":{\"perChatPerSecond\":1}}"},
        {"telegram", "{\"botId\":\"7001\",\"sendLimits\":{\"perChatPerSecond\":1}}"},
        {"whatsapp", "{\"phoneNumberId\":\"1065\",\"sendLimits\":{\"perChatPerSecond\":1}}"},
    };
    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
        sb_verr_t e;
        cJSON *cfg = cJSON_CreateObject();
        assert_int_equal(check(configs[i][0], configs[i][1], cfg, &e), 0);
        assert_true(rate(cfg, "perChatPerSecond") == 1);
        cJSON_Delete(cfg);
        cfg = cJSON_CreateObject();
        assert_int_equal(check(configs[i][0], "{\"sendLimits\":{\"perChatPerSecond\":0}}", cfg, &e), -EINVAL);
        assert_string_equal(e.field, "config.sendLimits.perChatPerSecond");
        cJSON_Delete(cfg);
    }
}

static void test_override_refused(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"{\"botId\":\"1\",\"sendLimits\":{\"perChatPerSecond\":\"fast\"}}", "config.sendLimits.perChatPerSecond"},
        {"{\"botId\":\"1\",\"sendLimits\":{\"perChatPerSecond\":-1}}", "config.sendLimits.perChatPerSecond"},
        {"{\"botId\":\"1\",\"sendLimits\":{\"perChatPerSecond\":0.001}}", "config.sendLimits.perChatPerSecond"},
        {"{\"botId\":\"1\",\"sendLimits\":{\"perAccountPerSecond\":1001}}", "config.sendLimits.perAccountPerSecond"},
        {"{\"botId\":\"1\",\"sendLimits\":{\"perAccountPerSecond\":true}}", "config.sendLimits.perAccountPerSecond"},
        {"{\"botId\":\"1\",\"sendLimits\":{\"perAccountPerSecond\":null}}", "config.sendLimits.perAccountPerSecond"},
        {"{\"botId\":\"1\",\"sendLimits\":{\"burst\":3}}", "config.sendLimits.burst"},
        {"{\"botId\":\"1\",\"sendLimits\":5}", "config.sendLimits"},
        {"{\"botId\":\"1\",\"sendLimits\":[1]}", "config.sendLimits"},
        /* the schema's own errors still come through */
        {"{\"botId\":7,\"sendLimits\":{\"perChatPerSecond\":1}}", "config.botId"},
        {"{\"sendLimits\":{\"perChatPerSecond\":1}}", "config.botId"},
        {"{\"botId\":\"1\",\"color\":\"red\",\"sendLimits\":{}}", "config.color"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_verr_t e;
        cJSON *cfg = cJSON_CreateObject();
        assert_int_equal(check("telegram", bad[i][0], cfg, &e), -EINVAL);
        assert_string_equal(e.field, bad[i][1]);
        assert_non_null(strstr(e.detail, bad[i][1]));
        cJSON_Delete(cfg);
    }
    sb_verr_t e;
    cJSON *cfg = cJSON_CreateObject();
    assert_int_equal(check("telegram", "[1]", cfg, &e), -EINVAL); /* not an object: the schema says so */
    assert_string_equal(e.field, "config");
    cJSON_Delete(cfg);
}

/* ---------- "too many requests" ---------- */

static bool limited(const char *platform, int status, long header_s, const char *body, sb_rate_limit_t *rl)
{
    return sb_send_rate_limited(platform, status, header_s, body, body ? strlen(body) : 0, rl);
}

static void test_telegram_answers(void **state)
{
    (void)state;
    sb_rate_limit_t rl;
    const char *flood = "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 7\","
                        "\"parameters\":{\"retry_after\":7}}";
    assert_true(limited("telegram", 429, -1, flood, &rl));
    assert_int_equal(rl.scope, SB_LIMIT_CHAT);
    assert_int_equal(rl.retry_after_s, 7);
    assert_string_equal(rl.why, "telegram: 429 Too Many Requests");
    /* the body's figure wins over a header; without either, a second */
    assert_true(limited("telegram", 429, 30, flood, &rl));
    assert_int_equal(rl.retry_after_s, 7);
    assert_true(limited("telegram", 429, 3, "{\"ok\":false,\"error_code\":429}", &rl));
    assert_int_equal(rl.retry_after_s, 3);
    assert_true(limited("telegram", 429, -1, "not json", &rl));
    assert_int_equal(rl.retry_after_s, 1);
    /* other refusals are not rate limits */
    assert_false(
        limited("telegram", 400, -1, "{\"ok\":false,\"error_code\":400,\"description\":\"chat not found\"}", &rl));
    assert_false(limited("telegram", 200, -1, "{\"ok\":true,\"result\":{}}", &rl));
    assert_false(limited("telegram", 503, 5, "down", &rl));
}

static void test_slack_answers(void **state)
{
    (void)state;
    sb_rate_limit_t rl;
    assert_true(limited("slack", 429, 4, "{\"ok\":false,\"error\":\"ratelimited\"}", &rl));
    assert_int_equal(rl.scope, SB_LIMIT_CHAT);
    assert_int_equal(rl.retry_after_s, 4);
    assert_true(limited("slack", 200, -1, "{\"ok\":false,\"error\":\"ratelimited\"}", &rl));
    assert_int_equal(rl.retry_after_s, 1);
    assert_string_equal(rl.why, "slack: ratelimited (HTTP 200)");
    assert_true(limited("slack", 200, -1, "{\"ok\":false,\"error\":\"rate_limited\"}", &rl));
    assert_false(limited("slack", 200, -1, "{\"ok\":false,\"error\":\"channel_not_found\"}", &rl));
    assert_false(limited("slack", 200, -1, "{\"ok\":true,\"ts\":\"1.2\",\"text\":\"rate\"}", &rl));
    assert_false(limited("slack", 500, 2, "{\"ok\":false,\"error\":\"ratelimited\"}", &rl)); /* a 5xx is a 5xx */
}

static void test_whatsapp_answers(void **state)
{
    (void)state;
    sb_rate_limit_t rl;
    assert_true(limited("whatsapp", 400, -1,
                        "{\"error\":{\"message\":\"(#130429) Rate limit hit\",\"type\":\"OAuthException\","
                        "\"code\":130429,\"fbtrace_id\":\"A\"}}",
                        &rl));
    assert_int_equal(rl.scope, SB_LIMIT_ACCOUNT);
    assert_int_equal(rl.retry_after_s, 1);
    assert_string_equal(rl.why, "whatsapp: 130429 throughput limit reached");
    assert_true(limited("whatsapp", 429, -1, "{\"error\":{\"code\":131056}}", &rl));
    assert_int_equal(rl.scope, SB_LIMIT_CHAT);
    assert_int_equal(rl.retry_after_s, 6);
    assert_true(limited("whatsapp", 400, 9, "{\"error\":{\"code\":\"131056\"}}", &rl)); /* quoted, with a header */
    assert_int_equal(rl.retry_after_s, 9);
    assert_true(limited("whatsapp", 400, -1, "{\"error\":{\"code\":80007}}", &rl));
    assert_int_equal(rl.scope, SB_LIMIT_ACCOUNT);
    assert_int_equal(rl.retry_after_s, 60);
    assert_true(limited("whatsapp", 429, 2, "busy", &rl));
    assert_int_equal(rl.scope, SB_LIMIT_CHAT);
    assert_int_equal(rl.retry_after_s, 2);
    assert_false(limited("whatsapp", 400, -1, "{\"error\":{\"code\":131026}}", &rl)); /* undeliverable */
    assert_false(limited("whatsapp", 401, -1, "{\"error\":{\"code\":190}}", &rl));
    assert_false(limited("whatsapp", 200, -1, "{\"messages\":[{\"id\":\"wamid.X\"}]}", &rl));
}

static void test_teams_and_others(void **state)
{
    (void)state;
    sb_rate_limit_t rl;
    assert_true(limited("teams", 429, 3, "", &rl));
    assert_int_equal(rl.scope, SB_LIMIT_CHAT);
    assert_int_equal(rl.retry_after_s, 3);
    assert_true(limited("teams", 429, -1, NULL, &rl));
    assert_int_equal(rl.retry_after_s, 1);
    assert_false(limited("teams", 412, -1, "", &rl));
    assert_false(limited("teams", 201, -1, "{\"id\":\"1\"}", &rl));
    assert_true(limited(NULL, 429, 5, NULL, &rl));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_table_for_the_script),
        cmocka_unit_test(test_override_merged_replaced_cleared),
        cmocka_unit_test(test_override_every_platform),
        cmocka_unit_test(test_override_refused),
        cmocka_unit_test(test_telegram_answers),
        cmocka_unit_test(test_slack_answers),
        cmocka_unit_test(test_whatsapp_answers),
        cmocka_unit_test(test_teams_and_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
