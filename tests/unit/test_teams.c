/* Unit tests for src/channels/teams.c through its operations (platform.h): Activity parsing
 * (message, other activity types, files as attachments, the "28:" bot id, the bearer token),
 * errors that name the field, the serviceUrl allow-list rule, the token verified
 * against a channel's inline key set (a key generated here, tokens signed here) with the
 * allow-list checked only once the token holds, and the activity a reply posts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/rsa.h>
#include <uv.h>

#include "switchboard/alloc.h"
#include "switchboard/text.h"
#include "test_channels_fake.h"

#define NOW    1700000000
#define APP    "5f1c2a9e-0000-4000-8000-000000000001"
#define SVC    "https://smba.trafficmanager.net/emea/"
#define ISSUER "https://api.botframework.com"
#define HDR_K1 "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}"
#define ACT(x) "{\"type\":\"message\",\"id\":\"act-1\",\"channelId\":\"msteams\",\"serviceUrl\":\"" SVC "\"," x "}"
#define PARTIES                                                                                                        \
    "\"from\":{\"id\":\"29:u1\",\"name\":\"Ada\"},\"conversation\":{\"id\":\"a:conv1\"},\"recipient\":{\"id\":"        \
    "\"28:" APP "\"}"
#define MESSAGE ACT(PARTIES ",\"text\":\"hello\"")
#define OTHERS  "\"from\":{\"id\":\"29:u1\"},\"conversation\":{\"id\":\"c\"},\"text\":\"x\","

static mbedtls_ctr_drbg_context drbg;
static mbedtls_rsa_context key;
static char *jwks_json; /* {"keys":[k1, endorsed for msteams]} */
static uv_loop_t loop;
static sb_teams_keys_t *keys;

static int fixed_entropy(void *ctx, unsigned char *out, size_t n)
{
    unsigned *counter = ctx;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)((*counter)++ * 131u);
    return 0;
}

static char *b64url(const void *data, size_t n)
{
    char *s = malloc(sb_base64url_len(n) + 1);
    assert_non_null(s);
    sb_base64url_encode(data, n, s);
    return s;
}

static char *mpi_b64url(const mbedtls_mpi *x)
{
    unsigned char buf[512];
    size_t n = mbedtls_mpi_size(x);
    assert_true(n <= sizeof(buf));
    assert_int_equal(mbedtls_mpi_write_binary(x, buf, n), 0);
    return b64url(buf, n);
}

static int setup(void **state)
{
    (void)state;
    static unsigned counter;
    static const char pers[] = "switchboard test_teams";
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_rsa_init(&key, MBEDTLS_RSA_PKCS_V15, 0);
    if (mbedtls_ctr_drbg_seed(&drbg, fixed_entropy, &counter, (const unsigned char *)pers, sizeof(pers) - 1) ||
        mbedtls_rsa_gen_key(&key, mbedtls_ctr_drbg_random, &drbg, 2048, 65537))
        return -1;
    mbedtls_mpi n, e;
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&e);
    mbedtls_rsa_export(&key, &n, NULL, NULL, NULL, &e);
    char *n64 = mpi_b64url(&n), *e64 = mpi_b64url(&e);
    jwks_json = malloc(strlen(n64) + 256);
    sprintf(jwks_json,
            "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"k1\",\"n\":\"%s\",\"e\":\"%s\","
            "\"endorsements\":[\"msteams\"]}]}",
            n64, e64);
    free(n64);
    free(e64);
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&e);
    if (uv_loop_init(&loop) != 0)
        return -1;
    keys = sb_teams_keys_new(&loop, NULL); /* inline key sets only: no fetch, no client */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sb_teams_keys_free(keys);
    uv_loop_close(&loop);
    free(jwks_json);
    mbedtls_rsa_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    return 0;
}

/* "Bearer " + a token signed by the key with the Bot Framework's issuer; aud and the
 * serviceurl claim given. */
