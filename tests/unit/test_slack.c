/* Unit tests for src/channels/slack.c through its operations (platform.h): the webhook's
 * bodies (seed 000's flat body as JSON and as a form, the Events API's event_callback and
 * url_verification), files as attachments, block_actions interactivity payloads as postbacks,
 * errors that name the field, the v0 signature with its timestamp window and the legacy
 * verification token against a binding, the config schema and index field, and
 * chat.postMessage and its verdicts. Signatures are computed here with mbedTLS's HMAC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>

#include "test_channels_fake.h"

#define NOW    1700000000
#define SECRET "8f742231b10e8888abcd99yyyzzz85a5"
#define FLAT                                                                                                           \
    "{\"token\":\"tok1\",\"team_id\":\"T1\",\"channel_id\":\"C1\",\"user_id\":\"U1\",\"text\":\"hi there\","           \
    "\"event_ts\":\"1700000000.000100\"}"
#define EVENT(ev) "{\"type\":\"event_callback\",\"team_id\":\"T1\",\"event_id\":\"Ev1\",\"event\":" ev "}"

static int parse(fake_req_t *f, const char *body)
{
    return fake_parse(f, "slack", body, false);
}

static int parse_form(fake_req_t *f, const char *body)
{
    fake_header(f, "content-type", "application/x-www-form-urlencoded; charset=utf-8");
    return parse(f, body);
}

static void test_flat_json(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(parse(&f, FLAT), 0);
    assert_int_equal(f.in.nfields, 1);
    assert_string_equal(f.in.fields[0], "slack:T1");
    assert_int_equal(f.in.nmsgs, 1);
    const sb_in_msg_t *m = &f.in.msgs[0];
    assert_string_equal(m->chat, "C1");
    assert_string_equal(m->from, "U1");
    assert_string_equal(m->text, "hi there");
    assert_string_equal(m->pmid, "1700000000.000100");
    assert_string_equal(m->event_id, "T1:C1:1700000000.000100");
    assert_null(m->thread);
    assert_null(f.in.challenge);
    fake_free(&f);

    /* thread_ts is kept; the team may come from ?teamId when the body has none */
    fake_req_t g = {0};
    fake_query(&g, "teamId", "T9");
    assert_int_equal(parse(&g, "{\"channel_id\":\"C1\",\"text\":\"x\",\"event_ts\":\"1\",\"thread_ts\":\"0.5\"}"), 0);
    assert_string_equal(g.in.fields[0], "slack:T9");
    assert_string_equal(g.in.msgs[0].thread, "0.5");
    assert_string_equal(g.in.msgs[0].event_id, ":C1:1"); /* the event id takes the body's team */
    fake_free(&g);
}

static void test_form(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(parse_form(&f, "token=tok1&team_id=T1&channel_id=C1&user_id=U1&text=hello+w%C3%B6rld%21"
                                    "&event_ts=42"),
                     0);
    assert_string_equal(f.in.fields[0], "slack:T1");
    assert_string_equal(f.in.msgs[0].text, "hello w\xc3\xb6rld!");
    assert_string_equal(f.in.msgs[0].event_id, "T1:C1:42");
    fake_free(&f);

    /* a field named twice, a NUL, a control character, broken UTF-8: not a valid form */
    const char *bad[] = {"team_id=T1&team_id=T2&channel_id=C&text=x&event_ts=1", "team_id=T1&text=a%00b",
                         "team_id=T1&text=a%07b", "team_id=T1&text=%C3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_req_t g = {0};
        assert_int_equal(parse_form(&g, bad[i]), -EINVAL);
        assert_string_equal(g.in.err.detail, "the body is not a valid form");
        assert_string_equal(g.in.err.field, "");
        fake_free(&g);
    }
    /* a form body sent as JSON is not JSON */
    fake_req_t h = {0};
    assert_int_equal(parse(&h, "team_id=T1"), -EINVAL);
    assert_string_equal(h.in.err.detail, "the body is not valid JSON");
    fake_free(&h);
}

