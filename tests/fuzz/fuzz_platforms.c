/* libFuzzer target: arbitrary bytes as the body of an inbound platform webhook.
 *
 * The first input byte picks the platform and the request around the body (route, query,
 * headers; see `variants` below); the rest of the input is the body, or for the WhatsApp GET
 * verification the query string. The target then calls the public handler (sb_webhook_slack,
 * sb_webhook_telegram, sb_webhook_whatsapp, sb_webhook_whatsapp_verify, sb_webhook_teams: api.h,
 * src/api/channel_webhooks.c) as the server does after routing.
 *
 * One target for every platform, not one each: the handlers share their plumbing (the validated
 * JSON parse, the member readers, the binding look-up), the set-up below is the same for all of
 * them, and one corpus lets a mutation that helps one platform's parse (a JSON shape, a UTF-8
 * edge) be tried on the others.
 *
 * A handler parses and answers 400 or 401 before it touches the store; a payload it accepts
 * goes on to sb_binding_find. The loop here has a store that was never started, so that look-up
 * is refused (sb_store_eval returns -EAGAIN) and the handler answers 503 at once; the request has
 * no connection (req->conn == NULL), so writing the answer is a no-op (sb__conn_write), and the
 * request goes back to the loop's pool (sb__req_finish). Every input is handled synchronously.
 *
 * Invariants (a broken one aborts):
 * - the handler answers exactly once: the route's request counter grows by one, the request is
 *   done and back in the pool, and no "second response" (nor any other error) is logged;
 * - the status is one the handler may give before the store: 400, 401 or 503 (403 or 503 for the
 *   verification GET); without the platform's credential header (Telegram, WhatsApp, Teams) no
 *   request gets as far as the store: 400 or 401;
 * - a JSON body that reached the store (503) is one JSON object that cJSON reads the same way:
 *   valid UTF-8, nothing but whitespace after it, no member named twice, and the members the
 *   platform requires present with the right type;
 * - AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer find nothing.
 *
 * Build and run: docs/fuzzing.md. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/channels.h" /* sb_bindings_new */
#include "switchboard/config.h"
#include "switchboard/http.h"
#include "switchboard/log.h"
#include "switchboard/router.h"
#include "switchboard/store.h"
#include "switchboard/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
void __wrap_sb_log(int level, const char *msg, const char *fields, ...);
const char *__ubsan_default_options(void);

/* An UndefinedBehaviorSanitizer report stops the run like a crash, whatever UBSAN_OPTIONS says
 * (without halt_on_error, UBSan prints and carries on, and the fuzzer would not save the input). */
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

#define FUZZ_MAX_BODY (1u << 20) /* the server's --max-body default */

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz_platforms: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* ---------- the requests around the body ---------- */

enum { P_SLACK, P_SLACK_FORM, P_TELEGRAM, P_WHATSAPP, P_WA_VERIFY, P_TEAMS };

typedef struct variant {
    char letter; /* the first input byte that picks it (any other byte: variants[byte % N]) */
    int platform;
    bool credentials; /* the platform's proof header (and Slack's ?teamId) are sent */
    unsigned method;
    const char *path;
    sb_handler_fn handler;
} variant_t;