static char *bearer(const char *aud, const char *service_url)
{
    char payload[1024];
    snprintf(payload, sizeof(payload),
             "{\"iss\":\"" ISSUER "\",\"aud\":\"%s\",\"exp\":%d,\"nbf\":%d,\"serviceurl\":\"%s\"}", aud, NOW + 3600,
             NOW - 60, service_url);
    char *h = b64url(HDR_K1, strlen(HDR_K1)), *p = b64url(payload, strlen(payload));
    size_t cap = strlen(h) + strlen(p) + 1024;
    char *t = malloc(cap);
    assert_non_null(t);
    int n = snprintf(t, cap, "Bearer %s.%s", h, p);
    unsigned char hash[32], sig[512];
    mbedtls_sha256_ret((const unsigned char *)t + 7, (size_t)n - 7, hash, 0);
    assert_int_equal(mbedtls_rsa_pkcs1_sign(&key, mbedtls_ctr_drbg_random, &drbg, MBEDTLS_RSA_PRIVATE,
                                            MBEDTLS_MD_SHA256, 32, hash, sig),
                     0);
    char *s = b64url(sig, mbedtls_rsa_get_len(&key));
    snprintf(t + n, cap - (size_t)n, ".%s", s);
    free(h);
    free(p);
    free(s);
    return t;
}

static int parse(fake_req_t *f, const char *body, const char *auth)
{
    if (auth)
        fake_header(f, "authorization", auth);
    return fake_parse(f, "teams", body, false);
}

static void test_activity(void **state)
{
    (void)state;
    fake_req_t f = {0};
    assert_int_equal(parse(&f, MESSAGE, "Bearer x.y.z"), 0);
    assert_int_equal(f.in.nfields, 1);
    assert_string_equal(f.in.fields[0], "teams:" APP); /* the bot's "28:" prefix is not the app id's */
    assert_int_equal(f.in.nmsgs, 1);
    const sb_in_msg_t *m = &f.in.msgs[0];
    assert_string_equal(m->chat, "a:conv1");
    assert_string_equal(m->from, "29:u1");
    assert_string_equal(m->name, "Ada");
    assert_string_equal(m->text, "hello");
    assert_string_equal(m->event_id, "act-1");
    assert_string_equal(m->svc, SVC);
    fake_free(&f);
    /* acknowledged, nothing stored (but verified first): other activity types, a message whose
     * attachments hold no file (no contentUrl) */
    const char *ignored[] = {
        "{\"type\":\"conversationUpdate\",\"channelId\":\"msteams\",\"serviceUrl\":\"" SVC
        "\",\"recipient\":{\"id\":\"" APP "\"}}",
        "{\"type\":\"typing\",\"channelId\":\"msteams\",\"serviceUrl\":\"" SVC "\",\"recipient\":{\"id\":\"" APP "\"}}",
        ACT(PARTIES ",\"attachments\":[{\"contentType\":\"image/png\"}]"),
    };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        fake_req_t g = {0};
        assert_int_equal(parse(&g, ignored[i], "Bearer x.y.z"), 0);
        assert_int_equal(g.in.nmsgs, 0);
        assert_string_equal(g.in.fields[0], "teams:" APP);
        fake_free(&g);
    }
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{\"channelId\":\"msteams\",\"serviceUrl\":\"" SVC "\",\"recipient\":{\"id\":\"a\"}}", "type"},
        {"{\"type\":\"message\",\"serviceUrl\":\"" SVC "\",\"recipient\":{\"id\":\"a\"}}", "channelId"},
        {"{\"type\":\"message\",\"channelId\":\"msteams\",\"recipient\":{\"id\":\"a\"}}", "serviceUrl"},
        {"{\"type\":\"message\",\"channelId\":\"msteams\",\"serviceUrl\":\"" SVC "\"}", "recipient.id"},
        {"{\"type\":\"message\",\"channelId\":\"msteams\",\"serviceUrl\":7,\"recipient\":{\"id\":\"a\"}}",
         "serviceUrl"},
        {ACT("\"from\":\"u1\",\"recipient\":{\"id\":\"a\"}"), "from"},
        {ACT("\"from\":{\"id\":1},\"recipient\":{\"id\":\"a\"}"), "from.id"},
        {ACT("\"recipient\":[]"), "recipient"},
        {ACT("\"from\":{\"id\":\"u\"},\"recipient\":{\"id\":\"a\"},\"text\":\"x\""), "conversation.id"},
        {ACT("\"conversation\":{\"id\":\"c\"},\"recipient\":{\"id\":\"a\"},\"text\":\"x\""), "from.id"},
        {ACT(PARTIES ",\"text\":\"\""), "text"},
        {ACT(PARTIES ",\"text\":{}"), "text"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, cases[i].body, "Bearer x.y.z"), -EINVAL);
        assert_err_field(&f, cases[i].field);
        fake_free(&f);
    }
    fake_req_t g = {0}; /* a message without an id */
    assert_int_equal(parse(&g,
                           "{\"type\":\"message\",\"channelId\":\"msteams\",\"serviceUrl\":\"" SVC "\"," PARTIES
                           ",\"text\":\"x\"}",
                           "Bearer x.y.z"),
                     -EINVAL);
    assert_err_field(&g, "id");
    fake_free(&g);
}

