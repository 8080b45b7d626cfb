/* Unit tests for what the platforms share in src/channels/: the request proofs against values
 * computed independently (Python's hmac): Slack's v0 signature with its time window
 * (slack.c), Meta's X-Hub-Signature-256 (whatsapp.c); shared-secret tokens (inbound.c); the
 * table of platforms (platform.c); the send façades (outbound.c) for what no platform
 * answers; the Bot Framework token cache. Each platform's own tests: test_<platform>.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/channels.h"
#include "switchboard/platform.h"

#define SLACK_SECRET "8f742231b10e8888abcd99yyyzzz85a5"
#define SLACK_BODY   "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J"
#define SLACK_TS     "1531420618"
#define SLACK_SIG    "v0=bca5eef5dd737ed259b428b18cd24f679baa18c3fc5f1cb2a6ac9f03e717969a"

static int slack(const char *secret, const char *sig, const char *ts, const char *body, int64_t now)
{
    return sb_slack_signature_ok(secret, sig, sig ? strlen(sig) : 0, ts, ts ? strlen(ts) : 0, body, strlen(body), now);
}

static void test_slack_signature(void **state)
{
    (void)state;
    int64_t t = 1531420618;
    assert_int_equal(slack(SLACK_SECRET, SLACK_SIG, SLACK_TS, SLACK_BODY, t), 0);
    /* within +-300 s, not beyond */
    assert_int_equal(slack(SLACK_SECRET, SLACK_SIG, SLACK_TS, SLACK_BODY, t + 300), 0);
    assert_int_equal(slack(SLACK_SECRET, SLACK_SIG, SLACK_TS, SLACK_BODY, t - 300), 0);
    assert_int_equal(slack(SLACK_SECRET, SLACK_SIG, SLACK_TS, SLACK_BODY, t + 301), -EPERM);
    assert_int_equal(slack(SLACK_SECRET, SLACK_SIG, SLACK_TS, SLACK_BODY, t - 301), -EPERM);
    /* any change of secret, body, timestamp or signature */
    assert_int_equal(slack("other", SLACK_SIG, SLACK_TS, SLACK_BODY, t), -EPERM);
    assert_int_equal(slack(SLACK_SECRET, SLACK_SIG, SLACK_TS, SLACK_BODY "x", t), -EPERM);
    assert_int_equal(slack(SLACK_SECRET, SLACK_SIG, "1531420619", SLACK_BODY, t), -EPERM);
    char sig[] = SLACK_SIG;
    sig[10] = sig[10] == 'a' ? 'b' : 'a';
    assert_int_equal(slack(SLACK_SECRET, sig, SLACK_TS, SLACK_BODY, t), -EPERM);
    /* malformed: other scheme, short, no timestamp, no secret, non-numeric timestamp */
    assert_int_equal(slack(SLACK_SECRET, "v1=bca5eef5dd737ed259b428b18cd24f679baa18c3fc5f1cb2a6ac9f03e717969a",
                           SLACK_TS, SLACK_BODY, t),
                     -EPERM);
    assert_int_equal(slack(SLACK_SECRET, "v0=bca5", SLACK_TS, SLACK_BODY, t), -EPERM);
    assert_int_equal(slack(SLACK_SECRET, SLACK_SIG, NULL, SLACK_BODY, t), -EPERM);
    assert_int_equal(slack(NULL, SLACK_SIG, SLACK_TS, SLACK_BODY, t), -EPERM);
    assert_int_equal(slack(SLACK_SECRET, SLACK_SIG, "15314206x8", SLACK_BODY, t), -EPERM);
    assert_int_equal(slack(SLACK_SECRET, NULL, SLACK_TS, SLACK_BODY, t), -EPERM);
}

static void test_hub_signature(void **state)
{
    (void)state;
    const char *body = "{\"object\":\"whatsapp_business_account\"}";
    const char *sig = "sha256=f6491327cb5b041cdf4fe69b94711c7b68bb0aef719854bae676a59788a2b6b6";
    assert_int_equal(sb_hub_signature_ok("appsecret", sig, strlen(sig), body, strlen(body)), 0);
    assert_int_equal(sb_hub_signature_ok("appsecreT", sig, strlen(sig), body, strlen(body)), -EPERM);
    assert_int_equal(sb_hub_signature_ok("appsecret", sig, strlen(sig), body, strlen(body) - 1), -EPERM);
    assert_int_equal(sb_hub_signature_ok("appsecret", sig + 7, strlen(sig) - 7, body, strlen(body)), -EPERM);
    assert_int_equal(sb_hub_signature_ok(NULL, sig, strlen(sig), body, strlen(body)), -EPERM);
    assert_int_equal(sb_hub_signature_ok("appsecret", NULL, 0, body, strlen(body)), -EPERM);
}

