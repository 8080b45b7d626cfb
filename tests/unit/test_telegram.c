/* Unit tests for src/channels/telegram.c through its operations (platform.h): the Update shapes
 * (a text message, edits and other updates, messages without text), errors that name the field,
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
    /* acknowledged, nothing stored: no message (an edit, a callback query), no text (a photo) */
    const char *ignored[] = {
        "{\"update_id\":1,\"edited_message\":{\"message_id\":1,\"chat\":{\"id\":1},\"text\":\"x\"}}",
        "{\"update_id\":2,\"callback_query\":{\"id\":\"q\"}}",
        "{\"update_id\":3,\"message\":{\"message_id\":1,\"chat\":{\"id\":1},\"photo\":[{\"file_id\":\"f\"}]}}",
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
        cmocka_unit_test(test_message),       cmocka_unit_test(test_found_by_secret),
        cmocka_unit_test(test_update_shapes), cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_secret_token),  cmocka_unit_test(test_config),
        cmocka_unit_test(test_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