#define INLINE_IMAGE                                                                                                   \
    "{\"contentType\":\"image/*\",\"contentUrl\":\"https://smba.trafficmanager.net/emea/v3/attachments/0-a/views/"     \
    "original\"}"
#define HTML_COPY "{\"contentType\":\"text/html\",\"content\":\"<div><img src=x></div>\"}"

static void test_files(void **state)
{
    (void)state;
    /* an inline image with a caption; the HTML copy of the text is left out */
    fake_req_t f = {0};
    assert_int_equal(parse(&f, ACT(PARTIES ",\"text\":\"this one\",\"attachments\":[" INLINE_IMAGE "," HTML_COPY "]"),
                           "Bearer x.y.z"),
                     0);
    assert_int_equal(f.in.nmsgs, 1);
    assert_string_equal(f.in.msgs[0].text, "this one");
    assert_string_equal(f.in.msgs[0].event_id, "act-1");
    assert_content(&f.in.msgs[0], "{\"attachments\":[{\"url\":\"https://smba.trafficmanager.net/emea/v3/attachments/"
                                  "0-a/views/original\",\"contentType\":\"image/*\"}]}");
    fake_free(&f);
    /* files only (an empty text is no text): a personal chat's file by its downloadUrl, a file
     * by its contentUrl; cards and URLs the model cannot hold are left out */
    fake_req_t g = {0};
    assert_int_equal(
        parse(&g,
              ACT(PARTIES ",\"text\":\"\",\"attachments\":[{\"contentType\":\"application/"
                          "vnd.microsoft.teams.file.download.info\",\"contentUrl\":\"https://contoso.sharepoint.com/"
                          "r.pdf\",\"name\":\"r.pdf\",\"content\":{\"downloadUrl\":\"https://download.test/r.pdf?t=1\","
                          "\"uniqueId\":\"u\",\"fileType\":\"pdf\"}},{\"contentType\":\"application/"
                          "vnd.microsoft.card.hero\",\"content\":{\"title\":\"t\"}},{\"contentType\":\"video/mp4\","
                          "\"contentUrl\":\"https://files.test/v.mp4\",\"name\":\"v.mp4\"},{\"contentType\":\"image/"
                          "png\",\"contentUrl\":\"data:image/png;base64,AAAA\"}]"),
              "Bearer x.y.z"),
        0);
    assert_int_equal(g.in.nmsgs, 1);
    assert_null(g.in.msgs[0].text);
    assert_content(&g.in.msgs[0], "{\"attachments\":[{\"type\":\"file\",\"url\":\"https://download.test/r.pdf?t=1\","
                                  "\"name\":\"r.pdf\"},{\"url\":\"https://files.test/v.mp4\",\"name\":\"v.mp4\","
                                  "\"contentType\":\"video/mp4\"}]}");
    fake_free(&g);
    /* a messageBack click on a switchboard button: its text is the payload, a text message */
    fake_req_t h = {0};
    assert_int_equal(parse(&h, ACT(PARTIES ",\"text\":\"SIZE_S\""), "Bearer x.y.z"), 0);
    assert_string_equal(h.in.msgs[0].text, "SIZE_S");
    assert_null(h.in.msgs[0].content);
    fake_free(&h);
    /* attachments without a file and an empty text: acknowledged */
    fake_req_t k = {0};
    assert_int_equal(parse(&k, ACT(PARTIES ",\"text\":\" \",\"attachments\":[" HTML_COPY "]"), "Bearer x.y.z"), 0);
    assert_int_equal(k.in.nmsgs, 0);
    fake_free(&k);
    /* bad types: 400 naming the field */
    static const struct {
        const char *body, *field;
    } cases[] = {
        {ACT(PARTIES ",\"attachments\":{}"), "attachments"},
        {ACT(PARTIES ",\"attachments\":[\"x\"]"), "attachments"},
        {ACT(PARTIES ",\"attachments\":[{\"contentType\":1}]"), "attachments.contentType"},
        {ACT(PARTIES ",\"attachments\":[{\"contentUrl\":[]}]"), "attachments.contentUrl"},
        {ACT(PARTIES ",\"attachments\":[{\"contentUrl\":\"https://f.test/a\",\"name\":{}}]"), "attachments.name"},
        {ACT(PARTIES ",\"attachments\":[{\"contentType\":\"application/vnd.microsoft.teams.file.download.info\","
                     "\"content\":[]}]"),
         "attachments.content"},
        {ACT(PARTIES ",\"attachments\":[{\"contentType\":\"application/vnd.microsoft.teams.file.download.info\","
                     "\"content\":{\"downloadUrl\":5}}]"),
         "attachments.content.downloadUrl"},
        {ACT(PARTIES ",\"text\":\" \""), "text"}, /* without attachments, a blank text is refused as before */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_req_t e = {0};
        assert_int_equal(parse(&e, cases[i].body, "Bearer x.y.z"), -EINVAL);
        assert_err_field(&e, cases[i].field);
        fake_free(&e);
    }
}