static const variant_t variants[] = {
    {'s', P_SLACK, true, SB_M_POST, "/api/webhooks/slack", sb_webhook_slack},
    {'S', P_SLACK, false, SB_M_POST, "/api/webhooks/slack", sb_webhook_slack},
    {'f', P_SLACK_FORM, true, SB_M_POST, "/api/webhooks/slack", sb_webhook_slack},
    {'F', P_SLACK_FORM, false, SB_M_POST, "/api/webhooks/slack", sb_webhook_slack},
    {'t', P_TELEGRAM, true, SB_M_POST, "/api/webhooks/telegram", sb_webhook_telegram},
    {'T', P_TELEGRAM, false, SB_M_POST, "/api/webhooks/telegram", sb_webhook_telegram},
    {'b', P_TELEGRAM, true, SB_M_POST, "/api/webhooks/telegram/7001234567", sb_webhook_telegram},
    {'B', P_TELEGRAM, false, SB_M_POST, "/api/webhooks/telegram/7001234567", sb_webhook_telegram},
    {'w', P_WHATSAPP, true, SB_M_POST, "/api/webhooks/whatsapp", sb_webhook_whatsapp},
    {'W', P_WHATSAPP, false, SB_M_POST, "/api/webhooks/whatsapp", sb_webhook_whatsapp},
    {'v', P_WA_VERIFY, true, SB_M_GET, "/api/webhooks/whatsapp", sb_webhook_whatsapp_verify},
    {'m', P_TEAMS, true, SB_M_POST, "/api/webhooks/teams", sb_webhook_teams},
    {'M', P_TEAMS, false, SB_M_POST, "/api/webhooks/teams", sb_webhook_teams},
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static const variant_t *pick(uint8_t b)
{
    for (size_t i = 0; i < NVARIANTS; i++)
        if (variants[i].letter == (char)b)
            return &variants[i];
    return &variants[b % NVARIANTS];
}

/* Well-formed proofs: their values are checked only against a binding, which is never found. */
#define SLACK_SIG "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
#define HUB_SIG   "sha256=6f1ef8c0f1ec6be3d31bd6c0a2bd5cf8d2c3e9b6b1b0d02b1b4e0f3c6f3b2a19"
#define BF_TOKEN                                                                                                       \
    "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImtBIiwidHlwIjoiSldUIn0.eyJpc3MiOiJodHRwczovL2FwaS5ib3RmcmFtZXdvcmsuY29tIn0."  \
    "c2lnbmF0dXJl"

static void add_header(sb_req_t *req, const char *name, const char *value)
{
    CHECK(req->nheaders < SB_MAX_HEADERS);
    req->headers[req->nheaders].name = sb_str(name);
    req->headers[req->nheaders].value = sb_str(value);
    req->nheaders++;
}

static void set_headers(sb_req_t *req, const variant_t *v)
{
    add_header(req, "Host", "switchboard.example");
    add_header(req, "User-Agent", "fuzz_platforms");
    switch (v->platform) {
    case P_SLACK:
    case P_SLACK_FORM:
        add_header(req, "Content-Type",
                   v->platform == P_SLACK ? "application/json" : "application/x-www-form-urlencoded");
        if (v->credentials) {
            add_header(req, "X-Slack-Request-Timestamp", "1700000000");
            add_header(req, "X-Slack-Signature", SLACK_SIG);
        }
        break;
    case P_TELEGRAM:
        add_header(req, "Content-Type", "application/json");
        if (v->credentials)
            add_header(req, "X-Telegram-Bot-Api-Secret-Token", "tg-secret-token-0001");
        break;
    case P_WHATSAPP:
        add_header(req, "Content-Type", "application/json");
        if (v->credentials)
            add_header(req, "X-Hub-Signature-256", HUB_SIG);
        break;
    case P_TEAMS:
        add_header(req, "Content-Type", "application/json");
        if (v->credentials)
            add_header(req, "Authorization", BF_TOKEN);
        break;
    default: break;
    }
}

/* ---------- a loop whose store never connects ---------- */

static sb_config_t cfg;
static sb_server_t srv;
static sb_loop_t loop;
static sb_services_t services; /* what the app layer would have made: a store and a binding cache */
static sb_router_t router;
static sb_req_t *req; /* one request object, back in the pool after every answer */
static bool show;     /* FUZZ_PLATFORMS_SHOW=1: print each input's variant and status (seed upkeep) */

/* The library's log calls come here (-Wl,--wrap=sb_log): an unauthenticated webhook must not
 * make the server log an error (a second response for one request is one), so any is a failure. */
void __wrap_sb_log(int level, const char *msg, const char *fields, ...)
{
    (void)fields;
    if (level >= SB_LOG_ERROR) {
        fprintf(stderr, "fuzz_platforms: the handler logged an error: %s\n", msg);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    show = getenv("FUZZ_PLATFORMS_SHOW") != NULL;
    sb_log_level = SB_LOG_WARN; /* no request lines piling up in the thread's log buffer */
    sb_config_defaults(&cfg);
    if (sb_api_routes(&router) != 0 || uv_loop_init(&loop.uv) != 0)
        abort();
    srv.cfg = &cfg; /* the server's fields the handlers may read; the rest stays zero */
    loop.srv = &srv;
    services.bindings = sb_bindings_new();
    services.store = sb_store_new(&loop.uv, &cfg, &loop.metrics); /* never started: refuses every command */
    loop.app = &services;
    req = sb_req_new(FUZZ_MAX_BODY);
    return 0;
}

static uint64_t answers(unsigned slot)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < SB_METRICS_STATUS_SLOTS; i++)
        n += loop.metrics.requests[slot][i];
    return n;
}

/* ---------- what an accepted body must be ---------- */

static bool no_duplicate_names(const cJSON *v)
{
    if (cJSON_IsObject(v))
        for (const cJSON *a = v->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return false;
    for (const cJSON *c = v->child; c; c = c->next)
        if (!no_duplicate_names(c))
            return false;
    return true;
}

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

static bool is_nonneg_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0 &&
           (double)(long long)v->valuedouble == v->valuedouble;
}

