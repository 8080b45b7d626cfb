/* Unit tests for src/channels/telegram.c through its operations (platform.h): the Update shapes
 * (a text message, edits and other updates, messages with neither text nor a file), files and
 * captions as attachments by file id, callback queries as postbacks (the button's text from the
 * keyboard, the query's id as the event id), errors that name the field,
 * the binding found by the path's bot id or by the secret token's digest, the secret token
 * against a binding (and its rotation twin), the event id made of the bot's id and update_id,
 * the config's index fields, and sendMessage with its token kept out of what is shown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>

#include "test_channels_fake.h"

#define SECRET "tg-secret-0123456789"
#define UPDATE                                                                                                         \
    "{\"update_id\":900001,\"message\":{\"message_id\":17,\"chat\":{\"id\":-1001234},\"from\":{\"id\":42,"             \
    "\"username\":\"ada\"},\"text\":\"hello\",\"date\":1700000000}}"

static int parse(fake_req_t *f, const char *body, const char *secret, const char *bot)
{
    if (secret)
        fake_header(f, "x-telegram-bot-api-secret-token", secret);
    if (bot)
        fake_param(f, "botId", bot);
    return fake_parse(f, "telegram", body, false);
}

static void test_message(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(parse(&f, UPDATE, SECRET, "7001"), 0);
    assert_int_equal(f.in.nfields, 1);
    assert_string_equal(f.in.fields[0], "telegram:7001");
    assert_int_equal(f.in.nmsgs, 1);
    const sb_in_msg_t *m = &f.in.msgs[0];
    assert_string_equal(m->chat, "-1001234");
    assert_string_equal(m->from, "42");
    assert_string_equal(m->name, "ada");
    assert_string_equal(m->text, "hello");
    assert_string_equal(m->pmid, "17");
    /* the event id needs the binding's bot id: verify sets it */
    sb_binding_t b = binding("telegram", "{\"botId\":\"7001\",\"secretToken\":\"" SECRET "\"}");
    assert_int_equal(fake_verify(&f, 0, &b, 0), 0);
    assert_string_equal(f.in.msgs[0].event_id, "7001:900001");
    binding_free(&b);
    fake_free(&f);
}

/* Without a bot id in the path, the binding is found by the token's digest. */
static void test_found_by_secret(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(parse(&f, UPDATE, SECRET, NULL), 0);
    char want[128];
    mbed_sha_field("tgsecret", SECRET, want, sizeof(want));
    assert_string_equal(f.in.fields[0], want);
    fake_free(&f);
    /* a bot id no index field can hold, a missing, empty or oversized token: 401 */
    fake_req_t g = {0};
    assert_int_equal(parse(&g, UPDATE, SECRET, "70 01"), -EPERM);
    fake_free(&g);
    fake_req_t h = {0};
    assert_int_equal(parse(&h, UPDATE, NULL, "7001"), -EPERM);
    fake_free(&h);
    fake_req_t k = {0};
    assert_int_equal(parse(&k, UPDATE, "", "7001"), -EPERM);
    fake_free(&k);
    char big[300];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    fake_req_t l = {0};
    assert_int_equal(parse(&l, UPDATE, big, "7001"), -EPERM);
    fake_free(&l);
    /* a malformed body is a 400 even without the token */
    fake_req_t m = {0};
    assert_int_equal(parse(&m, "{}", NULL, NULL), -EINVAL);
    fake_free(&m);
}