static void test_events_api(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(
        parse(&f, EVENT("{\"type\":\"message\",\"channel\":\"C2\",\"user\":\"U2\",\"text\":\"yo\",\"ts\":\"9.1\","
                        "\"thread_ts\":\"8.0\"}")),
        0);
    assert_int_equal(f.in.nmsgs, 1);
    assert_string_equal(f.in.msgs[0].event_id, "Ev1");
    assert_string_equal(f.in.msgs[0].chat, "C2");
    assert_string_equal(f.in.msgs[0].pmid, "9.1");
    assert_string_equal(f.in.msgs[0].thread, "8.0");
    fake_free(&f);

    /* acknowledged, not stored: bot messages (our own replies), edits, other events, envelopes */
    const char *ignored[] = {
        EVENT("{\"type\":\"message\",\"channel\":\"C2\",\"text\":\"me\",\"bot_id\":\"B1\"}"),
        EVENT("{\"type\":\"message\",\"subtype\":\"message_changed\",\"channel\":\"C2\"}"),
        EVENT("{\"type\":\"reaction_added\"}"),
        "{\"type\":\"app_rate_limited\",\"team_id\":\"T1\"}",
    };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        fake_req_t g = {0};
        assert_int_equal(parse(&g, ignored[i]), 0);
        assert_int_equal(g.in.nmsgs, 0);
        assert_string_equal(g.in.fields[0], "slack:T1"); /* still verified before it is acknowledged */
        fake_free(&g);
    }
}

static void test_url_verification(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(
        parse(&f, "{\"type\":\"url_verification\",\"token\":\"t\",\"team_id\":\"T1\",\"challenge\":\"c\"}"), 0);
    assert_string_equal(f.in.challenge, "c");
    assert_int_equal(f.in.nmsgs, 0);
    fake_free(&f);
    fake_req_t g = {0};
    assert_int_equal(parse(&g, "{\"type\":\"url_verification\",\"team_id\":\"T1\"}"), -EINVAL);
    assert_err_field(&g, "challenge");
    fake_free(&g);
}

/* Every 400 names the member at fault. */
static void test_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"team_id\":7}", "team_id"},
        {"{\"team_id\":\"T1\",\"text\":\"x\",\"event_ts\":\"1\"}", "channel_id"},
        {"{\"team_id\":\"T1\",\"channel_id\":\"C\",\"event_ts\":\"1\"}", "text"},
        {"{\"team_id\":\"T1\",\"channel_id\":\"C\",\"text\":\" \\n\",\"event_ts\":\"1\"}", "text"},
        {"{\"team_id\":\"T1\",\"channel_id\":\"C\",\"text\":\"x\"}", "event_ts"},
        {"{\"team_id\":\"T1\",\"channel_id\":\"C\",\"text\":\"x\",\"event_ts\":\"1\",\"thread_ts\":1}", "thread_ts"},
        {"{\"type\":\"event_callback\",\"team_id\":\"T1\",\"event_id\":\"E\",\"event\":[]}", "event"},
        {"{\"type\":\"event_callback\",\"team_id\":\"T1\",\"event\":{\"type\":\"message\"}}", "event_id"},
        {EVENT("{\"type\":\"message\",\"channel\":\"C\"}"), "event.text"},
        {EVENT("{\"type\":\"message\",\"text\":\"x\"}"), "event.channel"},
        {EVENT("{\"type\":\"message\",\"channel\":\"C\",\"text\":\"x\",\"thread_ts\":{}}"), "event.thread_ts"},
        {EVENT("{\"type\":\"message\",\"channel\":\"C\",\"text\":\"x\",\"user\":[1]}"), "event.user"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, cases[i].body), -EINVAL);
        assert_err_field(&f, cases[i].field);
        fake_free(&f);
    }
    /* the body itself */
    fake_req_t g = {0};
    assert_int_equal(parse(&g, "[1]"), -EINVAL);
    assert_string_equal(g.in.err.detail, "the body must be a JSON object");
    assert_string_equal(g.in.err.field, "");
    fake_free(&g);
    fake_req_t h = {0};
    assert_int_equal(parse(&h, "{\"team_id\":\"T1\",\"team_id\":\"T2\"}"), -EINVAL);
    assert_non_null(strstr(h.in.err.detail, "the body"));
    fake_free(&h);
}

