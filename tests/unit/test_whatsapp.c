/* Unit tests for src/channels/whatsapp.c through its operations (platform.h): payloads with
 * several entries and changes naming several phone numbers (every message kept with its
 * binding, statuses and reactions acknowledged), media, locations and clicks as the content
 * model's attachments, text and postbacks, the account id of a change without metadata, errors
 * that name the field, X-Hub-Signature-256 against each binding (and its
 * rotation twin; a binding that fails loses only its own messages), the GET subscription
 * check, the config's index fields, and the Graph API send. Signatures come from mbedTLS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>

#include "test_channels_fake.h"

#define APP_SECRET "meta-app-secret"
#define TEXT(id, from, body)                                                                                           \
    "{\"id\":\"" id "\",\"from\":\"" from "\",\"type\":\"text\",\"text\":{\"body\":\"" body "\"}}"
#define CHANGE(pnid, msgs)                                                                                             \
    "{\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{\"phone_number_id\":\"" pnid  \
    "\"},\"messages\":[" msgs "]}}"
#define PAYLOAD(entries) "{\"object\":\"whatsapp_business_account\",\"entry\":[" entries "]}"

static int parse(fake_req_t *f, const char *body, const char *sig)
{
    if (sig)
        fake_header(f, "x-hub-signature-256", sig);
    return fake_parse(f, "whatsapp", body, false);
}

/* Parses body signed with secret. */
static int parse_signed(fake_req_t *f, const char *body, const char *secret, char sig[80])
{
    mbed_hmac_hex(secret, body, "sha256=", sig, 80);
    return parse(f, body, sig);
}

static void test_multi_entry_multi_change(void **state)
{
    (void)state;
    const char *body = PAYLOAD("{\"id\":\"WABA1\",\"changes\":[" CHANGE(
        "111", TEXT("wamid.1", "4911", "one") "," TEXT(
                   "wamid.2", "4912",
                   "two")) "," CHANGE("222", TEXT("wamid.3", "4913",
                                                  "three")) "]},"
                                                            "{\"id\":\"WABA2\",\"changes\":[" CHANGE(
                                                                "111", "{\"id\":\"wamid.4\",\"from\":\"4914\",\"type\":"
                                                                       "\"reaction\",\"reaction\":{\"emoji\":\"x\"}},"
                                                                       "" TEXT("wamid.5", "4915", "five")) "]}");
    fake_req_t f = {0};
    char sig[80];
    assert_int_equal(parse_signed(&f, body, APP_SECRET, sig), 0);
    assert_int_equal(f.in.nfields, 2);
    assert_string_equal(f.in.fields[0], "whatsapp:111");
    assert_string_equal(f.in.fields[1], "whatsapp:222");
    /* every text message of every change of every entry, each with its binding; the reaction is not stored */
    assert_int_equal(f.in.nmsgs, 4);
    static const struct {
        const char *id, *from, *text;
        int binding;
    } want[] = {{"wamid.1", "4911", "one", 0},
                {"wamid.2", "4912", "two", 0},
                {"wamid.3", "4913", "three", 1},
                {"wamid.5", "4915", "five", 0}};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(f.in.msgs[i].event_id, want[i].id);
        assert_string_equal(f.in.msgs[i].pmid, want[i].id);
        assert_string_equal(f.in.msgs[i].chat, want[i].from);
        assert_string_equal(f.in.msgs[i].text, want[i].text);
        assert_int_equal(f.in.msgs[i].binding, want[i].binding);
    }
    /* one binding verifies, the other holds another secret: only the first keeps its messages */
    sb_binding_t a = binding("whatsapp", "{\"phoneNumberId\":\"111\",\"appSecret\":\"" APP_SECRET "\"}");
    sb_binding_t b = binding("whatsapp", "{\"phoneNumberId\":\"222\",\"appSecret\":\"another\"}");
    assert_int_equal(fake_verify(&f, 0, &a, 0), 0);
    assert_int_equal(fake_verify(&f, 1, &b, 0), -EPERM);
    assert_true(f.in.bound[0].verified);
    assert_false(f.in.bound[1].verified);
    binding_free(&a);
    binding_free(&b);
    fake_free(&f);
}