/* No bearer token, or a recipient no index field can hold: 401 before any look-up. */
static void test_no_token(void **state)
{
    (void)state;
    const char *auths[] = {NULL, "Basic eDp5", "Bearer ", "bearer"};
    for (size_t i = 0; i < sizeof(auths) / sizeof(auths[0]); i++) {
        fake_req_t f = {0};
        assert_int_equal(parse(&f, MESSAGE, auths[i]), -EPERM);
        fake_free(&f);
    }
    fake_req_t g = {0}; /* the scheme's case does not matter */
    assert_int_equal(parse(&g, MESSAGE, "bEARER x.y.z"), 0);
    fake_free(&g);
    fake_req_t h = {0};
    assert_int_equal(parse(&h, ACT(OTHERS "\"recipient\":{\"id\":\"28:a b\"}"), "Bearer x.y.z"), -EPERM);
    fake_free(&h);
    fake_req_t k = {0};
    assert_int_equal(parse(&k, ACT(OTHERS "\"recipient\":{\"id\":\"28:\"}"), "Bearer x.y.z"), -EPERM);
    fake_free(&k);
}

static void test_service_url_allow_list(void **state)
{
    (void)state;
    cJSON *none = cJSON_Parse("{\"appId\":\"a\"}");
    cJSON *empty = cJSON_Parse("{\"appId\":\"a\",\"allowedServiceUrls\":[]}");
    /* without a list of its own: Microsoft's hosts, https only */
    static const struct {
        const char *url;
        bool ok;
    } defaults[] = {
        {"https://smba.trafficmanager.net/emea/", true},
        {"https://SMBA.trafficmanager.net/amer", true},
        {"https://smba.trafficmanager.net:443/x", false}, /* the origin, port included, is compared */
        {"http://smba.trafficmanager.net/emea/", false},
        {"https://europe.webchat.botframework.com/", true},
        {"https://botframework.com/", false}, /* hosts under it, not the domain itself */
        {"https://evilbotframework.com/", false},
        {"https://botframework.com.evil.example/", false},
        {"https://user@smba.trafficmanager.net/", false},
        {"smba.trafficmanager.net", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        assert_int_equal(sb_teams_service_url_allowed(none, defaults[i].url), defaults[i].ok);
        assert_int_equal(sb_teams_service_url_allowed(empty, defaults[i].url), defaults[i].ok);
    }
    assert_false(sb_teams_service_url_allowed(none, NULL));
    /* a list of its own replaces the defaults: the origins of its URLs */
    cJSON *own = cJSON_Parse("{\"appId\":\"a\",\"allowedServiceUrls\":[\"http://127.0.0.1:8111/path\","
                             "\"https://Bots.Example.com\"]}");
    assert_true(sb_teams_service_url_allowed(own, "http://127.0.0.1:8111/other?x=1"));
    assert_false(sb_teams_service_url_allowed(own, "http://127.0.0.1:8112/"));
    assert_true(sb_teams_service_url_allowed(own, "https://bots.example.com/v3"));
    assert_false(sb_teams_service_url_allowed(own, "http://bots.example.com/v3"));
    assert_false(sb_teams_service_url_allowed(own, "https://smba.trafficmanager.net/emea/"));
    cJSON_Delete(none);
    cJSON_Delete(empty);
    cJSON_Delete(own);
}

/* The verify of a parsed request against a binding: synchronous with inline keys. */
static int verify(fake_req_t *f, const sb_binding_t *b)
{
    sb_config_t cfg = {0};
    const sb_inbound_env_t env = {NOW, &cfg, keys};
    int rc = sb_inbound_verify(&f->in, 0, b, &env, never_done, NULL);
    assert_int_not_equal(rc, SB_INBOUND_PENDING);
    return rc;
}

static sb_binding_t teams_binding(const char *extra)
{
    char *j = malloc(strlen(jwks_json) + 512);
    sprintf(j, "{\"appId\":\"" APP "\",\"jwks\":%s%s}", jwks_json, extra);
    sb_binding_t b = binding("teams", j);
    free(j);
    return b;
}

static void test_token(void **state)
{
    (void)state;
    sb_binding_t b = teams_binding("");
    char *good = bearer(APP, SVC);
    fake_req_t f = {0};
    assert_int_equal(parse(&f, MESSAGE, good), 0);
    assert_int_equal(verify(&f, &b), 0);
    assert_true(f.in.bound[0].verified);
    fake_free(&f);
    /* another audience, another type of binding, no binding: 401 */
    char *other = bearer("another-app", SVC);
    fake_req_t g = {0};
    assert_int_equal(parse(&g, MESSAGE, other), 0);
    assert_int_equal(verify(&g, &b), -EPERM);
    sb_binding_t slack = binding("slack", "{\"appId\":\"" APP "\"}");
    assert_int_equal(verify(&g, &slack), -EPERM);
    assert_int_equal(verify(&g, NULL), -EPERM);
    binding_free(&slack);
    fake_free(&g);
    /* the token's serviceurl claim must be the activity's: 403 */
    char *elsewhere = bearer(APP, "https://smba.trafficmanager.net/amer/");
    fake_req_t h = {0};
    assert_int_equal(parse(&h, MESSAGE, elsewhere), 0);
    assert_int_equal(verify(&h, &b), -EACCES);
    assert_string_equal(h.in.err.detail, "the token's serviceurl claim does not match the activity");
    fake_free(&h);
    /* the key must be endorsed for the activity's channelId: 403 */
    fake_req_t k = {0};
    assert_int_equal(parse(&k,
                           "{\"type\":\"message\",\"id\":\"act-1\",\"channelId\":\"skype\",\"serviceUrl\":\"" SVC
                           "\"," PARTIES ",\"text\":\"x\"}",
                           good),
                     0);
    assert_int_equal(verify(&k, &b), -EACCES);
    assert_string_equal(k.in.err.detail, "the signing key is not endorsed for this channelId");
    fake_free(&k);
    free(good);
    free(other);
    free(elsewhere);
    binding_free(&b);
}

/* The allow-list is checked only once the token verifies: before, every refusal is a 401, so
 * an anonymous caller cannot tell a bound app id from an unknown one. */
static void test_allow_list_after_token(void **state)
{
    (void)state;
    sb_binding_t b = teams_binding(",\"allowedServiceUrls\":[\"https://bots.example.com\"]");
    char *good = bearer(APP, SVC), *bad = bearer("another-app", SVC);
    fake_req_t f = {0};
    assert_int_equal(parse(&f, MESSAGE, good), 0);
    assert_int_equal(verify(&f, &b), -EACCES);
    assert_err_field(&f, "serviceUrl");
    assert_false(f.in.bound[0].verified);
    fake_free(&f);
    fake_req_t g = {0};
    assert_int_equal(parse(&g, MESSAGE, bad), 0);
    assert_int_equal(verify(&g, &b), -EPERM);
    fake_free(&g);
    free(good);
    free(bad);
    binding_free(&b);
}

/* A key set that holds no usable key is no key set: 503, retried by the Bot Framework. */
static void test_no_keys(void **state)
{
    (void)state;
    sb_binding_t b = binding("teams", "{\"appId\":\"" APP "\",\"jwks\":{\"keys\":[]}}");
    char *good = bearer(APP, SVC);
    fake_req_t f = {0};
    assert_int_equal(parse(&f, MESSAGE, good), 0);
    assert_int_equal(verify(&f, &b), -EAGAIN);
    assert_int_equal(f.in.retry_after_s, 5);
    assert_string_equal(f.in.err.detail, "the Bot Framework signing keys are unavailable");
    fake_free(&f);
    free(good);
    binding_free(&b);
}

static void test_config(void **state)
{
    (void)state;
    cJSON *cfg;
    sb_verr_t e;
    char fields[256];
    assert_int_equal(config_check("teams",
                                  "{\"appId\":\"" APP "\",\"appPassword\":\"p\",\"jwksUrl\":\"https://keys.example/k\","
                                  "\"allowedServiceUrls\":[\"https://bots.example.com\"]}",
                                  &cfg, &e),
                     0);
    binding_fields("teams", cfg, fields, sizeof(fields));
    assert_string_equal(fields, "teams:" APP);
    cJSON_Delete(cfg);
    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"appPassword\":\"p\"}", "config.appId"},
        {"{\"appId\":\"a\",\"allowedServiceUrls\":\"https://x\"}", "config.allowedServiceUrls"},
        {"{\"appId\":\"a\",\"allowedServiceUrls\":[\"ftp://x\"]}", "config.allowedServiceUrls"},
        {"{\"appId\":\"a\",\"jwks\":{\"k\":1}}", "config.jwks"},
        {"{\"appId\":\"a\",\"jwksUrl\":null}", "config.jwksUrl"},
        {"{\"appId\":\"a\",\"botToken\":\"x\"}", "config.botToken"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(config_check("teams", bad[i].json, &cfg, &e), -EINVAL);
        assert_string_equal(e.field, bad[i].field);
        cJSON_Delete(cfg);
    }
}