/* No team anywhere, or one no index field can hold: nothing can verify it (401). */
static void test_no_identity(void **state)
{
    (void)state;
    const char *bodies[] = {"{\"channel_id\":\"C\",\"text\":\"x\",\"event_ts\":\"1\"}",
                            "{\"team_id\":\"\",\"channel_id\":\"C\",\"text\":\"x\",\"event_ts\":\"1\"}",
                            "{\"team_id\":\"T 1\",\"channel_id\":\"C\",\"text\":\"x\",\"event_ts\":\"1\"}",
                            "{\"team_id\":\"{T}\",\"channel_id\":\"C\",\"text\":\"x\",\"event_ts\":\"1\"}"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, bodies[i]), -EPERM);
        fake_free(&f);
    }
}

/* A request signed with secret at ts (NULL: unsigned), parsed. */
static void signed_req(fake_req_t *f, const char *secret, const char *ts, const char *body, char sig[80])
{
    if (secret) {
        char base[4096];
        snprintf(base, sizeof(base), "v0:%s:%s", ts, body);
        mbed_hmac_hex(secret, base, "v0=", sig, 80);
        fake_header(f, "x-slack-signature", sig);
        fake_header(f, "x-slack-request-timestamp", ts);
    }
    assert_int_equal(parse(f, body), 0);
}

static void test_v0_signature(void **state)
{
    (void)state;
    sb_binding_t b = binding("slack", "{\"teamId\":\"T1\",\"signingSecret\":\"" SECRET "\"}");
    char sig[80];
    static const struct {
        int64_t skew;
        int rc;
    } window[] = {{0, 0}, {300, 0}, {-300, 0}, {301, -EPERM}, {-301, -EPERM}};
    for (size_t i = 0; i < sizeof(window) / sizeof(window[0]); i++) {
        fake_req_t f = {0};
        signed_req(&f, SECRET, "1700000000", FLAT, sig);
        assert_int_equal(fake_verify(&f, 0, &b, NOW + window[i].skew), window[i].rc);
        assert_int_equal(f.in.bound[0].verified, window[i].rc == 0);
        if (window[i].rc == 0) /* the binding's ids are kept, not its record */
            assert_string_equal(f.in.bound[0].cid, b.cid);
        fake_free(&f);
    }
    /* another secret, no signature, another type of binding, no binding */
    fake_req_t g = {0};
    signed_req(&g, "other", "1700000000", FLAT, sig);
    assert_int_equal(fake_verify(&g, 0, &b, NOW), -EPERM);
    fake_free(&g);
    fake_req_t h = {0};
    signed_req(&h, NULL, NULL, FLAT, sig);
    assert_int_equal(fake_verify(&h, 0, &b, NOW), -EPERM);
    /* a binding with a signing secret takes no token, even the right one */
    sb_binding_t both = binding("slack", "{\"teamId\":\"T1\",\"signingSecret\":\"s\",\"verificationToken\":\"tok1\"}");
    assert_int_equal(fake_verify(&h, 0, &both, NOW), -EPERM);
    binding_free(&both);
    fake_free(&h);
    fake_req_t k = {0};
    signed_req(&k, SECRET, "1700000000", FLAT, sig);
    sb_binding_t tg = binding("telegram", "{\"teamId\":\"T1\",\"signingSecret\":\"" SECRET "\"}");
    assert_int_equal(fake_verify(&k, 0, &tg, NOW), -EPERM);
    assert_int_equal(fake_verify(&k, 0, NULL, NOW), -EPERM);
    binding_free(&tg);
    fake_free(&k);
    /* the rotation twin verifies as well */
    sb_binding_t rot =
        binding("slack", "{\"teamId\":\"T1\",\"signingSecret\":\"new\",\"signingSecretPrevious\":\"" SECRET "\"}");
    fake_req_t r = {0};
    signed_req(&r, SECRET, "1700000000", FLAT, sig);
    assert_int_equal(fake_verify(&r, 0, &rot, NOW), 0);
    fake_free(&r);
    /* form bodies are signed as they were sent */
    fake_req_t s = {0};
    const char *form = "team_id=T1&channel_id=C1&text=a+b&event_ts=1";
    char base[256];
    snprintf(base, sizeof(base), "v0:1700000000:%s", form);
    mbed_hmac_hex(SECRET, base, "v0=", sig, 80);
    fake_header(&s, "x-slack-signature", sig);
    fake_header(&s, "x-slack-request-timestamp", "1700000000");
    assert_int_equal(parse_form(&s, form), 0);
    assert_int_equal(fake_verify(&s, 0, &b, NOW), 0);
    fake_free(&s);
    binding_free(&rot);
    binding_free(&b);
}