static void test_contacts_and_statuses(void **state)
{
    (void)state;
    const char *body = PAYLOAD(
        "{\"id\":\"WABA1\",\"changes\":[{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"111\"},"
        "\"contacts\":[{\"wa_id\":\"4900\",\"profile\":{\"name\":\"Other\"}},{\"wa_id\":\"4911\",\"profile\":{\"name\":"
        "\"Grace\"}}],\"messages\":[" TEXT(
            "wamid.1", "4911",
            "hi") "]}},"
                  "{\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"111\"},\"statuses\":[{\"id\":"
                  "\"wamid.out\",\"status\":\"delivered\"}]}}]}");
    fake_req_t f = {0};
    assert_int_equal(parse(&f, body, "sha256=00"), 0);
    assert_int_equal(f.in.nmsgs, 1);
    assert_string_equal(f.in.msgs[0].name, "Grace");
    assert_int_equal(f.in.nfields, 1);
    fake_free(&f);
    /* statuses only: acknowledged once verified, nothing stored */
    fake_req_t g = {0};
    assert_int_equal(parse(&g,
                           PAYLOAD("{\"id\":\"W\",\"changes\":[{\"value\":{\"metadata\":{\"phone_number_id\":\"111\"},"
                                   "\"statuses\":[{\"id\":\"s\"}]}}]}"),
                           "sha256=00"),
                     0);
    assert_int_equal(g.in.nmsgs, 0);
    assert_string_equal(g.in.fields[0], "whatsapp:111");
    fake_free(&g);
    /* seed 000's body: no metadata, the entry's account id finds the binding */
    fake_req_t h = {0};
    assert_int_equal(
        parse(&h, PAYLOAD("{\"id\":\"WABA9\",\"changes\":[{\"value\":{\"messages\":[" TEXT("m1", "49", "x") "]}}]}"),
              "sha256=00"),
        0);
    assert_string_equal(h.in.fields[0], "wawaba:WABA9");
    fake_free(&h);
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"object\":\"whatsapp_business_account\"}", "entry"},
        {PAYLOAD("7"), "entry"},
        {PAYLOAD("{\"id\":\"W\"}"), "entry"},
        {PAYLOAD("{\"id\":\"W\",\"changes\":[{\"field\":\"messages\"}]}"), "entry.changes.value"},
        {PAYLOAD("{\"id\":\"W\",\"changes\":[{\"value\":{\"metadata\":{\"phone_number_id\":\"1\"},\"messages\":{}}}]}"),
         "entry.changes.value"},
        {PAYLOAD("{\"changes\":[{\"value\":{\"messages\":[]}}]}"), "entry.changes.value.metadata"},
        {PAYLOAD("{\"id\":\"W\",\"changes\":[" CHANGE("1", "{\"from\":\"49\",\"type\":\"text\"}") "]}"), "messages"},
        /* a message that is not an object was once left unanswered */
        {PAYLOAD("{\"id\":\"W\",\"changes\":[" CHANGE("1", "1") "]}"), "messages"},
        {PAYLOAD("{\"id\":\"W\",\"changes\":[" CHANGE("1", "{\"id\":7,\"from\":\"49\"}") "]}"), "messages.id"},
        {PAYLOAD("{\"id\":\"W\",\"changes\":[" CHANGE("1", "{\"id\":\"m\",\"from\":\"49\",\"type\":\"text\"}") "]}"),
         "messages.text"},
        {PAYLOAD("{\"id\":\"W\",\"changes\":[" CHANGE("1", TEXT("m", "49", " ")) "]}"), "messages.text.body"},
        {PAYLOAD("{\"id\":\"W\",\"changes\":[" CHANGE(
             "1", "{\"id\":\"m\",\"from\":\"49\",\"type\":\"text\",\"text\":{}}") "]}"),
         "messages.text.body"},
        {PAYLOAD("{\"id\":\"W\",\"changes\":[" CHANGE("1", "") "," CHANGE("2", "") "," CHANGE("3", "") "," CHANGE(
             "4", "") "," CHANGE("5", "") "," CHANGE("6", "") "," CHANGE("7", "") "," CHANGE("8",
                                                                                             "") "," CHANGE("9",
                                                                                                            "") "]}"),
         "entry"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, cases[i].body, "sha256=00"), -EINVAL);
        assert_string_equal(f.in.err.field, cases[i].field);
        assert_true(f.in.err.detail[0] != '\0');
        fake_free(&f);
    }
}