static void test_update_shapes(void **state)
{
    (void)state;
    /* acknowledged, nothing stored: no message (an edit), a callback query without data (a
     * game's) or without its message (inline mode), neither text nor a file (a sticker) */
    const char *ignored[] = {
        "{\"update_id\":1,\"edited_message\":{\"message_id\":1,\"chat\":{\"id\":1},\"text\":\"x\"}}",
        "{\"update_id\":2,\"callback_query\":{\"id\":\"q\"}}",
        "{\"update_id\":2,\"callback_query\":{\"id\":\"q\",\"data\":\"d\",\"inline_message_id\":\"i\"}}",
        "{\"update_id\":3,\"message\":{\"message_id\":1,\"chat\":{\"id\":1},\"sticker\":{\"file_id\":\"f\"}}}",
    };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, ignored[i], SECRET, "7001"), 0);
        assert_int_equal(f.in.nmsgs, 0);
        assert_int_equal(f.in.nfields, 1);
        fake_free(&f);
    }
    /* ids as strings, a sender without a name */
    fake_req_t g = {0};
    assert_int_equal(parse(&g,
                           "{\"update_id\":4,\"message\":{\"message_id\":\"m9\",\"chat\":{\"id\":\"c9\"},"
                           "\"from\":{\"id\":5},\"text\":\"x\"}}",
                           SECRET, "7001"),
                     0);
    assert_string_equal(g.in.msgs[0].chat, "c9");
    assert_string_equal(g.in.msgs[0].pmid, "m9");
    assert_null(g.in.msgs[0].name);
    fake_free(&g);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"message\":{}}", "update_id"},
        {"{\"update_id\":-1}", "update_id"},
        {"{\"update_id\":\"1\"}", "update_id"},
        {"{\"update_id\":1.5}", "update_id"},
        {"{\"update_id\":1e300}", "update_id"},
        {"{\"update_id\":1,\"message\":7}", "message"},
        {"{\"update_id\":1,\"message\":{\"text\":\"x\"}}", "message.chat.id"},
        {"{\"update_id\":1,\"message\":{\"chat\":{\"id\":1.5},\"text\":\"x\"}}", "message.chat.id"},
        {"{\"update_id\":1,\"message\":{\"chat\":{\"id\":1},\"from\":{\"id\":2,\"username\":3},\"text\":\"x\"}}",
         "message.from.username"},
        {"{\"update_id\":1,\"message\":{\"chat\":{\"id\":1},\"text\":\"\"}}", "message.text"},
        {"{\"update_id\":1,\"message\":{\"chat\":{\"id\":1},\"text\":[\"x\"]}}", "message.text"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, cases[i].body, SECRET, "7001"), -EINVAL);
        assert_err_field(&f, cases[i].field);
        fake_free(&f);
    }
}

#define MSG(members)                                                                                                   \
    "{\"update_id\":900002,\"message\":{\"message_id\":18,\"chat\":{\"id\":42},\"from\":{\"id\":42},"                  \
    "\"date\":1700000000," members "}}"