static void test_legacy_token(void **state)
{
    (void)state;
    sb_binding_t b = binding("slack", "{\"teamId\":\"T1\",\"verificationToken\":\"tok1\"}");
    sb_binding_t rot = binding("slack", "{\"teamId\":\"T1\",\"verificationToken\":\"tok2\","
                                        "\"verificationTokenPrevious\":\"tok1\"}");
    sb_binding_t other = binding("slack", "{\"teamId\":\"T1\",\"verificationToken\":\"tok10\"}");
    sb_binding_t none = binding("slack", "{\"teamId\":\"T1\"}");
    fake_req_t f = {0};
    assert_int_equal(parse(&f, FLAT), 0);
    assert_int_equal(fake_verify(&f, 0, &b, NOW), 0);
    assert_int_equal(fake_verify(&f, 0, &rot, NOW), 0);
    assert_int_equal(fake_verify(&f, 0, &other, NOW), -EPERM);
    assert_int_equal(fake_verify(&f, 0, &none, NOW), -EPERM); /* no secret accepts nothing */
    fake_free(&f);
    fake_req_t g = {0}; /* no token in the body */
    assert_int_equal(parse(&g, "{\"team_id\":\"T1\",\"channel_id\":\"C\",\"text\":\"x\",\"event_ts\":\"1\"}"), 0);
    assert_int_equal(fake_verify(&g, 0, &b, NOW), -EPERM);
    fake_free(&g);
    binding_free(&b);
    binding_free(&rot);
    binding_free(&other);
    binding_free(&none);
}

#define FILE_PNG                                                                                                       \
    "{\"id\":\"F1\",\"name\":\"shoe.png\",\"mimetype\":\"image/png\",\"url_private\":"                                 \
    "\"https://files.slack.com/files-pri/T1-F1/shoe.png\",\"mode\":\"hosted\"}"