/* One message of the given type and body in a payload, parsed: its status. */
static int parse_one(fake_req_t *f, const char *type, const char *member)
{
    char body[4096];
    snprintf(body, sizeof(body),
             PAYLOAD("{\"id\":\"W\",\"changes\":[" CHANGE("111", "{\"id\":\"wamid.M\",\"from\":\"4911\","
                                                                 "\"type\":\"%s\",\"%s\":%s}") "]}"),
             type, type, member);
    return parse(f, body, "sha256=00");
}

static void test_media(void **state)
{
    (void)state;
    static const struct {
        const char *type, *member, *text, *content;
    } cases[] = {
        {"image", "{\"id\":\"1001\",\"mime_type\":\"image/jpeg\",\"sha256\":\"h\",\"caption\":\"my shoe\"}", "my shoe",
         "{\"attachments\":[{\"type\":\"image\",\"mediaId\":\"1001\",\"contentType\":\"image/jpeg\"}]}"},
        {"document",
         "{\"id\":\"1002\",\"mime_type\":\"application/pdf\",\"filename\":\"invoice.pdf\",\"caption\":\" \"}", NULL,
         "{\"attachments\":[{\"type\":\"file\",\"mediaId\":\"1002\",\"name\":\"invoice.pdf\",\"contentType\":"
         "\"application/pdf\"}]}"},
        {"audio", "{\"id\":\"1003\",\"mime_type\":\"audio/ogg; codecs=opus\",\"voice\":true}", NULL,
         "{\"attachments\":[{\"type\":\"audio\",\"mediaId\":\"1003\",\"contentType\":\"audio/ogg; codecs=opus\"}]}"},
        {"video", "{\"id\":\"1004\",\"mime_type\":\"video/mp4\"}", NULL,
         "{\"attachments\":[{\"type\":\"video\",\"mediaId\":\"1004\",\"contentType\":\"video/mp4\"}]}"},
        /* a sticker is a WebP image */
        {"sticker", "{\"id\":\"1005\",\"mime_type\":\"image/webp\",\"animated\":false}", NULL,
         "{\"attachments\":[{\"type\":\"image\",\"mediaId\":\"1005\",\"contentType\":\"image/webp\"}]}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse_one(&f, cases[i].type, cases[i].member), 0);
        assert_int_equal(f.in.nmsgs, 1);
        const sb_in_msg_t *m = &f.in.msgs[0];
        assert_string_equal(m->event_id, "wamid.M");
        assert_string_equal(m->chat, "4911");
        if (cases[i].text)
            assert_string_equal(m->text, cases[i].text);
        else
            assert_null(m->text);
        assert_content(m, cases[i].content);
        fake_free(&f);
    }
}

static void test_location(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(parse_one(&f, "location",
                               "{\"latitude\":41.0082,\"longitude\":28.978359,\"name\":\"Shop\","
                               "\"address\":\"Istiklal Cd. 1\"}"),
                     0);
    assert_int_equal(f.in.nmsgs, 1);
    assert_string_equal(f.in.msgs[0].text,
                        "\xF0\x9F\x93\x8D Shop, Istiklal Cd. 1 https://maps.google.com/?q=41.0082,28.978359");
    assert_null(f.in.msgs[0].content);
    fake_free(&f);
    fake_req_t g = {0};
    assert_int_equal(parse_one(&g, "location", "{\"latitude\":-33.5,\"longitude\":0}"), 0);
    assert_string_equal(g.in.msgs[0].text, "\xF0\x9F\x93\x8D https://maps.google.com/?q=-33.5,0");
    fake_free(&g);
}

static void test_clicks(void **state)
{
    (void)state;
    static const struct {
        const char *type, *member, *content;
    } cases[] = {
        {"interactive", "{\"type\":\"button_reply\",\"button_reply\":{\"id\":\"SIZE_S\",\"title\":\"Small\"}}",
         "{\"postback\":{\"title\":\"Small\",\"payload\":\"SIZE_S\"}}"},
        {"interactive",
         "{\"type\":\"list_reply\",\"list_reply\":{\"id\":\"ROW_2\",\"title\":\"Second\",\"description\":\"d\"}}",
         "{\"postback\":{\"title\":\"Second\",\"payload\":\"ROW_2\"}}"},
        /* a template's quick reply */
        {"button", "{\"payload\":\"STOP\",\"text\":\"Stop promotions\"}",
         "{\"postback\":{\"title\":\"Stop promotions\",\"payload\":\"STOP\"}}"},
        /* a title the model cannot hold is left out; the payload carries the click */
        {"button", "{\"payload\":\"P\",\"text\":\" \"}", "{\"postback\":{\"payload\":\"P\"}}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse_one(&f, cases[i].type, cases[i].member), 0);
        assert_int_equal(f.in.nmsgs, 1);
        assert_null(f.in.msgs[0].text); /* the model makes the title the text */
        assert_content(&f.in.msgs[0], cases[i].content);
        fake_free(&f);
    }
    /* acknowledged, not stored: a flow's reply, reactions, contacts, unsupported messages */
    static const char *const ignored[][2] = {
        {"interactive", "{\"type\":\"nfm_reply\",\"nfm_reply\":{\"response_json\":\"{}\"}}"},
        {"reaction", "{\"message_id\":\"wamid.1\",\"emoji\":\"x\"}"},
        {"contacts", "[]"},
        {"unsupported", "{}"},
    };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse_one(&f, ignored[i][0], ignored[i][1]), 0);
        assert_int_equal(f.in.nmsgs, 0);
        assert_int_equal(f.in.nfields, 1);
        fake_free(&f);
    }
}