static void test_send(void **state)
{
    (void)state;
    sb_config_t cfg = {0};
    cJSON *ch = cJSON_Parse("{\"appId\":\"a\",\"appPassword\":\"p\"}");
    sb_send_t s = {.platform = "teams", .chat = "a:conv/1", .service_url = SVC "//", .text = "hi"};
    sb_send_req_t r;
    char err[256] = "";
    assert_int_equal(sb_send_build(&cfg, &s, ch, "tok", &r, err, sizeof(err)), 0);
    assert_string_equal(r.url, "https://smba.trafficmanager.net/emea/v3/conversations/a%3Aconv%2F1/activities");
    assert_non_null(strstr(r.headers, "Authorization: Bearer tok\r\n"));
    assert_string_equal(r.body, "{\"type\":\"message\",\"text\":\"hi\"}");
    sb_send_req_free(&r);
    assert_int_equal(sb_send_build(&cfg, &s, ch, NULL, &r, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "the channel has no appPassword to send with");
    s.service_url = "https://evil.example/";
    assert_int_equal(sb_send_build(&cfg, &s, ch, "tok", &r, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "serviceUrl https://evil.example/ is not on the channel's allow-list");
    cJSON_Delete(ch);
    char pmid[64];
    const char *ok = "{\"id\":\"1700000000123\"}";
    assert_int_equal(sb_send_result("teams", ok, strlen(ok), pmid, sizeof(pmid), err, sizeof(err)), SB_SEND_ACCEPTED);
    assert_string_equal(pmid, "1700000000123");
    char *form = sb_send_token_request("a b", "p&q");
    assert_string_equal(form, "grant_type=client_credentials&client_id=a%20b&client_secret=p%26q"
                              "&scope=https%3A%2F%2Fapi.botframework.com%2F.default");
    sb_free(form);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activity),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_no_token),
        cmocka_unit_test(test_service_url_allow_list),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_allow_list_after_token),
        cmocka_unit_test(test_no_keys),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_send),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
