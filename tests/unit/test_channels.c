/* Unit tests for the request proofs of src/channels/inbound.c, against values computed
 * independently (Python's hmac): Slack's v0 signature with its time window, Meta's
 * X-Hub-Signature-256. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "switchboard/channels.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slack_signature),
        cmocka_unit_test(test_hub_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