/* Bad types in media and clicks: 400 naming the field. */
static void test_media_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *type, *member, *field;
    } cases[] = {
        {"image", "\"x\"", "messages.image"},
        {"image", "{\"mime_type\":\"image/png\"}", "messages.image.id"},
        {"image", "{\"id\":7}", "messages.image.id"},
        {"document", "{\"id\":\"1\",\"filename\":[]}", "messages.document.filename"},
        {"video", "{\"id\":\"1\",\"mime_type\":1}", "messages.video.mime_type"},
        {"image", "{\"id\":\"1\",\"caption\":{}}", "messages.image.caption"},
        {"interactive", "[]", "messages.interactive"},
        {"interactive", "{\"type\":\"button_reply\",\"button_reply\":\"x\"}", "messages.interactive.button_reply"},
        {"interactive", "{\"type\":\"button_reply\",\"button_reply\":{\"title\":\"t\"}}",
         "messages.interactive.button_reply.id"},
        {"interactive", "{\"type\":\"list_reply\",\"list_reply\":{\"id\":\"r\",\"title\":5}}",
         "messages.interactive.list_reply.title"},
        {"button", "{\"text\":\"t\"}", "messages.button.payload"},
        {"button", "{\"payload\":\"p\",\"text\":1}", "messages.button.text"},
        {"location", "{\"latitude\":\"41\",\"longitude\":28}", "messages.location.latitude"},
        {"location", "{\"latitude\":41,\"longitude\":200}", "messages.location.longitude"},
        {"location", "{\"latitude\":41,\"longitude\":28,\"name\":3}", "messages.location.name"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse_one(&f, cases[i].type, cases[i].member), -EINVAL);
        assert_err_field(&f, cases[i].field);
        fake_free(&f);
    }
}

/* The model's attachment takes a mediaId instead of a url (and then needs no url); one with
 * neither is refused. */
