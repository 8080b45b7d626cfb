/* Unit tests for src/conv/conv.c and content.c: the message pieces the conversation scripts
 * splice together must make valid JSON with every byte escaped once, and message contents are
 * validated with the field named and normalized (docs/messages.md). */
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
    sb_content_t c = {.text = text, .attachments = att};
    sb_msg_init(&m, &cx, "in", &c, NULL);
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
    c.text = NULL;
    sb_msg_init(&m, &cx, "out", &c, "wamid.1");
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

static const char *field_in(const char *json, unsigned allow)
{
    static sb_verr_t e;
    cJSON *b = cJSON_Parse(json);
    assert_non_null(b);
    sb_content_t c;
    memset(&e, 0, sizeof(e));
    int rc = sb_content_parse(b, allow, NULL, &c, &e);
    if (rc == 0)
        sb_content_free(&c);
    else
        assert_null(c.buttons); /* nothing left to free after a failure */
    cJSON_Delete(b);
    return rc == 0 ? NULL : e.field;
}

static const char *field_of(const char *json)
{
    return field_in(json, SB_CONTENT_RICH);
}

static void test_rich_content_is_checked_and_normalized(void **state)
{
    (void)state;
    cJSON *b = cJSON_Parse("{\"text\":\"Pick one\",\"buttons\":[{\"title\":\"Yes\",\"payload\":\"Y\"},"
                           "{\"title\":\"Docs\",\"url\":\"https://x.example/d\"}],"
                           "\"cards\":[{\"title\":\"Shoe\",\"imageUrl\":\"https://x.example/s.png\"}],"
                           "\"attachments\":[{\"url\":\"https://x.example/p.png\",\"contentType\":\"image/png\"},"
                           "{\"url\":\"https://x.example/a.pdf\"}]}");
    sb_content_t c;
    sb_verr_t e;
    assert_int_equal(sb_content_parse(b, SB_CONTENT_RICH, NULL, &c, &e), 0);
    assert_string_equal(c.text, "Pick one");
    assert_true(sb_content_rich(&c));
    cJSON *b0 = cJSON_GetArrayItem(c.buttons, 0), *b1 = cJSON_GetArrayItem(c.buttons, 1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(b0, "type")), "postback");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(b1, "type")), "url");
    assert_null(cJSON_GetObjectItem(b1, "payload"));
    cJSON *card = cJSON_GetArrayItem(c.cards, 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(card, "buttons")), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(c.attachments, 0), "type")),
                        "image");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(c.attachments, 1), "type")),
                        "file");
    /* a view of the normalized members sees the same */
    cJSON *o = cJSON_CreateObject();
    sb_content_add(o, &c, true);
    sb_content_t v;
    sb_content_view(&v, o);
    assert_string_equal(v.text, "Pick one");
    assert_int_equal(cJSON_GetArraySize(v.buttons), 2);
    assert_null(v.postback);
    cJSON_Delete(o);
    sb_content_free(&c);
    cJSON_Delete(b);

    assert_string_equal(field_of("{\"buttons\":[{\"title\":\"a\",\"payload\":\"b\"}]}"), "text");
    assert_string_equal(field_of("{\"text\":\"t\",\"buttons\":{}}"), "buttons");
    assert_string_equal(field_of("{\"text\":\"t\",\"buttons\":[{\"title\":\"a\"}]}"), "buttons[0]");
    assert_string_equal(field_of("{\"text\":\"t\",\"buttons\":[{\"title\":\"a\",\"payload\":\"b\","
                                 "\"url\":\"https://x.example\"}]}"),
                        "buttons[0]");
    assert_string_equal(field_of("{\"text\":\"t\",\"buttons\":[{\"title\":\"\",\"payload\":\"b\"}]}"),
                        "buttons[0].title");
    assert_string_equal(field_of("{\"text\":\"t\",\"buttons\":[{\"type\":\"call\",\"title\":\"a\","
                                 "\"payload\":\"b\"}]}"),
                        "buttons[0].type");
    char many[2048];
    int n = snprintf(many, sizeof(many), "{\"text\":\"t\",\"buttons\":[");
    for (int i = 0; i < 11; i++)
        n += snprintf(many + n, sizeof(many) - (size_t)n, "%s{\"title\":\"b%d\",\"payload\":\"p\"}", i ? "," : "", i);
    snprintf(many + n, sizeof(many) - (size_t)n, "]}");
    assert_string_equal(field_of(many), "buttons");
    assert_string_equal(field_of("{\"cards\":[{\"subtitle\":\"s\"}]}"), "cards[0].title");
    assert_string_equal(field_of("{\"cards\":[{\"title\":\"c\",\"imageUrl\":\"javascript:x\"}]}"),
                        "cards[0].imageUrl");
    assert_string_equal(field_of("{\"cards\":[{\"title\":\"c\",\"buttons\":[{\"title\":\"1\",\"payload\":\"1\"},"
                                 "{\"title\":\"2\",\"payload\":\"2\"},{\"title\":\"3\",\"payload\":\"3\"},"
                                 "{\"title\":\"4\",\"payload\":\"4\"}]}]}"),
                        "cards[0].buttons");
    assert_string_equal(field_of("{\"attachments\":[{\"type\":\"sticker\",\"url\":\"https://x.example\"}]}"),
                        "attachments[0].type");
    assert_null(field_of("{\"cards\":[{\"title\":\"only a card\"}]}"));
    /* by a platform's media id only where the platforms' webhooks bring it in */
    assert_string_equal(field_of("{\"attachments\":[{\"mediaId\":\"AgAD\"}]}"), "attachments[0].url");
    assert_null(field_in("{\"attachments\":[{\"mediaId\":\"AgAD\"}]}", SB_CONTENT_POSTBACK | SB_CONTENT_MEDIA_ID));
    assert_string_equal(field_of("{\"text\":\"t\",\"quickReplies\":[]}"), "quickReplies");
    /* a customer's click: accepted where postbacks are, its title as the text */
    assert_string_equal(field_of("{\"postback\":{\"payload\":\"p\"}}"), "postback");
    assert_string_equal(field_in("{\"text\":\"t\",\"buttons\":[{\"title\":\"a\",\"payload\":\"b\"}]}",
                                 SB_CONTENT_POSTBACK),
                        "buttons");
    assert_string_equal(field_in("{\"postback\":{\"title\":\"Yes\"}}", SB_CONTENT_POSTBACK), "postback.payload");
    b = cJSON_Parse("{\"postback\":{\"title\":\"Yes\",\"payload\":\"Y\"}}");
    assert_int_equal(sb_content_parse(b, SB_CONTENT_POSTBACK, NULL, &c, &e), 0);
    assert_string_equal(c.text, "Yes");
    sb_content_free(&c);
    cJSON_Delete(b);
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
        cmocka_unit_test(test_rich_content_is_checked_and_normalized),
        cmocka_unit_test(test_utf8_chars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