static void test_media(void **state)
{
    (void)state;
    static const struct {
        const char *body, *text, *content;
    } cases[] = {
        /* a photo: its largest size */
        {MSG("\"photo\":[{\"file_id\":\"small\",\"width\":90,\"height\":67},{\"file_id\":\"big\",\"width\":1280,"
             "\"height\":960},{\"file_id\":\"mid\",\"width\":320,\"height\":240}],\"caption\":\"my shoe\""),
         "my shoe", "{\"attachments\":[{\"type\":\"image\",\"mediaId\":\"big\"}]}"},
        /* a document's type follows its MIME type */
        {MSG("\"document\":{\"file_id\":\"d1\",\"file_name\":\"invoice.pdf\",\"mime_type\":\"application/pdf\"}"), NULL,
         "{\"attachments\":[{\"mediaId\":\"d1\",\"name\":\"invoice.pdf\",\"contentType\":\"application/pdf\"}]}"},
        {MSG("\"audio\":{\"file_id\":\"a1\",\"file_name\":\"song.mp3\",\"mime_type\":\"audio/mpeg\"},\"caption\":\" "
             "\""),
         NULL,
         "{\"attachments\":[{\"type\":\"audio\",\"mediaId\":\"a1\",\"name\":\"song.mp3\",\"contentType\":\"audio/"
         "mpeg\"}]}"},
        {MSG("\"video\":{\"file_id\":\"v1\",\"mime_type\":\"video/mp4\",\"duration\":3}"), NULL,
         "{\"attachments\":[{\"type\":\"video\",\"mediaId\":\"v1\",\"contentType\":\"video/mp4\"}]}"},
        /* a voice note is audio */
        {MSG("\"voice\":{\"file_id\":\"o1\",\"mime_type\":\"audio/ogg\",\"duration\":2}"), NULL,
         "{\"attachments\":[{\"type\":\"audio\",\"mediaId\":\"o1\",\"contentType\":\"audio/ogg\"}]}"},
        {MSG("\"video_note\":{\"file_id\":\"n1\",\"length\":240}"), NULL,
         "{\"attachments\":[{\"type\":\"video\",\"mediaId\":\"n1\"}]}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, cases[i].body, SECRET, "7001"), 0);
        assert_int_equal(f.in.nmsgs, 1);
        const sb_in_msg_t *m = &f.in.msgs[0];
        assert_string_equal(m->chat, "42");
        assert_string_equal(m->pmid, "18");
        if (cases[i].text)
            assert_string_equal(m->text, cases[i].text);
        else
            assert_null(m->text);
        assert_content(m, cases[i].content);
        sb_binding_t b = binding("telegram", "{\"botId\":\"7001\",\"secretToken\":\"" SECRET "\"}");
        assert_int_equal(fake_verify(&f, 0, &b, 0), 0);
        assert_string_equal(f.in.msgs[0].event_id, "7001:900002");
        binding_free(&b);
        fake_free(&f);
    }
}

#define CALLBACK(members)                                                                                              \
    "{\"update_id\":900003,\"callback_query\":{\"id\":\"4382bfdwdsb323b2d9\",\"from\":{\"id\":42,\"username\":"        \
    "\"ada\"},\"chat_instance\":\"-8\"," members "}}"
#define KEYBOARD                                                                                                       \
    "\"message\":{\"message_id\":20,\"chat\":{\"id\":-1001234},\"text\":\"Which size?\",\"reply_markup\":{"            \
    "\"inline_keyboard\":[[{\"text\":\"Small\",\"callback_data\":\"SIZE_S\"}],[{\"text\":\"Large\",\"callback_"        \
    "data\":\"SIZE_L\"}],[{\"text\":\"Guide\",\"url\":\"https://x.test\"}]]}}"

static void test_callback_query(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(parse(&f, CALLBACK(KEYBOARD ",\"data\":\"SIZE_L\""), SECRET, "7001"), 0);
    assert_int_equal(f.in.nmsgs, 1);
    const sb_in_msg_t *m = &f.in.msgs[0];
    assert_string_equal(m->chat, "-1001234");
    assert_string_equal(m->from, "42");
    assert_string_equal(m->name, "ada");
    assert_null(m->text);
    assert_string_equal(m->pmid, "4382bfdwdsb323b2d9");
    assert_content(m, "{\"postback\":{\"title\":\"Large\",\"payload\":\"SIZE_L\"}}");
    /* the event id is the query's: a retried update is the same click */
    sb_binding_t b = binding("telegram", "{\"botId\":\"7001\",\"secretToken\":\"" SECRET "\"}");
    assert_int_equal(fake_verify(&f, 0, &b, 0), 0);
    assert_string_equal(f.in.msgs[0].event_id, "7001:cb:4382bfdwdsb323b2d9");
    binding_free(&b);
    fake_free(&f);
    /* a button the keyboard does not show: no title */
    fake_req_t g = {0};
    assert_int_equal(
        parse(&g, CALLBACK("\"message\":{\"message_id\":20,\"chat\":{\"id\":7}},\"data\":\"OLD\""), SECRET, "7001"), 0);
    assert_int_equal(g.in.nmsgs, 1);
    assert_content(&g.in.msgs[0], "{\"postback\":{\"payload\":\"OLD\"}}");
    fake_free(&g);
}

static void test_media_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {MSG("\"photo\":{}"), "message.photo"},
        {MSG("\"photo\":[]"), "message.photo"},
        {MSG("\"photo\":[1]"), "message.photo"},
        {MSG("\"photo\":[{\"width\":1}]"), "message.photo.file_id"},
        {MSG("\"document\":\"d\""), "message.document"},
        {MSG("\"document\":{\"file_id\":5}"), "message.document.file_id"},
        {MSG("\"document\":{\"file_id\":\"d\",\"file_name\":5}"), "message.document.file_name"},
        {MSG("\"voice\":{\"file_id\":\"d\",\"mime_type\":[]}"), "message.voice.mime_type"},
        {MSG("\"video\":{\"file_id\":\"v\"},\"caption\":7"), "message.caption"},
        {"{\"update_id\":1,\"callback_query\":[]}", "callback_query"},
        {"{\"update_id\":1,\"callback_query\":{\"data\":\"d\"}}", "callback_query.id"},
        {CALLBACK("\"data\":5"), "callback_query.data"},
        {CALLBACK("\"message\":\"m\",\"data\":\"d\""), "callback_query.message"},
        {CALLBACK("\"message\":{\"message_id\":1},\"data\":\"d\""), "callback_query.message.chat.id"},
        {CALLBACK("\"message\":{\"chat\":{\"id\":1}},\"data\":\" \""), "callback_query.data"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, cases[i].body, SECRET, "7001"), -EINVAL);
        assert_err_field(&f, cases[i].field);
        fake_free(&f);
    }
}

