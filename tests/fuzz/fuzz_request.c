/* libFuzzer target: arbitrary bytes as an HTTP/1.x request stream.
 *
 * The input goes through the server's own parser (src/http/parser.c: URL and header fields
 * collected into one bounded head buffer of SB_HEAD_MAX bytes and at most SB_MAX_HEADERS
 * fields, a bounded body, one message at a time). Every
 * complete message then takes the path a real request takes before its handler runs: route
 * matching on the real route table (sb_api_routes), path-parameter and query-parameter
 * percent-decoding, UTF-8 validation, header lookups, API-key parsing, and JSON body parsing
 * and validation with cJSON and the sb_v_* helpers.
 *
 * The stream is parsed twice: once in one piece, once cut into small chunks as a socket may
 * deliver it. Both parses must yield the same messages; a difference aborts (a callback that
 * loses state across reads). Invariants of the library functions abort too.
 *
 * Build: CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
 * Run:   see docs/fuzzing.md */
#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/buf.h"
#include "switchboard/http.h"
#include "switchboard/parser.h"
#include "switchboard/router.h"
#include "switchboard/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__ubsan_default_options(void);

/* An UndefinedBehaviorSanitizer report stops the run like a crash, whatever UBSAN_OPTIONS says
 * (without halt_on_error, UBSan prints and carries on, and the fuzzer would not save the input). */
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

#define FUZZ_MAX_BODY (64 * 1024) /* the server's is --max-body; small keeps runs fast */
#define MAX_MESSAGES  64

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz_request: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

typedef struct {
    sb_parser_t parser;
    sb_req_t *req; /* one request object, reused for every message as the server's pool does */
    int err_status;
    /* per stream: what the parse produced, for the one-piece vs chunked comparison */
    unsigned nmessages;
    uint64_t digest[MAX_MESSAGES];
} stream_t;

static sb_router_t router;

/* ---------- parser hooks (the server's set deadlines and request ids; none needed here) ---------- */

static sb_req_t *hook_begin(sb_parser_t *p)
{
    stream_t *s = p->data;
    sb_req_trim(s->req);
    sb_req_reset(s->req);
    return s->req;
}

static void hook_headers(sb_parser_t *p, sb_req_t *req)
{
    (void)p;
    (void)req;
}

static const sb_parser_hooks_t hooks = {hook_begin, hook_headers, NULL};

/* ---------- what a dispatched request goes through ---------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static bool header_get(const stream_t *s, const char *name, sb_str_t *v)
{
    const char *h = s->req->head.data ? s->req->head.data : "";
    for (unsigned i = 0; i < s->req->nheaders; i++) {
        if (sb_ascii_ieq(h + s->req->hdr_off[i][0], s->req->hdr_off[i][1], name)) {
            v->p = h + s->req->hdr_off[i][2];
            v->len = s->req->hdr_off[i][3];
            return true;
        }
    }
    return false;
}

/* Percent-decodes raw like sb_req_param / sb_req_query and checks the result. */
static void decode_checked(sb_str_t raw, bool plus_space)
{
    char *out = malloc(raw.len + 1);
    CHECK(out);
    int n = sb_percent_decode(raw.p, raw.len, out, raw.len + 1, plus_space);
    CHECK(n == -EINVAL || (n >= 0 && (size_t)n <= raw.len));
    if (n >= 0) {
        CHECK(out[n] == '\0');
        /* without escapes a path parameter decodes to itself ('+' is literal in a path) */
        if (!memchr(raw.p, '%', raw.len) && !plus_space)
            CHECK((size_t)n == raw.len && memcmp(out, raw.p, raw.len) == 0);
        if (sb_utf8_valid(out, (size_t)n) && !memchr(out, '\0', (size_t)n)) {
            /* what a handler may do with a decoded id */
            char key[SB_KEY_MAX];
            int k = sb_key_tenant(key, out, "tenant");
            CHECK(k == -EINVAL || k == -E2BIG || (k > 0 && (size_t)k == strlen(key)));
            (void)sb_uuid_valid(out, (size_t)n);
        }
    }
    free(out);
}

static void check_json_escape(const char *p, size_t n)
{
    if (!sb_utf8_valid(p, n) || memchr(p, '\0', n))
        return;
    sb_buf_t b;
    sb_buf_init(&b, 8 * n + 16);
    CHECK(sb_buf_putc(&b, '"') == 0);
    CHECK(sb_buf_json_escape(&b, p, n) == 0);
    CHECK(sb_buf_putc(&b, '"') == 0);
    cJSON *round = cJSON_ParseWithLength(b.data, b.len);
    CHECK(cJSON_IsString(round));
    CHECK(strlen(round->valuestring) == n && memcmp(round->valuestring, p, n) == 0);
    cJSON_Delete(round);
    sb_buf_free(&b);
}