static void test_model_media_id(void **state)
{
    (void)state;
    static const struct {
        const char *json, *field;
    } cases[] = {
        {"{\"attachments\":[{\"type\":\"image\",\"mediaId\":\"1001\"}]}", NULL},
        {"{\"attachments\":[{\"type\":\"image\",\"mediaId\":\"1001\",\"url\":\"https://x.test/a.png\"}]}", NULL},
        {"{\"attachments\":[{\"type\":\"image\"}]}", "attachments[0].url"},
        {"{\"attachments\":[{\"type\":\"image\",\"mediaId\":\"\"}]}", "attachments[0].mediaId"},
        {"{\"attachments\":[{\"type\":\"image\",\"mediaId\":7}]}", "attachments[0].mediaId"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *o = cJSON_Parse(cases[i].json);
        sb_content_t c;
        sb_verr_t e;
        int rc = sb_content_parse(o, SB_CONTENT_POSTBACK | SB_CONTENT_MEDIA_ID, NULL, &c, &e);
        if (cases[i].field) {
            assert_int_equal(rc, -EINVAL);
            assert_string_equal(e.field, cases[i].field);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(
                cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(c.attachments, 0), "mediaId")), "1001");
            sb_content_free(&c);
        }
        cJSON_Delete(o);
    }
}

/* More than 256 messages in one payload are refused, not cut. */
static void test_message_cap(void **state)
{
    (void)state;
    char body[64 * 1024];
    size_t n = (size_t)snprintf(body, sizeof(body),
                                "{\"entry\":[{\"id\":\"W\",\"changes\":[{\"value\":{\"metadata\":{\"phone_number_id\":"
                                "\"1\"},\"messages\":[");
    for (int i = 0; i < 257; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "%s{\"id\":\"m%d\",\"from\":\"49\",\"type\":\"text\","
                              "\"text\":{\"body\":\"x\"}}",
                              i ? "," : "", i);
    snprintf(body + n, sizeof(body) - n, "]}}]}]}");
    fake_req_t f = {0};
    assert_int_equal(parse(&f, body, "sha256=00"), -EINVAL);
    assert_string_equal(f.in.err.detail, "too many messages in one payload");
    fake_free(&f);
}