static void test_files(void **state)
{
    (void)state;
    /* a message with a file and a text; older workspaces mark it file_share */
    static const char *const bodies[] = {
        EVENT("{\"type\":\"message\",\"channel\":\"C2\",\"user\":\"U2\",\"text\":\"this one\",\"ts\":\"9.1\","
              "\"files\":[" FILE_PNG "]}"),
        EVENT("{\"type\":\"message\",\"subtype\":\"file_share\",\"channel\":\"C2\",\"user\":\"U2\",\"text\":"
              "\"this one\",\"ts\":\"9.1\",\"files\":[" FILE_PNG "]}"),
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, bodies[i]), 0);
        assert_int_equal(f.in.nmsgs, 1);
        const sb_in_msg_t *m = &f.in.msgs[0];
        assert_string_equal(m->event_id, "Ev1");
        assert_string_equal(m->text, "this one");
        assert_content(m, "{\"attachments\":[{\"url\":\"https://files.slack.com/files-pri/T1-F1/shoe.png\","
                          "\"name\":\"shoe.png\",\"contentType\":\"image/png\"}]}");
        fake_free(&f);
    }
    /* files only (an empty text is no text); files without url_private are left out */
    fake_req_t g = {0};
    assert_int_equal(parse(&g, EVENT("{\"type\":\"message\",\"channel\":\"C2\",\"user\":\"U2\",\"text\":\"\","
                                     "\"files\":[{\"id\":\"F0\",\"mode\":\"tombstone\"},{\"id\":\"F2\","
                                     "\"file_access\":\"check_file_info\"}," FILE_PNG
                                     ",{\"name\":\"r.pdf\",\"url_private\":\"https://files.slack.com/r.pdf\"}]}")),
                     0);
    assert_int_equal(g.in.nmsgs, 1);
    assert_null(g.in.msgs[0].text);
    assert_content(&g.in.msgs[0], "{\"attachments\":[{\"url\":\"https://files.slack.com/files-pri/T1-F1/shoe.png\","
                                  "\"name\":\"shoe.png\",\"contentType\":\"image/png\"},{\"url\":"
                                  "\"https://files.slack.com/r.pdf\",\"name\":\"r.pdf\"}]}");
    fake_free(&g);
    /* no file left and no text: acknowledged */
    fake_req_t h = {0};
    assert_int_equal(parse(&h, EVENT("{\"type\":\"message\",\"channel\":\"C2\",\"text\":\"\",\"files\":[{\"id\":"
                                     "\"F0\",\"mode\":\"tombstone\"}]}")),
                     0);
    assert_int_equal(h.in.nmsgs, 0);
    fake_free(&h);
    /* at most the model's 10 */
    char body[8192];
    size_t n = (size_t)snprintf(body, sizeof(body), "%s",
                                "{\"type\":\"event_callback\",\"team_id\":\"T1\",\"event_id\":\"Ev1\",\"event\":{"
                                "\"type\":\"message\",\"channel\":\"C2\",\"files\":[");
    for (int i = 0; i < 12; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"url_private\":\"https://files.slack.com/%d\"}",
                              i ? "," : "", i);
    snprintf(body + n, sizeof(body) - n, "]}}");
    fake_req_t k = {0};
    assert_int_equal(parse(&k, body), 0);
    cJSON *c = cJSON_Parse(k.in.msgs[0].content);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, "attachments")), 10);
    cJSON_Delete(c);
    fake_free(&k);
}

/* A form body with one field, payload = json. */
static void payload_form(const char *json, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "payload=");
    for (const unsigned char *p = (const unsigned char *)json; *p && n + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
    }
    out[n] = '\0';
}

#define ACTIONS(actions)                                                                                               \
    "{\"type\":\"block_actions\",\"token\":\"tok1\",\"team\":{\"id\":\"T1\",\"domain\":\"d\"},\"user\":{\"id\":"       \
    "\"U7\",\"username\":\"ada\",\"team_id\":\"T1\"},\"api_app_id\":\"A1\",\"container\":{\"type\":\"message\","       \
    "\"message_ts\":\"9.1\",\"channel_id\":\"C2\",\"thread_ts\":\"8.0\"},\"trigger_id\":\"13345.7384.d8c1\","          \
    "\"channel\":{\"id\":\"C2\",\"name\":\"support\"},\"response_url\":\"https://hooks.slack.com/actions/x\","         \
    "\"actions\":[" actions "]}"
#define BUTTON(title, value)                                                                                           \
    "{\"action_id\":\"sb_b0\",\"block_id\":\"b\",\"type\":\"button\",\"text\":{\"type\":\"plain_text\",\"text\":"      \
    "\"" title "\",\"emoji\":true},\"value\":\"" value "\",\"action_ts\":\"1548426417.840180\"}"

