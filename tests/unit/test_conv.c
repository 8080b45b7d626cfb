/* Unit tests for src/conv/conv.c: the message pieces the conversation scripts splice together
 * must make valid JSON with every byte escaped once, and message bodies are validated with the
 * field named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/conv.h"
#include "switchboard/text.h"

static sb_config_t cfg;

/* What conv_append in src/store/lua/lib/conv.lua does with the pieces. */
static cJSON *assemble(const char *sender, const char *tail)
{
    char buf[16384];
    snprintf(buf, sizeof(buf), "{\"seq\":7,\"conversationId\":\"c\",\"sender\":%s,%s}", sender, tail);
    return cJSON_Parse(buf);
}

static void test_message_pieces_make_valid_json(void **state)
{
    (void)state;
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, &cfg);
    cJSON *cxj = cJSON_Parse(cx.json);
    assert_non_null(cxj);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cxj, "inst")), "node \"1\"");
    assert_int_equal(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(cxj, "eid"))), 32);
    assert_int_equal(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(cxj, "ts"))), 19);
    cJSON_Delete(cxj);

    const char *text = "quote \" backslash \\ newline \n tab \t unicode \xc5\x9f </script>";
    cJSON *att = cJSON_Parse("[{\"url\":\"https://x.example/a.pdf\",\"name\":\"a \\\"b\\\".pdf\"}]");
    sb_msg_t m;
    sb_msg_init(&m, &cx, "in", text, att, NULL);
    assert_true(sb_uuid_valid(m.id, strlen(m.id)));
    cJSON *msg = assemble("{\"type\":\"customer\",\"id\":\"s\"}", m.mtail);
    assert_non_null(msg);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "text")), text);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "id")), m.id);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "direction")), "in");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "createdAt")), cx.rfc);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(msg, "attachments")), 1);
    cJSON *ev = assemble("{\"type\":\"customer\"}", m.etail);
    assert_non_null(ev);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "message_id")), m.id);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "content_type")), "messageText");
    cJSON_Delete(msg);
    cJSON_Delete(ev);
    sb_msg_free(&m);

    /* attachments only: text is null */
    sb_msg_init(&m, &cx, "out", NULL, att, "wamid.1");
    msg = assemble("{}", m.mtail);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(msg, "text")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "platformMessageId")), "wamid.1");
    cJSON_Delete(msg);
    ev = assemble("{}", m.etail);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "content_type")), "messageAttachment");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "platform_message_id")), "wamid.1");
    cJSON_Delete(ev);
    sb_msg_free(&m);
    cJSON_Delete(att);
    sb_event_cx_free(&cx);
}

static const char *field_of(const char *json)
{
    static sb_verr_t e;
    cJSON *b = cJSON_Parse(json);
    assert_non_null(b);
    const cJSON *t, *a;
    memset(&e, 0, sizeof(e));
    int rc = sb_msg_validate(b, &t, &a, &e);
    cJSON_Delete(b);
    return rc == 0 ? NULL : e.field;
}

static void test_message_validation_names_the_field(void **state)
{
    (void)state;
    assert_null(field_of("{\"text\":\"hi\"}"));
    assert_null(field_of("{\"text\":null,\"attachments\":[{\"url\":\"https://x.example/a\"}]}"));
    assert_null(field_of("{\"text\":\"   \",\"attachments\":[{\"url\":\"https://x.example/a\"}]}"));
    assert_string_equal(field_of("{}"), "text");
    assert_string_equal(field_of("{\"text\":\"\"}"), "text");
    assert_string_equal(field_of("{\"text\":\" \\n\\t \"}"), "text");
    assert_string_equal(field_of("{\"text\":5}"), "text");
    assert_string_equal(field_of("{\"text\":\"a\",\"attachments\":{}}"), "attachments");
    assert_string_equal(field_of("{\"text\":\"a\",\"attachments\":[1]}"), "attachments[0]");
    assert_string_equal(field_of("{\"attachments\":[{\"url\":\"ftp://x\"}]}"), "attachments[0].url");
    assert_string_equal(field_of("{\"attachments\":[{\"url\":\"https://x.example\",\"size\":1}]}"),
                        "attachments[0].size");
    char big[5000 + 32];
    int n = snprintf(big, sizeof(big), "{\"text\":\"");
    memset(big + n, 'x', 4097);
    snprintf(big + n + 4097, sizeof(big) - (size_t)n - 4097, "\"}");
    assert_string_equal(field_of(big), "text");
    big[n + 4096] = '"';
    big[n + 4097] = '}';
    big[n + 4098] = '\0';
    assert_null(field_of(big)); /* exactly 4096 characters */
}

static void test_utf8_chars(void **state)
{
    (void)state;
    assert_int_equal(sb_utf8_chars("", 0), 0);
    assert_int_equal(sb_utf8_chars("abc", 3), 3);
    assert_int_equal(sb_utf8_chars("\xc5\x9f\xe2\x9c\x85\xf0\x9f\x98\x80", 9), 3);
}

int main(void)
{
    cfg.instance_id = "node \"1\"";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_pieces_make_valid_json),
        cmocka_unit_test(test_message_validation_names_the_field),
        cmocka_unit_test(test_utf8_chars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