static void test_hub_signature(void **state)
{
    (void)state;
    const char *body = PAYLOAD("{\"id\":\"W\",\"changes\":[" CHANGE("111", TEXT("m", "49", "x")) "]}");
    sb_binding_t b = binding("whatsapp", "{\"phoneNumberId\":\"111\",\"appSecret\":\"" APP_SECRET "\"}");
    sb_binding_t rot = binding(
        "whatsapp", "{\"phoneNumberId\":\"111\",\"appSecret\":\"new\",\"appSecretPrevious\":\"" APP_SECRET "\"}");
    sb_binding_t none = binding("whatsapp", "{\"phoneNumberId\":\"111\"}");
    char sig[80];
    fake_req_t f = {0};
    assert_int_equal(parse_signed(&f, body, APP_SECRET, sig), 0);
    assert_int_equal(fake_verify(&f, 0, &b, 0), 0);
    assert_int_equal(fake_verify(&f, 0, &rot, 0), 0);
    assert_int_equal(fake_verify(&f, 0, &none, 0), -EPERM);
    assert_int_equal(fake_verify(&f, 0, NULL, 0), -EPERM);
    fake_free(&f);
    /* the signature of another secret, of another body, without its prefix, upper-case hex */
    fake_req_t g = {0};
    assert_int_equal(parse_signed(&g, body, "other", sig), 0);
    assert_int_equal(fake_verify(&g, 0, &b, 0), -EPERM);
    fake_free(&g);
    char other[80];
    mbed_hmac_hex(APP_SECRET, "{}", "sha256=", other, sizeof(other));
    fake_req_t h = {0};
    assert_int_equal(parse(&h, body, other), 0);
    assert_int_equal(fake_verify(&h, 0, &b, 0), -EPERM);
    fake_free(&h);
    mbed_hmac_hex(APP_SECRET, body, "", other, sizeof(other));
    fake_req_t k = {0};
    assert_int_equal(parse(&k, body, other), 0);
    assert_int_equal(fake_verify(&k, 0, &b, 0), -EPERM);
    fake_free(&k);
    mbed_hmac_hex(APP_SECRET, body, "sha256=", other, sizeof(other));
    for (char *p = other + 7; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    fake_req_t l = {0};
    assert_int_equal(parse(&l, body, other), 0);
    assert_int_equal(fake_verify(&l, 0, &b, 0), -EPERM);
    fake_free(&l);
    /* no signature header: 401 before any binding is looked up */
    fake_req_t m = {0};
    assert_int_equal(parse(&m, body, NULL), -EPERM);
    fake_free(&m);
    binding_free(&b);
    binding_free(&rot);
    binding_free(&none);
}

static int handshake(fake_req_t *f, const char *mode, const char *token, const char *challenge)
{
    if (mode)
        fake_query(f, "hub.mode", mode);
    if (token)
        fake_query(f, "hub.verify_token", token);
    if (challenge)
        fake_query(f, "hub.challenge", challenge);
    return fake_parse(f, "whatsapp", NULL, true);
}

static void test_subscription_check(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(handshake(&f, "subscribe", "vt-1", "1158201444"), 0);
    char want[128];
    mbed_sha_field("waverify", "vt-1", want, sizeof(want));
    assert_string_equal(f.in.fields[0], want);
    assert_string_equal(f.in.challenge, "1158201444");
    sb_binding_t b = binding("whatsapp", "{\"phoneNumberId\":\"111\",\"verifyToken\":\"vt-1\"}");
    sb_binding_t rot = binding("whatsapp", "{\"phoneNumberId\":\"111\",\"verifyToken\":\"vt-2\","
                                           "\"verifyTokenPrevious\":\"vt-1\"}");
    sb_binding_t other = binding("whatsapp", "{\"phoneNumberId\":\"111\",\"verifyToken\":\"vt-10\"}");
    assert_int_equal(fake_verify(&f, 0, &b, 0), 0);
    assert_int_equal(fake_verify(&f, 0, &rot, 0), 0);
    /* refusals of the GET are 403 */
    assert_int_equal(fake_verify(&f, 0, &other, 0), -EACCES);
    assert_string_equal(f.in.err.detail, "verification refused");
    assert_int_equal(fake_verify(&f, 0, NULL, 0), -EACCES);
    fake_free(&f);
    static const char *const bad[][3] = {
        {"unsubscribe", "vt-1", "c"},  {NULL, "vt-1", "c"},       {"subscribe", "", "c"},
        {"subscribe", NULL, "c"},      {"subscribe", "vt-1", ""}, {"subscribe", "vt-1", NULL},
        {"subscribe", "vt-1", "\xff"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_req_t g = {0};
        assert_int_equal(handshake(&g, bad[i][0], bad[i][1], bad[i][2]), -EACCES);
        assert_string_equal(g.in.err.detail, "verification refused");
        fake_free(&g);
    }
    binding_free(&b);
    binding_free(&rot);
    binding_free(&other);
}

static void test_config(void **state)
{
    (void)state;
    cJSON *cfg;
    sb_verr_t e;
    char fields[512], a[128], want[512];
    assert_int_equal(config_check("whatsapp",
                                  "{\"phoneNumberId\":\"111\",\"wabaId\":\"W1\",\"appSecret\":\"s\","
                                  "\"verifyToken\":\"vt\",\"accessToken\":\"EAAB\",\"displayPhone\":\"+49 1\"}",
                                  &cfg, &e),
                     0);
    binding_fields("whatsapp", cfg, fields, sizeof(fields));
    mbed_sha_field("waverify", "vt", a, sizeof(a));
    snprintf(want, sizeof(want), "whatsapp:111 %s wawaba:W1", a);
    assert_string_equal(fields, want);
    cJSON_Delete(cfg);
    /* the account id goes into the index as it is: no spaces */
    assert_int_equal(config_check("whatsapp", "{\"phoneNumberId\":\"111\",\"wabaId\":\"W 1\"}", &cfg, &e), -EINVAL);
    assert_string_equal(e.field, "config.wabaId");
    cJSON_Delete(cfg);
    assert_int_equal(config_check("whatsapp", "{\"wabaId\":\"W1\"}", &cfg, &e), -EINVAL);
    assert_string_equal(e.field, "config.phoneNumberId");
    cJSON_Delete(cfg);
}

static void test_send(void **state)
{
    (void)state;
    sb_config_t cfg = {0};
    cfg.graph_api_base = "http://graph.test/v21.0";
    cJSON *ch = cJSON_Parse("{\"phoneNumberId\":\"1 1\",\"accessToken\":\"EAAB\"}");
    sb_send_t s = {.platform = "whatsapp", .chat = "4911", .text = "hi"};
    sb_send_req_t r;
    char err[256] = "";
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, "http://graph.test/v21.0/1%201/messages");
    assert_non_null(strstr(r.headers, "Authorization: Bearer EAAB\r\n"));
    assert_string_equal(r.body, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\",\"to\":\"4911\","
                                "\"type\":\"text\",\"text\":{\"body\":\"hi\"}}");
    sb_send_req_free(&r);
    cJSON_Delete(ch);
    ch = cJSON_Parse("{\"phoneNumberId\":\"111\"}");
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "the channel has no accessToken to send with");
    cJSON_Delete(ch);
    char pmid[64];
    const char *ok = "{\"messages\":[{\"id\":\"wamid.X\"}]}";
    assert_int_equal(sb_send_result("whatsapp", ok, strlen(ok), pmid, sizeof(pmid), err, sizeof(err)),
                     SB_SEND_ACCEPTED);
    assert_string_equal(pmid, "wamid.X");
}