static void test_block_actions(void **state)
{
    (void)state;
    char form[8192], sig[80];
    payload_form(ACTIONS(BUTTON("Small", "SIZE_S")), form, sizeof(form));
    fake_req_t f = {0};
    char base[sizeof(form) + 32];
    snprintf(base, sizeof(base), "v0:1700000000:%s", form);
    mbed_hmac_hex(SECRET, base, "v0=", sig, sizeof(sig));
    fake_header(&f, "x-slack-signature", sig);
    fake_header(&f, "x-slack-request-timestamp", "1700000000");
    assert_int_equal(parse_form(&f, form), 0);
    assert_int_equal(f.in.nfields, 1);
    assert_string_equal(f.in.fields[0], "slack:T1");
    assert_int_equal(f.in.nmsgs, 1);
    const sb_in_msg_t *m = &f.in.msgs[0];
    assert_string_equal(m->event_id, "T1:13345.7384.d8c1");
    assert_string_equal(m->chat, "C2");
    assert_string_equal(m->from, "U7");
    assert_string_equal(m->thread, "8.0");
    assert_string_equal(m->pmid, "1548426417.840180");
    assert_null(m->text);
    assert_content(m, "{\"postback\":{\"title\":\"Small\",\"payload\":\"SIZE_S\"}}");
    /* signed as it was sent, like any form body */
    sb_binding_t b = binding("slack", "{\"teamId\":\"T1\",\"signingSecret\":\"" SECRET "\"}");
    assert_int_equal(fake_verify(&f, 0, &b, NOW), 0);
    binding_free(&b);
    /* a legacy binding: the payload's token */
    sb_binding_t legacy = binding("slack", "{\"teamId\":\"T1\",\"verificationToken\":\"tok1\"}");
    assert_int_equal(fake_verify(&f, 0, &legacy, NOW), 0);
    binding_free(&legacy);
    fake_free(&f);

    /* a link button (no value) is left out; every button with a value is a click */
    payload_form(
        ACTIONS("{\"type\":\"button\",\"action_id\":\"sb_b1\",\"text\":{\"type\":\"plain_text\",\"text\":"
                "\"Guide\"},\"url\":\"https://x.test\"},{\"type\":\"static_select\",\"selected_option\":{}}," BUTTON(
                    "A", "PA") "," BUTTON("B", "PB")),
        form, sizeof(form));
    fake_req_t g = {0};
    assert_int_equal(parse_form(&g, form), 0);
    assert_int_equal(g.in.nmsgs, 2);
    assert_string_equal(g.in.msgs[0].event_id, "T1:13345.7384.d8c1");
    assert_string_equal(g.in.msgs[1].event_id, "T1:13345.7384.d8c1:1");
    assert_content(&g.in.msgs[1], "{\"postback\":{\"title\":\"B\",\"payload\":\"PB\"}}");
    fake_free(&g);

    /* acknowledged: other payload types, a click in a modal (no channel) */
    static const char *const ignored[] = {
        "{\"type\":\"view_submission\",\"team\":{\"id\":\"T1\"},\"user\":{\"id\":\"U7\"},\"view\":{}}",
        "{\"type\":\"shortcut\",\"team\":{\"id\":\"T1\"},\"callback_id\":\"c\",\"trigger_id\":\"t\"}",
        "{\"type\":\"block_actions\",\"team\":{\"id\":\"T1\"},\"user\":{\"id\":\"U7\"},\"container\":{\"type\":"
        "\"view\",\"view_id\":\"V1\"},\"trigger_id\":\"t\",\"actions\":[" BUTTON("A", "PA") "]}",
    };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        payload_form(ignored[i], form, sizeof(form));
        fake_req_t h = {0};
        assert_int_equal(parse_form(&h, form), 0);
        assert_int_equal(h.in.nmsgs, 0);
        assert_string_equal(h.in.fields[0], "slack:T1");
        fake_free(&h);
    }
    /* an enterprise install may name the team only on the user */
    payload_form("{\"type\":\"block_actions\",\"team\":null,\"user\":{\"id\":\"U7\",\"team_id\":\"T3\"},"
                 "\"channel\":{\"id\":\"C2\"},\"trigger_id\":\"t\",\"actions\":[" BUTTON("A", "PA") "]}",
                 form, sizeof(form));
    fake_req_t k = {0};
    assert_int_equal(parse_form(&k, form), 0);
    assert_string_equal(k.in.fields[0], "slack:T3");
    assert_string_equal(k.in.msgs[0].event_id, "T3:t");
    fake_free(&k);
    /* no channel object: the container's channel */
    payload_form(
        "{\"type\":\"block_actions\",\"team\":{\"id\":\"T1\"},\"user\":{\"id\":\"U7\"},\"container\":{"
        "\"type\":\"message\",\"channel_id\":\"C5\"},\"trigger_id\":\"t\",\"actions\":[" BUTTON("A", "PA") "]}",
        form, sizeof(form));
    fake_req_t l = {0};
    assert_int_equal(parse_form(&l, form), 0);
    assert_string_equal(l.in.msgs[0].chat, "C5");
    assert_null(l.in.msgs[0].thread);
    fake_free(&l);
}