static void test_secret_token(void **state)
{
    (void)state;
    sb_binding_t b = binding("telegram", "{\"botId\":\"7001\",\"secretToken\":\"" SECRET "\"}");
    sb_binding_t rot =
        binding("telegram", "{\"botId\":\"7001\",\"secretToken\":\"new\",\"secretTokenPrevious\":\"" SECRET "\"}");
    sb_binding_t longer = binding("telegram", "{\"botId\":\"7001\",\"secretToken\":\"" SECRET "x\"}");
    sb_binding_t none = binding("telegram", "{\"botId\":\"7001\"}");
    sb_binding_t slack = binding("slack", "{\"botId\":\"7001\",\"secretToken\":\"" SECRET "\"}");
    fake_req_t f = {0};
    assert_int_equal(parse(&f, UPDATE, SECRET, "7001"), 0);
    assert_int_equal(fake_verify(&f, 0, &b, 0), 0);
    assert_int_equal(fake_verify(&f, 0, &rot, 0), 0);
    assert_int_equal(fake_verify(&f, 0, &longer, 0), -EPERM);
    assert_int_equal(fake_verify(&f, 0, &none, 0), -EPERM);
    assert_int_equal(fake_verify(&f, 0, &slack, 0), -EPERM);
    assert_int_equal(fake_verify(&f, 0, NULL, 0), -EPERM);
    assert_false(f.in.bound[0].verified);
    fake_free(&f);
    binding_free(&b);
    binding_free(&rot);
    binding_free(&longer);
    binding_free(&none);
    binding_free(&slack);
}

static void test_config(void **state)
{
    (void)state;
    cJSON *cfg;
    sb_verr_t e;
    char fields[512], a[128], b[128], want[512];
    assert_int_equal(config_check("telegram",
                                  "{\"botId\":\"7001\",\"botToken\":\"7001:AAA\",\"secretToken\":\"s1\","
                                  "\"secretTokenPrevious\":\"s0\"}",
                                  &cfg, &e),
                     0);
    binding_fields("telegram", cfg, fields, sizeof(fields));
    mbed_sha_field("tgsecret", "s1", a, sizeof(a));
    mbed_sha_field("tgsecret", "s0", b, sizeof(b));
    snprintf(want, sizeof(want), "telegram:7001 %s %s", a, b);
    assert_string_equal(fields, want);
    cJSON_Delete(cfg);
    assert_int_equal(config_check("telegram", "{\"botToken\":\"x\"}", &cfg, &e), -EINVAL);
    assert_string_equal(e.field, "config.botId");
    cJSON_Delete(cfg);
    assert_int_equal(config_check("telegram", "{\"botId\":\"1\",\"secretToken\":5}", &cfg, &e), -EINVAL);
    assert_string_equal(e.field, "config.secretToken");
    cJSON_Delete(cfg);
}

static void test_send(void **state)
{
    (void)state;
    sb_config_t cfg = {0};
    cfg.telegram_api_base = "http://tg.test";
    cJSON *ch = cJSON_Parse("{\"botId\":\"7001\",\"botToken\":\"7001:AA-b_c\"}");
    sb_send_t s = {.platform = "telegram", .chat = "-1001234", .text = "hi"};
    sb_send_req_t r;
    char err[256] = "";
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, "http://tg.test/bot7001:AA-b_c/sendMessage");
    assert_string_equal(r.shown_url, "http://tg.test/bot<token>/sendMessage");
    assert_null(strstr(r.headers, "7001:AA"));
    assert_string_equal(r.body, "{\"chat_id\":\"-1001234\",\"text\":\"hi\"}");
    sb_send_req_free(&r);
    cJSON_Delete(ch);
    ch = cJSON_Parse("{\"botId\":\"7001\",\"botToken\":\"7001:AA/../x\"}");
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "the channel's botToken is not a Telegram bot token");
    cJSON_Delete(ch);

    char pmid[64];
    const char *ok = "{\"ok\":true,\"result\":{\"message_id\":55}}";
    assert_int_equal(sb_send_result("telegram", ok, strlen(ok), pmid, sizeof(pmid), err, sizeof(err)),
                     SB_SEND_ACCEPTED);
    assert_string_equal(pmid, "55");
    const char *no = "{\"ok\":false,\"description\":\"Forbidden\"}";
    assert_int_equal(sb_send_result("telegram", no, strlen(no), pmid, sizeof(pmid), err, sizeof(err)), SB_SEND_REFUSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message),
        cmocka_unit_test(test_found_by_secret),
        cmocka_unit_test(test_update_shapes),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_media),
        cmocka_unit_test(test_callback_query),
        cmocka_unit_test(test_media_errors_name_the_field),
        cmocka_unit_test(test_secret_token),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
