/* Unit tests for src/delivery/sign.c and the names of src/delivery/emit.c: the signature
 * headers against values computed independently (Python's hmac), secrets, event names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "switchboard/delivery.h"

#define SECRET "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX" /* bytes 0..23 */
#define BODY   "{\"event_type\":\"dialog_created\"}"

static void test_signature_headers(void **state)
{
    (void)state;
    sb_webhook_secret_t s = {SECRET, ""};
    sb_buf_t b;
    sb_buf_init(&b, 4096);
    sb_sign_headers(&s, "msg_1", 1700000000, BODY, strlen(BODY), &b);
    /* keyed by the secret string as shown, "whsec_" included (hmac.new(SECRET, BODY, sha256)) */
    assert_non_null(strstr(b.data, "X-Hub-Signature-256: "
                                   "sha256=b2fd0eba0c4135dfc4d081ef34c128c986865a5f82f5a36f46d2f3663a61fc34\r\n"));
    assert_non_null(strstr(b.data, "webhook-id: msg_1\r\n"));
    assert_non_null(strstr(b.data, "webhook-timestamp: 1700000000\r\n"));
    assert_non_null(strstr(b.data, "webhook-signature: v1,o7jHgUe0s4H7QtxlrOVypzsm4yacjmgAdEDTJ+nMQZo=\r\n"));
    sb_buf_free(&b);
}

static void test_rotated_secret_adds_a_second_signature(void **state)
{
    (void)state;
    char fresh[64];
    sb_webhook_secret_new(fresh);
    sb_webhook_secret_t s;
    snprintf(s.current, sizeof(s.current), "%s", fresh);
    snprintf(s.previous, sizeof(s.previous), "%s", SECRET);
    sb_buf_t b;
    sb_buf_init(&b, 4096);
    sb_sign_headers(&s, "msg_1", 1700000000, BODY, strlen(BODY), &b);
    const char *sig = strstr(b.data, "webhook-signature: ");
    assert_non_null(sig);
    /* the new secret's signature first, then the old one's */
    const char *old = strstr(sig, " v1,o7jHgUe0s4H7QtxlrOVypzsm4yacjmgAdEDTJ+nMQZo=\r\n");
    assert_non_null(old);
    assert_true(strncmp(sig + strlen("webhook-signature: "), "v1,", 3) == 0);
    sb_buf_free(&b);
}

static void test_secret_format(void **state)
{
    (void)state;
    char a[64], b[64];
    unsigned char key[64];
    sb_webhook_secret_new(a);
    sb_webhook_secret_new(b);
    assert_true(strncmp(a, "whsec_", 6) == 0);
    assert_string_not_equal(a, b);
    assert_int_equal(sb_webhook_key(a, key, sizeof(key)), 24);
    assert_int_equal(sb_webhook_key("nope", key, sizeof(key)), -EINVAL);
    char k1[32];
    sb_webhook_api_key_new(k1);
    assert_int_equal(strlen(k1), 20);
}

static void test_event_and_command_names(void **state)
{
    (void)state;
    assert_true(sb_event_known("dialog_created"));
    assert_true(sb_event_known("memnuniyet_puan"));
    assert_false(sb_event_known("dialog_exploded"));
    assert_false(sb_event_known(""));
    assert_true(sb_command_name_valid("/mark"));
    assert_true(sb_command_name_valid("/invoice_2"));
    assert_false(sb_command_name_valid("mark"));
    assert_false(sb_command_name_valid("/"));
    assert_false(sb_command_name_valid("/Mark"));
    assert_false(sb_command_name_valid("/a-b"));
    assert_false(sb_command_name_valid("/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 33 letters */
    char ep[17];
    sb_endpoint_id("https://example.com/hook", ep);
    assert_string_equal(ep, "19f1352238b91533"); /* first 16 hex of SHA-256(url) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_headers),
        cmocka_unit_test(test_rotated_secret_adds_a_second_signature),
        cmocka_unit_test(test_secret_format),
        cmocka_unit_test(test_event_and_command_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