static void check_accepted_json(const variant_t *v, const char *p, size_t n)
{
    CHECK(sb_utf8_valid(p, n));
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    CHECK(cJSON_IsObject(o));
    while (end < p + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    CHECK(end == p + n);
    CHECK(no_duplicate_names(o));
    switch (v->platform) {
    case P_SLACK: {
        const cJSON *team = member(o, "team_id");
        CHECK(!team || cJSON_IsString(team));
        CHECK(v->credentials || (cJSON_IsString(team) && team->valuestring[0])); /* no ?teamId to fall back on */
        const cJSON *type = member(o, "type");
        CHECK(!type || cJSON_IsString(type));
        if (cJSON_IsString(type) && strcmp(type->valuestring, "event_callback") == 0)
            CHECK(cJSON_IsObject(member(o, "event")) && cJSON_IsString(member(o, "event_id")));
        if (cJSON_IsString(type) && strcmp(type->valuestring, "url_verification") == 0)
            CHECK(cJSON_IsString(member(o, "challenge")));
        if (!type)
            CHECK(cJSON_IsString(member(o, "channel_id")) && cJSON_IsString(member(o, "text")) &&
                  cJSON_IsString(member(o, "event_ts")));
        break;
    }
    case P_TELEGRAM: {
        CHECK(is_nonneg_int(member(o, "update_id")));
        const cJSON *msg = member(o, "message");
        CHECK(!msg || (cJSON_IsObject(msg) && cJSON_IsObject(member(msg, "chat"))));
        break;
    }
    case P_WHATSAPP: {
        const cJSON *entry = member(o, "entry");
        CHECK(cJSON_IsArray(entry) && cJSON_GetArraySize(entry) > 0);
        const cJSON *e;
        cJSON_ArrayForEach(e, entry) CHECK(cJSON_IsObject(e) && cJSON_IsArray(member(e, "changes")));
        break;
    }
    case P_TEAMS: {
        CHECK(cJSON_IsString(member(o, "type")) && cJSON_IsString(member(o, "channelId")) &&
              cJSON_IsString(member(o, "serviceUrl")));
        const cJSON *rcpt = member(o, "recipient");
        CHECK(cJSON_IsObject(rcpt) && cJSON_IsString(member(rcpt, "id")) && member(rcpt, "id")->valuestring[0]);
        break;
    }
    default: break;
    }
    cJSON_Delete(o);
}

/* ---------- driver ---------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const variant_t *v = pick(data[0]);
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;

    sb_req_reset(req);
    req->loop = &loop;
    req->method = v->method;
    req->method_name = sb_str(sb_method_name(v->method));
    req->path = sb_str(v->path);
    if (v->platform == P_WA_VERIFY) {
        req->query = (sb_str_t){rest, n};
    } else {
        if (v->credentials && (v->platform == P_SLACK || v->platform == P_SLACK_FORM))
            req->query = sb_str("teamId=T0SB0001");
        if (n > 0)
            CHECK(sb_buf_append(&req->body, rest, n) == 0);
    }
    snprintf(req->request_id, sizeof(req->request_id), "fuzz");
    set_headers(req, v);
    CHECK(sb_router_match(&router, v->method, req->path.p, req->path.len, &req->match) == 0);
    CHECK(req->match.route->handler == v->handler);
    unsigned slot = req->match.route->slot;
    uint64_t before = answers(slot);

    req->dispatched = true;
    v->handler(req);

    /* answered once, synchronously, and the request went back to the pool */
    CHECK(answers(slot) == before + 1);
    CHECK(req->done);
    CHECK(loop.free_reqs == req && loop.nfree_reqs == 1);
    loop.free_reqs = req->next_free;
    loop.nfree_reqs = 0;

    int st = req->status;
    if (show)
        fprintf(stderr, "fuzz_platforms: '%c' %s -> %d\n", v->letter, v->path, st);
    if (v->platform == P_WA_VERIFY) {
        CHECK(st == 403 || st == 503);
        return 0;
    }
    bool proof_first = v->platform == P_TELEGRAM || v->platform == P_WHATSAPP || v->platform == P_TEAMS;
    if (!v->credentials && proof_first)
        CHECK(st == 400 || st == 401);
    else
        CHECK(st == 400 || st == 401 || st == 503);
    if (st == 503 && v->platform != P_SLACK_FORM)
        check_accepted_json(v, rest, n);
    return 0;
}