static void test_media_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } events[] = {
        {EVENT("{\"type\":\"message\",\"channel\":\"C\",\"files\":{}}"), "event.files"},
        {EVENT("{\"type\":\"message\",\"channel\":\"C\",\"files\":[1]}"), "event.files"},
        {EVENT("{\"type\":\"message\",\"channel\":\"C\",\"files\":[{\"url_private\":7}]}"), "event.files.url_private"},
        {EVENT(
             "{\"type\":\"message\",\"channel\":\"C\",\"files\":[{\"url_private\":\"https://f.test/x\",\"name\":[]}]}"),
         "event.files.name"},
        {EVENT("{\"type\":\"message\",\"channel\":\"C\",\"files\":[{\"mimetype\":false}]}"), "event.files.mimetype"},
        {EVENT("{\"type\":\"message\",\"channel\":\"C\",\"text\":5,\"files\":[]}"), "event.text"},
    };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, events[i].body), -EINVAL);
        assert_err_field(&f, events[i].field);
        fake_free(&f);
    }
    static const struct {
        const char *json, *field;
    } payloads[] = {
        {"{\"team\":{\"id\":\"T1\"}}", "payload.type"},
        {"{\"type\":7}", "payload.type"},
        {"{\"type\":\"block_actions\",\"team\":{\"id\":5}}", "payload.team.id"},
        {"{\"type\":\"block_actions\",\"team\":{\"id\":\"T1\"},\"actions\":{}}", "payload.actions"},
        {"{\"type\":\"block_actions\",\"team\":{\"id\":\"T1\"},\"user\":{\"id\":1},\"actions\":[]}", "payload.user.id"},
        {"{\"type\":\"block_actions\",\"team\":{\"id\":\"T1\"},\"user\":{\"id\":\"U\"},\"channel\":{\"id\":\"C\"},"
         "\"actions\":[]}",
         "payload.trigger_id"},
        {ACTIONS("7"), "payload.actions"},
        {ACTIONS("{\"type\":\"button\",\"value\":5}"), "payload.actions.value"},
        {ACTIONS("{\"type\":\"button\",\"value\":\" \"}"), "payload.actions.value"},
        {ACTIONS("{\"type\":\"button\",\"value\":\"v\",\"text\":{\"text\":1}}"), "payload.actions.text.text"},
        {"[1]", "payload"},
        {"{\"type\":", "payload"},
    };
    for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
        char form[4096];
        payload_form(payloads[i].json, form, sizeof(form));
        fake_req_t f = {0};
        assert_int_equal(parse_form(&f, form), -EINVAL);
        assert_err_field(&f, payloads[i].field);
        fake_free(&f);
    }
}