static void test_token_equal(void **state)
{
    (void)state;
    assert_true(sb_token_equal("s3cret", "s3cret"));
    assert_false(sb_token_equal("s3cret", "s3cre"));
    assert_false(sb_token_equal("s3cret", "s3cret "));
    assert_false(sb_token_equal("s3cret", ""));
    assert_false(sb_token_equal(NULL, "s3cret")); /* no secret matches nothing */
    assert_false(sb_token_equal("s3cret", NULL));
    assert_false(sb_token_equal(NULL, NULL));
}

/* Every platform fills the whole table; types are found by name, nothing else is. */
static void test_table(void **state)
{
    (void)state;
    static const char *const types[] = {"apichat", "slack", "teams", "telegram", "whatsapp"};
    size_t i = 0;
    for (const sb_platform_t *p; (p = sb_platform_at(i)) != NULL; i++) {
        assert_true(i < sizeof(types) / sizeof(types[0]));
        assert_string_equal(p->type, types[i]);
        assert_ptr_equal(sb_platform_find(types[i]), p);
        assert_true(p->claim_ttl_s >= 86400);
        assert_non_null(p->parse);
        assert_non_null(p->verify);
        assert_non_null(p->send_build);
        assert_non_null(p->send_result);
        assert_non_null(p->secrets);
        assert_non_null(p->config_check);
        assert_non_null(p->binding_fields);
    }
    assert_int_equal(i, 5);
    assert_null(sb_platform_find("Slack"));
    /* one apichat channel per workspace, found by its tenant */
    cJSON *cfg = cJSON_CreateObject(), *fields = cJSON_CreateArray();
    sb_platform_find("apichat")->binding_fields(cfg, "0f8a5b1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b", fields);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(fields, 0)),
                        "apichat:0f8a5b1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b");
    cJSON_Delete(fields);
    cJSON_Delete(cfg);
    assert_non_null(sb_platform_find("apichat")->send_sign);
    assert_null(sb_platform_find(""));
    assert_null(sb_platform_find(NULL));
    /* only WhatsApp has a subscription check of its own; Meta keeps event ids 7 days */
    assert_non_null(sb_platform_find("whatsapp")->parse_handshake);
    assert_null(sb_platform_find("slack")->parse_handshake);
    assert_int_equal(sb_platform_find("whatsapp")->claim_ttl_s, 604800);
}

static void test_send_facades(void **state)
{
    (void)state;
    sb_config_t cfg = {0};
    sb_send_t s = {.platform = "sms", .chat = "c", .text = "t"};
    sb_send_req_t r;
    char err[128] = "", pmid[32];
    assert_int_equal(sb_send_build(&cfg, &s, NULL, NULL, &r, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "no send API for channel type sms");
    assert_null(r.url);
    /* a verdict of no known platform: accepted, its id read from "id" */
    const char *ok = "{\"id\":77}";
    assert_int_equal(sb_send_result("sms", ok, strlen(ok), pmid, sizeof(pmid), err, sizeof(err)), SB_SEND_ACCEPTED);
    assert_string_equal(pmid, "77");
}

static void test_token_cache(void **state)
{
    (void)state;
    char tok[64];
    assert_false(sb_send_token_get("app-1", tok, sizeof(tok)));
    const char *answer = "{\"access_token\":\"eyJ0\",\"expires_in\":3599}";
    assert_int_equal(sb_send_token_put("app-1", answer, strlen(answer)), 0);
    assert_true(sb_send_token_get("app-1", tok, sizeof(tok)));
    assert_string_equal(tok, "eyJ0");
    assert_false(sb_send_token_get("app-2", tok, sizeof(tok)));
    assert_false(sb_send_token_get("app-1", tok, 4)); /* does not fit */
    sb_send_token_forget("app-1");
    assert_false(sb_send_token_get("app-1", tok, sizeof(tok)));
    const char *none = "{\"error\":\"invalid_client\"}";
    assert_int_equal(sb_send_token_put("app-1", none, strlen(none)), -EINVAL);
    const char *split = "{\"access_token\":\"a\\r\\nX-Evil: 1\"}";
    assert_int_equal(sb_send_token_put("app-1", split, strlen(split)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slack_signature), cmocka_unit_test(test_hub_signature),
        cmocka_unit_test(test_token_equal),     cmocka_unit_test(test_table),
        cmocka_unit_test(test_send_facades),    cmocka_unit_test(test_token_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