static void check_body(const stream_t *s, bool json_type)
{
    const char *p = s->req->body.data ? s->req->body.data : "";
    size_t n = s->req->body.len, i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (!json_type && !(i < n && (p[i] == '{' || p[i] == '[')))
        return;
    if (!sb_utf8_valid(p, n)) /* sb_json_body answers 400 here */
        return;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    if (!root)
        return;
    CHECK(end >= p && end <= p + n);
    while (end < p + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end != p + n) { /* sb_json_body: only whitespace may follow the value */
        cJSON_Delete(root);
        return;
    }
    if (cJSON_IsObject(root)) {
        static const char *const allowed[] = {"name", "enabled", "url", "origin", "agentId", "config", NULL};
        sb_verr_t e;
        const cJSON *out;
        memset(&e, 0, sizeof(e));
        if (sb_v_only(root, allowed, NULL, &e) < 0) /* the name may be empty: {"": 1} */
            CHECK(strlen(e.field) < sizeof(e.field) && strstr(e.detail, "unknown field"));
        if (sb_v_string(root, "name", NULL, true, 1, 200, &out, &e) == 0 && out)
            CHECK(cJSON_IsString(out) && strlen(out->valuestring) <= 200);
        (void)sb_v_bool(root, "enabled", NULL, &out, &e);
        if (sb_v_url(root, "url", NULL, false, true, &out, &e) == 0 && out && cJSON_IsString(out))
            CHECK(sb_url_valid(out->valuestring));
        if (sb_v_uuid(root, "agentId", NULL, false, true, &out, &e) == 0 && out && cJSON_IsString(out))
            CHECK(sb_uuid_valid(out->valuestring, strlen(out->valuestring)));
        const cJSON *origin = cJSON_GetObjectItemCaseSensitive(root, "origin");
        if (cJSON_IsString(origin) && sb_origin_valid(origin->valuestring))
            CHECK(sb_url_valid(origin->valuestring)); /* every valid origin is a valid URL */
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
        if (cJSON_IsObject(cfg)) {
            memset(&e, 0, sizeof(e));
            if (sb_v_only(cfg, allowed, "config", &e) < 0)
                CHECK(strncmp(e.field, "config.", 7) == 0);
        }
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
        if (cJSON_IsString(name))
            check_json_escape(name->valuestring, strlen(name->valuestring));
    }
    cJSON_Delete(root);
}

static void dispatch(stream_t *s)
{
    const char *h = s->req->head.data ? s->req->head.data : "";
    CHECK(s->req->url_end <= s->req->head.len);
    sb_str_t url = {h, s->req->url_end};
    const char *q = memchr(url.p, '?', url.len);
    sb_str_t path = {url.p, q ? (size_t)(q - url.p) : url.len};
    sb_str_t query = {q ? q + 1 : url.p + url.len, q ? url.len - path.len - 1 : 0};
    for (unsigned i = 0; i < s->req->nheaders; i++) {
        CHECK(s->req->hdr_off[i][0] + s->req->hdr_off[i][1] <= s->req->head.len);
        CHECK(s->req->hdr_off[i][2] + s->req->hdr_off[i][3] <= s->req->head.len);
    }

    const char *mname = s->req->method_name.p;
    CHECK(mname && strlen(mname) == s->req->method_name.len);
    unsigned method = sb_method_bit(mname, strlen(mname));

    /* the message digest: what both parses must agree on */
    if (s->nmessages < MAX_MESSAGES) {
        uint64_t d = 1469598103934665603ULL;
        d = fnv(d, mname, strlen(mname));
        d = fnv(d, url.p, url.len);
        for (unsigned i = 0; i < s->req->nheaders; i++) {
            d = fnv(d, h + s->req->hdr_off[i][0], s->req->hdr_off[i][1]);
            d = fnv(d, ":", 1);
            d = fnv(d, h + s->req->hdr_off[i][2], s->req->hdr_off[i][3]);
            d = fnv(d, "\n", 1);
        }
        d = fnv(d, s->req->body.data ? s->req->body.data : "", s->req->body.len);
        s->digest[s->nmessages] = d;
    }
    s->nmessages++;

    /* routing */
    sb_route_match_t m;
    int rc = sb_router_match(&router, method, path.p, path.len, &m);
    if (rc == 0) {
        CHECK(m.route != NULL);
        CHECK(m.route->method == (method == SB_M_HEAD ? SB_M_GET : method));
        CHECK(m.allowed & m.route->method);
        CHECK(m.nparams <= SB_ROUTE_MAX_PARAMS);
        for (unsigned i = 0; i < m.nparams; i++) {
            sb_str_t v = m.params[i];
            CHECK(v.len > 0);
            CHECK(v.p >= path.p && v.p + v.len <= path.p + path.len);
            CHECK(!memchr(v.p, '/', v.len));
            CHECK(m.param_names[i].len > 0);
            decode_checked(v, false);
        }
    } else if (rc == -EPERM) {
        CHECK(m.route == NULL && m.allowed != 0);
        char allow[128];
        size_t n = sb_allow_header(m.allowed | SB_M_OPTIONS, allow, sizeof(allow));
        CHECK(n == strlen(allow) && n > 0);
    } else {
        CHECK(rc == -ENOENT);
        CHECK(m.route == NULL && m.allowed == 0);
    }

    /* query parameters, as sb_page_params and handlers read them */
    static const char *const keys[] = {"page", "pageSize", "q", "", "cursor"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        sb_str_t v;
        if (!sb_query_get(query, keys[i], &v))
            continue;
        CHECK(v.p >= query.p && v.p + v.len <= query.p + query.len);
        CHECK(!memchr(v.p, '&', v.len));
        decode_checked(v, true);
        uint64_t num;
        if (sb_parse_u64(v.p, v.len, 1000000, &num) == 0)
            CHECK(num <= 1000000);
    }

    /* headers the server and the API layer look at */
    sb_str_t v;
    if (header_get(s, "x-api-key", &v)) {
        char tid[37];
        if (sb_api_key_parse(v.p, v.len, tid))
            CHECK(strlen(tid) == 36 && sb_uuid_valid(tid, 36));
    }
    if (header_get(s, "origin", &v) && v.len < 512 && !memchr(v.p, '\0', v.len)) {
        char tmp[512];
        memcpy(tmp, v.p, v.len);
        tmp[v.len] = '\0';
        (void)sb_origin_valid(tmp);
        (void)sb_url_valid(tmp);
    }
    bool json_type = header_get(s, "content-type", &v) && v.len >= 16 && sb_ascii_ieq(v.p, 16, "application/json");
    (void)sb_utf8_valid(url.p, url.len);

    check_body(s, json_type);
}