static void test_config(void **state)
{
    (void)state;
    cJSON *cfg;
    sb_verr_t e;
    char fields[512];
    assert_int_equal(
        config_check("slack", "{\"teamId\":\"T1\",\"signingSecret\":\"s\",\"botToken\":\"xoxb\"}", &cfg, &e), 0);
    binding_fields("slack", cfg, fields, sizeof(fields));
    assert_string_equal(fields, "slack:T1");
    cJSON_Delete(cfg);
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"signingSecret\":\"s\"}", "config.teamId"},
        {"{\"teamId\":\"T 1\"}", "config.teamId"},
        {"{\"teamId\":\"T1\",\"botToken\":\"\"}", "config.botToken"},
        {"{\"teamId\":\"T1\",\"appId\":\"x\"}", "config.appId"},
        {"{\"teamId\":null}", "config.teamId"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(config_check("slack", bad[i].json, &cfg, &e), -EINVAL);
        assert_string_equal(e.field, bad[i].field);
        cJSON_Delete(cfg);
    }
    const char *const *s = sb_platform_find("slack")->secrets;
    size_t n = 0;
    for (; s[n]; n++)
        assert_string_not_equal(s[n], "teamId");
    assert_int_equal(n, 5);
}

static void test_send(void **state)
{
    (void)state;
    sb_config_t cfg = {0};
    cfg.slack_api_base = "http://slack.test/api";
    cJSON *ch = cJSON_Parse("{\"teamId\":\"T1\",\"botToken\":\"xoxb-1\"}");
    sb_send_t s = {.platform = "slack", .chat = "C1", .text = "hello", .thread = "8.0"};
    sb_send_req_t r;
    char err[256] = "";
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, "http://slack.test/api/chat.postMessage");
    assert_string_equal(r.shown_url, r.url);
    assert_non_null(strstr(r.headers, "Authorization: Bearer xoxb-1\r\n"));
    assert_string_equal(r.body, "{\"channel\":\"C1\",\"text\":\"hello\",\"thread_ts\":\"8.0\"}");
    sb_send_req_free(&r);
    s.thread = "";
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), 0);
    assert_string_equal(r.body, "{\"channel\":\"C1\",\"text\":\"hello\"}");
    sb_send_req_free(&r);
    cJSON_Delete(ch);
    ch = cJSON_Parse("{\"teamId\":\"T1\"}");
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "the channel has no botToken to send with");
    cJSON_Delete(ch);

    char pmid[64];
    const char *ok = "{\"ok\":true,\"ts\":\"171.5\"}";
    assert_int_equal(sb_send_result("slack", ok, strlen(ok), pmid, sizeof(pmid), err, sizeof(err)), SB_SEND_ACCEPTED);
    assert_string_equal(pmid, "171.5");
    const char *limited = "{\"ok\":false,\"error\":\"ratelimited\"}";
    assert_int_equal(sb_send_result("slack", limited, strlen(limited), pmid, sizeof(pmid), err, sizeof(err)),
                     SB_SEND_RETRY);
    assert_string_equal(err, "slack: ratelimited");
    const char *gone = "{\"ok\":false,\"error\":\"channel_not_found\"}";
    assert_int_equal(sb_send_result("slack", gone, strlen(gone), pmid, sizeof(pmid), err, sizeof(err)),
                     SB_SEND_REFUSED);
    assert_int_equal(sb_send_result("slack", "<html>", 6, pmid, sizeof(pmid), err, sizeof(err)), SB_SEND_REFUSED);
    assert_string_equal(err, "slack: no \"ok\":true in the answer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_json),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_events_api),
        cmocka_unit_test(test_url_verification),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_no_identity),
        cmocka_unit_test(test_v0_signature),
        cmocka_unit_test(test_legacy_token),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_block_actions),
        cmocka_unit_test(test_media_errors_name_the_field),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