/* What a downloaded file is sent as (the incoming webhook, docs/incoming.md). */
static void test_media_kind(void **state)
{
    (void)state;
    const char *kind;
    char mime[128];
    static const struct {
        const char *ct, *bytes, *kind, *mime;
    } cases[] = {
        {"image/png", "x", "image", "image/png"},
        {"IMAGE/JPEG; charset=binary", "x", "image", "image/jpeg"},
        {"image/gif", "GIF89a", "document", "image/gif"}, /* not an image WhatsApp sends */
        {"application/pdf", "%PDF-1.4", "document", "application/pdf"},
        {"video/mp4", "x", "video", "video/mp4"},
        {"audio/ogg", "x", "audio", "audio/ogg"},
        /* no type, or octet-stream: the first bytes */
        {NULL, "\xff\xd8\xff\xe0JFIF", "image", "image/jpeg"},
        {"application/octet-stream", "\x89PNG\r\n\x1a\n....", "image", "image/png"},
        {"", "ID3\x03\x00", "audio", "audio/mpeg"},
        {"", "\xff\xfb\x90\x64", "audio", "audio/mpeg"},
        {"", "\xff\xf1\x50\x80", "audio", "audio/aac"},
        {"", "OggS\x00\x02", "audio", "audio/ogg"},
        {"", "#!AMR\n", "audio", "audio/amr"},
        {"", "\x01\x01\x01\x18" "ftypmp42", "video", "video/mp4"},
        {"", "\x01\x01\x01\x18" "ftyp3gp4", "video", "video/3gpp"},
        {"", "\x01\x01\x01\x18" "ftypM4A ", "audio", "audio/mp4"},
        {"", "%PDF-1.7", "document", "application/pdf"},
        {"", "PK\x03\x04", "document", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(sb_wa_media_kind(cases[i].ct, cases[i].bytes, strlen(cases[i].bytes), &kind, mime,
                                          sizeof(mime)),
                         0);
        assert_string_equal(kind, cases[i].kind);
        assert_string_equal(mime, cases[i].mime);
    }
    /* a web page where a file was expected, by its type or its bytes */
    static const char *const pages[][2] = {{"text/html; charset=utf-8", "<div>"},
                                           {"application/xhtml+xml", "<x/>"},
                                           {"application/octet-stream", "\xef\xbb\xbf \n<!DOCTYPE HTML><html>"},
                                           {NULL, "<html><head></head></html>"},
                                           {"image/png", "  <HTML lang=en>"}};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
        assert_int_equal(sb_wa_media_kind(pages[i][0], pages[i][1], strlen(pages[i][1]), &kind, mime, sizeof(mime)),
                         -EMEDIUMTYPE);
}

static void test_media_upload_and_send(void **state)
{
    (void)state;
    sb_config_t cfg = {0};
    cfg.graph_api_base = "http://graph.test/v21.0";
    cJSON *ch = cJSON_Parse("{\"phoneNumberId\":\"111\",\"accessToken\":\"EAAB\"}");
    sb_send_req_t r;
    size_t n;
    char err[256] = "";
    const char file[] = "\x89PNG\0bytes";
    assert_int_equal(sb_wa_upload_build(&cfg, ch, "image/png", "a \"b\".png", file, sizeof(file) - 1, &r, &n, err,
                                        sizeof(err)),
                     0);
    assert_string_equal(r.url, "http://graph.test/v21.0/111/media");
    assert_non_null(strstr(r.headers, "Authorization: Bearer EAAB\r\n"));
    const char *b = strstr(r.headers, "multipart/form-data; boundary=");
    assert_non_null(b);
    char boundary[64];
    b += strlen("multipart/form-data; boundary=");
    size_t bl = strcspn(b, "\r");
    memcpy(boundary, b, bl);
    boundary[bl] = '\0';
    char want[512];
    snprintf(want, sizeof(want),
             "--%s\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nimage/png\r\n"
             "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a %%22b%%22.png\"\r\n"
             "Content-Type: image/png\r\n\r\n",
             boundary, boundary, boundary);
    size_t wl = strlen(want);
    assert_true(n == wl + sizeof(file) - 1 + 4 + bl + 4);
    assert_memory_equal(r.body, want, wl);
    assert_memory_equal(r.body + wl, file, sizeof(file) - 1); /* the bytes as they are, NUL too */
    sb_send_req_free(&r);
    char id[64];
    const char *ans = "{\"id\":\"1234567\"}";
    assert_int_equal(sb_wa_upload_result(ans, strlen(ans), id, sizeof(id)), 0);
    assert_string_equal(id, "1234567");
    assert_int_equal(sb_wa_upload_result("{}", 2, id, sizeof(id)), -EINVAL);

    /* sent by the media id: the text as the caption, or after an audio as a text of its own */
    sb_send_t s = {.platform = "whatsapp", .chat = "4911", .text = "see", .media_id = "M1", .media_kind = "document",
                   .media_name = "cv.pdf"};
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), 0);
    assert_string_equal(r.body, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":\"individual\",\"to\":\"4911\","
                                "\"type\":\"document\",\"document\":{\"id\":\"M1\",\"filename\":\"cv.pdf\",\"caption\":\"see\"}}");
    assert_false(r.more);
    sb_send_req_free(&r);
    s.media_kind = "audio";
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), 0);
    assert_non_null(strstr(r.body, "\"type\":\"audio\",\"audio\":{\"id\":\"M1\"}}"));
    assert_true(r.more);
    sb_send_req_free(&r);
    s.part = 1;
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), 0);
    assert_non_null(strstr(r.body, "\"type\":\"text\",\"text\":{\"body\":\"see\"}}"));
    assert_false(r.more);
    sb_send_req_free(&r);
    s.text = "";
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), -EINVAL); /* no part 1 */
    cJSON_Delete(ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_entry_multi_change),
        cmocka_unit_test(test_contacts_and_statuses),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_media),
        cmocka_unit_test(test_location),
        cmocka_unit_test(test_clicks),
        cmocka_unit_test(test_media_errors_name_the_field),
        cmocka_unit_test(test_model_media_id),
        cmocka_unit_test(test_message_cap),
        cmocka_unit_test(test_hub_signature),
        cmocka_unit_test(test_subscription_check),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_send),
        cmocka_unit_test(test_media_kind),
        cmocka_unit_test(test_media_upload_and_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