/* ---------- driver ---------- */

static void stream_init(stream_t *s)
{
    memset(s, 0, sizeof(*s));
    s->req = sb_req_new(FUZZ_MAX_BODY);
    sb_parser_init(&s->parser, &hooks, s, FUZZ_MAX_BODY);
}

static void stream_free(stream_t *s)
{
    sb_req_destroy(s->req);
}

/* Feeds one read's worth of bytes like conn_feed. Returns false once the stream is over. */
static bool feed(stream_t *s, const char *p, size_t len)
{
    while (len > 0) {
        size_t used = 0;
        int rc = sb_parser_execute(&s->parser, p, len, &used);
        CHECK(used <= len);
        p += used;
        len -= used;
        if (rc == SB_PARSE_MORE) {
            CHECK(len == 0);
            return true;
        }
        if (rc == SB_PARSE_MESSAGE || rc == SB_PARSE_UPGRADE) {
            dispatch(s);
            if (rc == SB_PARSE_UPGRADE)
                return false; /* the server answers, then closes */
            continue;
        }
        s->err_status = s->parser.err_status;
        CHECK(s->err_status == 400 || s->err_status == 413 || s->err_status == 431);
        return false; /* 400 / 413 / 431: the server answers and closes */
    }
    return true;
}

static void run(stream_t *s, const uint8_t *data, size_t size, size_t chunk)
{
    const char *p = (const char *)data;
    size_t off = 0;
    while (off < size) {
        size_t n = chunk && size - off > chunk ? chunk : size - off;
        if (!feed(s, p + off, n))
            return;
        off += n;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sb_api_routes(&router) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static stream_t whole, pieces;
    stream_init(&whole);
    stream_init(&pieces);
    run(&whole, data, size, 0);
    /* chunk size from the input length: 1..13 bytes, so splits land everywhere */
    run(&pieces, data, size, size % 13 + 1);
    /* Both parses dispatch the same messages in the same order: how the bytes are cut into reads
     * must not change what the server sees, nor which limit (431/413) a request hits. */
    if (whole.nmessages != pieces.nmessages)
        fprintf(stderr, "fuzz_request: %u message(s) in one piece, %u in %zu-byte chunks (errors: %d/%d)\n",
                whole.nmessages, pieces.nmessages, size % 13 + 1, whole.err_status, pieces.err_status);
    CHECK(whole.nmessages == pieces.nmessages);
    for (unsigned i = 0; i < whole.nmessages && i < MAX_MESSAGES; i++)
        CHECK(whole.digest[i] == pieces.digest[i]);
    stream_free(&whole);
    stream_free(&pieces);
    return 0;
}
