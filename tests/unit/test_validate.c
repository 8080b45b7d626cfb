/* Unit tests for src/api/validate.c and sb_api_key_parse (src/api/auth.c): URL and origin
 * checks, typed field validators that name the bad field, pagination envelopes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/crypto.h"
#include "switchboard/api.h"
#include "switchboard/log.h"

static void test_url_valid(void **state)
{
    (void)state;
    static const char *const good[] = {
        "http://example.com",
        "https://example.com/",
        "https://example.com/hooks/in?x=1&y=2#frag",
        "http://localhost:8080/cb",
        "https://a.b-c.example_x.org:443/p",
        "http://127.0.0.1:1",
        "http://[::1]:65535/x",
        "http://[2001:db8::1]/",
        "https://example.com?q",
        "https://example.com#top",
        "https://example.com/path/with/@at-in-path",
        "https://example.com/%20encoded",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!sb_url_valid(good[i]))
            fail_msg("URL '%s' should be valid", good[i]);

    static const char *const bad[] = {
        "",
        "example.com",
        "//example.com",
        "ftp://example.com",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ws://example.com",
        "http:/example.com",
        "http://",
        "https:///path",
        "http://user:pass@example.com/",
        "http://user@example.com",
        "http://@example.com",
        "http://exa mple.com",
        "http://example.com/a b",
        "http://example.com/a\tb",
        "http://example.com/\n",
        "http://example.com/\x7f",
        " http://example.com",
        "http://example.com:0/",
        "http://example.com:65536",
        "http://example.com:",
        "http://example.com:80x",
        "http://example.com:-1",
        "http://exa$mple.com",
        "http://[::1",
        "http://[]:80",
        "http://[::g]/",
        "http://[::1]x/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sb_url_valid(bad[i]))
            fail_msg("URL '%s' should be refused", bad[i]);
}

static void test_origin_valid(void **state)
{
    (void)state;
    static const char *const good[] = {
        "https://example.com", "http://localhost:3000", "https://app.example.co.uk:8443",
        "http://127.0.0.1",    "http://[::1]:8080",     "https://[2001:db8::1]",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!sb_origin_valid(good[i]))
            fail_msg("origin '%s' should be valid", good[i]);

    static const char *const bad[] = {
        "",
        "null",
        "*",
        "example.com",
        "https://example.com/",
        "https://example.com/app",
        "https://example.com?x=1",
        "https://example.com#x",
        "https://user@example.com",
        "https://example.com:0",
        "https://example.com:65536",
        "https://example.com:",
        "https://example.com:abc",
        "ftp://example.com",
        "https://",
        "https://exa mple.com",
        "https://example.com ",
        "https://[::1]/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sb_origin_valid(bad[i]))
            fail_msg("origin '%s' should be refused", bad[i]);
}

static cJSON *obj(const char *json)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    return o;
}

static void test_v_string(void **state)
{
    (void)state;
    cJSON *o = obj("{\"name\":\"acme\",\"empty\":\"\",\"num\":5,\"long\":\"abcdefghijk\",\"nul\":null}");
    const cJSON *out;
    sb_verr_t e;

    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_string(o, "name", NULL, true, 1, 100, &out, &e), 0);
    assert_non_null(out);
    assert_string_equal(out->valuestring, "acme");
    assert_string_equal(e.field, ""); /* untouched on success */

    /* absent and optional: fine, out is NULL */
    assert_int_equal(sb_v_string(o, "missing", NULL, false, 1, 100, &out, &e), 0);
    assert_null(out);

    assert_int_equal(sb_v_string(o, "missing", NULL, true, 1, 100, &out, &e), -EINVAL);
    assert_string_equal(e.field, "missing");
    assert_non_null(strstr(e.detail, "required"));
    assert_null(out);

    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_string(o, "num", NULL, true, 1, 100, &out, &e), -EINVAL);
    assert_string_equal(e.field, "num");
    assert_non_null(strstr(e.detail, "string"));

    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_string(o, "nul", NULL, false, 0, 100, &out, &e), -EINVAL);
    assert_string_equal(e.field, "nul");

    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_string(o, "empty", NULL, true, 1, 100, &out, &e), -EINVAL);
    assert_string_equal(e.field, "empty");
    assert_non_null(strstr(e.detail, "empty"));
    assert_int_equal(sb_v_string(o, "empty", NULL, true, 0, 100, &out, &e), 0);

    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_string(o, "long", NULL, true, 1, 10, &out, &e), -EINVAL);
    assert_string_equal(e.field, "long");
    assert_non_null(strstr(e.detail, "10"));
    assert_int_equal(sb_v_string(o, "long", NULL, true, 1, 11, &out, &e), 0);
    assert_int_equal(sb_v_string(o, "long", NULL, true, 12, 100, &out, &e), -EINVAL);

    /* the path prefixes the field name */
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_string(o, "num", "config", true, 1, 100, &out, &e), -EINVAL);
    assert_string_equal(e.field, "config.num");
    assert_non_null(strstr(e.detail, "config.num"));
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_string(o, "num", "", true, 1, 100, &out, &e), -EINVAL);
    assert_string_equal(e.field, "num");

    /* field names are case-sensitive */
    assert_int_equal(sb_v_string(o, "Name", NULL, true, 1, 100, &out, &e), -EINVAL);
    assert_string_equal(e.field, "Name");
    cJSON_Delete(o);
}

static void test_v_bool(void **state)
{
    (void)state;
    cJSON *o = obj("{\"on\":true,\"off\":false,\"str\":\"true\",\"one\":1,\"nul\":null}");
    const cJSON *out;
    sb_verr_t e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_bool(o, "on", NULL, &out, &e), 0);
    assert_true(cJSON_IsTrue(out));
    assert_int_equal(sb_v_bool(o, "off", NULL, &out, &e), 0);
    assert_true(cJSON_IsFalse(out));
    assert_int_equal(sb_v_bool(o, "absent", NULL, &out, &e), 0);
    assert_null(out);
    static const char *const bad[] = {"str", "one", "nul"};
    for (size_t i = 0; i < 3; i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(sb_v_bool(o, bad[i], NULL, &out, &e), -EINVAL);
        assert_string_equal(e.field, bad[i]);
        assert_non_null(strstr(e.detail, "true or false"));
        assert_null(out);
    }
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_bool(o, "one", "settings", &out, &e), -EINVAL);
    assert_string_equal(e.field, "settings.one");
    cJSON_Delete(o);
}

static void test_v_uuid(void **state)
{
    (void)state;
    cJSON *o = obj("{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"bad\":\"123\",\"num\":1,\"nul\":null}");
    const cJSON *out;
    sb_verr_t e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_uuid(o, "id", NULL, true, false, &out, &e), 0);
    assert_non_null(out);
    assert_int_equal(sb_v_uuid(o, "absent", NULL, false, false, &out, &e), 0);
    assert_null(out);
    assert_int_equal(sb_v_uuid(o, "absent", NULL, true, false, &out, &e), -EINVAL);
    assert_string_equal(e.field, "absent");
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_uuid(o, "bad", NULL, true, false, &out, &e), -EINVAL);
    assert_string_equal(e.field, "bad");
    assert_non_null(strstr(e.detail, "UUID"));
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_uuid(o, "num", "agent", false, false, &out, &e), -EINVAL);
    assert_string_equal(e.field, "agent.num");
    /* null: accepted only when nullable (and then returned, so the caller can clear the field) */
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_uuid(o, "nul", NULL, false, false, &out, &e), -EINVAL);
    assert_string_equal(e.field, "nul");
    assert_int_equal(sb_v_uuid(o, "nul", NULL, false, true, &out, &e), 0);
    assert_non_null(out);
    assert_true(cJSON_IsNull(out));
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_uuid(o, "nul", NULL, true, true, &out, &e), -EINVAL);
    assert_string_equal(e.field, "nul");
    cJSON_Delete(o);
}

static void test_v_url(void **state)
{
    (void)state;
    cJSON *o = obj("{\"u\":\"https://example.com/hook\",\"bad\":\"ftp://x\",\"num\":3,\"nul\":null}");
    const cJSON *out;
    sb_verr_t e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_url(o, "u", NULL, true, false, &out, &e), 0);
    assert_string_equal(out->valuestring, "https://example.com/hook");
    assert_int_equal(sb_v_url(o, "bad", "webhook", true, false, &out, &e), -EINVAL);
    assert_string_equal(e.field, "webhook.bad");
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_url(o, "num", NULL, true, false, &out, &e), -EINVAL);
    assert_string_equal(e.field, "num");
    assert_int_equal(sb_v_url(o, "nul", NULL, false, true, &out, &e), 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_url(o, "nul", NULL, false, false, &out, &e), -EINVAL);
    assert_string_equal(e.field, "nul");
    cJSON_Delete(o);

    /* longer than 2048 bytes */
    static char longurl[2100];
    strcpy(longurl, "https://example.com/");
    memset(longurl + 20, 'a', sizeof(longurl) - 21);
    longurl[sizeof(longurl) - 1] = '\0';
    assert_true(sb_url_valid(longurl));
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "u", longurl);
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_url(o, "u", NULL, true, false, &out, &e), -EINVAL);
    assert_string_equal(e.field, "u");
    cJSON_Delete(o);
}

static void test_v_only(void **state)
{
    (void)state;
    static const char *const allowed[] = {"name", "enabled", NULL};
    cJSON *o = obj("{\"name\":\"x\",\"enabled\":true}");
    sb_verr_t e;
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_only(o, allowed, NULL, &e), 0);
    assert_string_equal(e.field, "");
    cJSON_Delete(o);

    o = obj("{\"name\":\"x\",\"colour\":\"red\"}");
    assert_int_equal(sb_v_only(o, allowed, NULL, &e), -EINVAL);
    assert_string_equal(e.field, "colour");
    assert_non_null(strstr(e.detail, "colour"));
    memset(&e, 0, sizeof(e));
    assert_int_equal(sb_v_only(o, allowed, "settings", &e), -EINVAL);
    assert_string_equal(e.field, "settings.colour");
    cJSON_Delete(o);

    o = obj("{\"Name\":\"x\"}");
    assert_int_equal(sb_v_only(o, allowed, NULL, &e), -EINVAL);
    assert_string_equal(e.field, "Name");
    cJSON_Delete(o);

    o = obj("{}");
    assert_int_equal(sb_v_only(o, allowed, NULL, &e), 0);
    cJSON_Delete(o);
}

static void test_verr_set(void **state)
{
    (void)state;
    sb_verr_t e;
    assert_int_equal(sb_verr_set(&e, "a.b", "'%s' is %d", "x", 7), -EINVAL);
    assert_string_equal(e.field, "a.b");
    assert_string_equal(e.detail, "'x' is 7");
    /* overlong inputs are truncated, never overflow */
    char big[400];
    memset(big, 'f', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sb_verr_set(&e, big, "%s", big);
    assert_int_equal(strlen(e.field), sizeof(e.field) - 1);
    assert_int_equal(strlen(e.detail), sizeof(e.detail) - 1);
}

#define KEY_TID "123e4567-e89b-12d3-a456-426614174000"
#define KEY_SECRET "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_01234" /* 43 base64url chars */

static bool key_parse(const char *key, char tid[37])
{
    return sb_api_key_parse(key, strlen(key), tid);
}

static void test_api_key_parse(void **state)
{
    (void)state;
    char tid[37];
    assert_int_equal(strlen(KEY_SECRET), 43);
    memset(tid, 'x', sizeof(tid));
    assert_true(key_parse("sbk_" KEY_TID "_" KEY_SECRET, tid));
    assert_string_equal(tid, KEY_TID);

    static const char *const bad[] = {
        "",
        "sbk_",
        "sbk_" KEY_TID "_" KEY_SECRET "x",                           /* too long */
        "sbk_" KEY_TID "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_0123", /* too short */
        "sbx_" KEY_TID "_" KEY_SECRET,
        "SBK_" KEY_TID "_" KEY_SECRET,
        "sbk_" KEY_TID "-" KEY_SECRET,
        "sbk_123e4567-e89b-12d3-a456-42661417400g_" KEY_SECRET,
        "sbk_123e4567e89b-12d3-a456-4266141740000_" KEY_SECRET,
        "sbk_" KEY_TID "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ+/01234",
        "sbk_" KEY_TID "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ=_01234",
        "sbk_" KEY_TID "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ _01234",
        "Bearer sbk_" KEY_TID "_" KEY_SECRET,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (key_parse(bad[i], tid))
            fail_msg("API key '%s' should be refused", bad[i]);
    /* the length argument is honoured */
    assert_false(sb_api_key_parse("sbk_" KEY_TID "_" KEY_SECRET, 83, tid));
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static bool flag(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsBool(v));
    return cJSON_IsTrue(v);
}

static void test_page_envelope(void **state)
{
    (void)state;
    cJSON *env = sb_page_envelope(cJSON_CreateArray(), 1, 20, 42);
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(env, "items")));
    assert_int_equal(num(env, "pageNumber"), 1);
    assert_int_equal(num(env, "totalPages"), 3);
    assert_int_equal(num(env, "totalCount"), 42);
    assert_false(flag(env, "hasPreviousPage"));
    assert_true(flag(env, "hasNextPage"));
    cJSON_Delete(env);

    env = sb_page_envelope(cJSON_CreateArray(), 3, 20, 42);
    assert_int_equal(num(env, "totalPages"), 3);
    assert_true(flag(env, "hasPreviousPage"));
    assert_false(flag(env, "hasNextPage"));
    cJSON_Delete(env);

    env = sb_page_envelope(cJSON_CreateArray(), 2, 20, 40); /* exact multiple */
    assert_int_equal(num(env, "totalPages"), 2);
    assert_true(flag(env, "hasPreviousPage"));
    assert_false(flag(env, "hasNextPage"));
    cJSON_Delete(env);

    env = sb_page_envelope(cJSON_CreateArray(), 1, 20, 0); /* empty collection */
    assert_int_equal(num(env, "totalPages"), 0);
    assert_int_equal(num(env, "totalCount"), 0);
    assert_false(flag(env, "hasPreviousPage"));
    assert_false(flag(env, "hasNextPage"));
    cJSON_Delete(env);

    env = sb_page_envelope(cJSON_CreateArray(), 9, 10, 25); /* beyond the last page */
    assert_int_equal(num(env, "pageNumber"), 9);
    assert_int_equal(num(env, "totalPages"), 3);
    assert_true(flag(env, "hasPreviousPage"));
    assert_false(flag(env, "hasNextPage"));
    cJSON_Delete(env);

    /* the serialised form, as clients see it */
    env = sb_page_envelope(cJSON_CreateArray(), 1, 1, 1);
    char *s = cJSON_PrintUnformatted(env);
    assert_string_equal(s, "{\"items\":[],\"pageNumber\":1,\"totalPages\":1,\"totalCount\":1,"
                           "\"hasPreviousPage\":false,\"hasNextPage\":false}");
    cJSON_free(s);
    cJSON_Delete(env);
}

static cJSON *item(const char *id, const char *created)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    if (created)
        cJSON_AddStringToObject(o, "createdAt", created);
    return o;
}

static const char *id_at(const cJSON *items, int i)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(items, i), "id"));
}

static cJSON *five(void)
{
    cJSON *all = cJSON_CreateArray();
    cJSON_AddItemToArray(all, item("d", "2026-01-04T00:00:00.000Z"));
    cJSON_AddItemToArray(all, item("b", "2026-01-02T00:00:00.000Z"));
    cJSON_AddItemToArray(all, item("e", "2026-01-05T00:00:00.000Z"));
    cJSON_AddItemToArray(all, item("a2", "2026-01-01T00:00:00.000Z"));
    cJSON_AddItemToArray(all, item("a1", "2026-01-01T00:00:00.000Z"));
    return all;
}

static void test_page_slice(void **state)
{
    (void)state;
    cJSON *env = sb_page_slice(five(), 1, 2);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(env, "items");
    assert_int_equal(cJSON_GetArraySize(items), 2);
    /* oldest first; equal createdAt ordered by id */
    assert_string_equal(id_at(items, 0), "a1");
    assert_string_equal(id_at(items, 1), "a2");
    assert_int_equal(num(env, "totalCount"), 5);
    assert_int_equal(num(env, "totalPages"), 3);
    assert_true(flag(env, "hasNextPage"));
    cJSON_Delete(env);

    env = sb_page_slice(five(), 3, 2);
    items = cJSON_GetObjectItemCaseSensitive(env, "items");
    assert_int_equal(cJSON_GetArraySize(items), 1);
    assert_string_equal(id_at(items, 0), "e");
    assert_false(flag(env, "hasNextPage"));
    assert_true(flag(env, "hasPreviousPage"));
    cJSON_Delete(env);

    env = sb_page_slice(five(), 4, 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(env, "items")), 0);
    assert_int_equal(num(env, "totalCount"), 5);
    cJSON_Delete(env);

    env = sb_page_slice(cJSON_CreateArray(), 1, 20);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(env, "items")), 0);
    assert_int_equal(num(env, "totalCount"), 0);
    cJSON_Delete(env);

    /* items without createdAt sort first instead of crashing */
    cJSON *all = cJSON_CreateArray();
    cJSON_AddItemToArray(all, item("x", "2026-01-01T00:00:00.000Z"));
    cJSON_AddItemToArray(all, item("y", NULL));
    env = sb_page_slice(all, 1, 20);
    items = cJSON_GetObjectItemCaseSensitive(env, "items");
    assert_string_equal(id_at(items, 0), "y");
    assert_string_equal(id_at(items, 1), "x");
    cJSON_Delete(env);
}


/* ---------- sb_json_body / sb_page_params: a request without a connection ----------
 * With req->conn NULL the response helpers record the status and release the request into its
 * loop's pool (as for a client that went away), so the handler-facing behaviour can be checked
 * without a server. */

static sb_loop_t *loop;

static int loop_setup(void **state)
{
    (void)state;
    sb_log_level = SB_LOG_ERROR; /* request lines are not wanted on stdout */
    loop = sb_calloc(1, sizeof(*loop));
    return 0;
}

static int loop_teardown(void **state)
{
    (void)state;
    while (loop->free_reqs) {
        sb_req_t *r = loop->free_reqs;
        loop->free_reqs = r->next_free;
        for (sb_arena_chunk_t *c = r->arena, *next; c; c = next) {
            next = c->next;
            sb_free(c);
        }
        sb_buf_free(&r->head);
        sb_buf_free(&r->body);
        sb_buf_free(&r->resp_headers);
        sb_free(r);
    }
    sb_free(loop);
    sb_log_thread_cleanup();
    return 0;
}

static sb_req_t *fake_req(const char *body, size_t len, const char *query)
{
    sb_req_t *r = sb_calloc(1, sizeof(*r));
    r->loop = loop;
    r->method = SB_M_POST;
    r->path = sb_str("/api/admin/tenants");
    r->query = sb_str(query ? query : "");
    sb_buf_init(&r->head, SB_HEAD_MAX);
    sb_buf_init(&r->body, 1u << 20);
    sb_buf_init(&r->resp_headers, 8 * 1024);
    if (body)
        sb_buf_append(&r->body, body, len);
    strcpy(r->request_id, "test");
    return r;
}

/* Frees a request the code under test did not answer (answered ones sit in the loop's pool). */
static void fake_req_free(sb_req_t *r)
{
    if (r->done)
        return;
    for (sb_arena_chunk_t *c = r->arena, *next; c; c = next) {
        next = c->next;
        sb_free(c);
    }
    sb_buf_free(&r->head);
    sb_buf_free(&r->body);
    sb_buf_free(&r->resp_headers);
    sb_free(r);
}

#define BODY(lit) (lit), (sizeof(lit) - 1)

/* Returns the parsed object (caller deletes) or NULL; *status is 0 when nothing was answered. */
static cJSON *json_body(const char *body, size_t len, bool allow_empty, int *status)
{
    sb_req_t *r = fake_req(body, len, NULL);
    cJSON *o = sb_json_body(r, allow_empty);
    *status = r->done ? r->status : 0;
    if (o && r->done)
        fail_msg("sb_json_body returned an object and answered %d", r->status);
    fake_req_free(r);
    return o;
}

static void expect_400(const char *body, size_t len, const char *why)
{
    int status;
    cJSON *o = json_body(body, len, true, &status);
    if (o) {
        static char shown[256];
        char *txt = cJSON_PrintUnformatted(o);
        snprintf(shown, sizeof(shown), "%s", txt ? txt : "?");
        cJSON_free(txt);
        cJSON_Delete(o);
        fail_msg("%s: body accepted as %s", why, shown);
    }
    if (status != 400)
        fail_msg("%s: expected 400, got %d", why, status);
}

static void test_json_body(void **state)
{
    (void)state;
    int status;
    cJSON *o = json_body(BODY("{\"name\":\"acme\",\"n\":[1,2]}"), false, &status);
    assert_non_null(o);
    assert_int_equal(status, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "name")->valuestring, "acme");
    cJSON_Delete(o);

    o = json_body(BODY(" \r\n\t{ \"a\" : \"\xc3\xa9\" } \n"), false, &status);
    assert_non_null(o);
    cJSON_Delete(o);

    /* empty bodies: {} when allowed, 400 otherwise */
    o = json_body(NULL, 0, true, &status);
    assert_true(cJSON_IsObject(o));
    assert_null(o->child);
    cJSON_Delete(o);
    o = json_body(BODY(" \r\n "), true, &status);
    assert_true(cJSON_IsObject(o));
    cJSON_Delete(o);
    assert_null(json_body(NULL, 0, false, &status));
    assert_int_equal(status, 400);

    expect_400(BODY("[1,2]"), "an array");
    expect_400(BODY("\"str\""), "a string");
    expect_400(BODY("42"), "a number");
    expect_400(BODY("null"), "null");
    expect_400(BODY("{\"a\":1"), "truncated object");
    expect_400(BODY("{\"a\":1,}"), "trailing comma");
    expect_400(BODY("{'a':1}"), "single quotes");
    expect_400(BODY("{\"a\":1} x"), "garbage after the value");
    expect_400(BODY("{}{}"), "two values");
    expect_400(BODY("{\"a\":\"\xc3\"}"), "invalid UTF-8");
    expect_400(BODY("{\"a\":\"\xed\xa0\x80\"}"), "UTF-8 surrogate");
}

/* RFC 8259: control characters U+0000..U+001F must be escaped inside strings, and the API
 * contract says a body that is not valid JSON gets a 400. */
static void test_json_body_raw_control_characters(void **state)
{
    (void)state;
    expect_400(BODY("{\"name\":\"raw\x01" "ctl\"}"), "raw U+0001 inside a string");
    expect_400(BODY("{\"name\":\"raw\nnewline\"}"), "raw line feed inside a string");
    expect_400(BODY("{\"name\":\"tab\there\"}"), "raw tab inside a string");
    expect_400(BODY("{\"na\x00me\":\"x\"}"), "raw NUL inside a member name");
}

/* "\u0000" is valid JSON, but a C string cannot hold it: the value must not be silently cut
 * short at the NUL (a 400 naming the field is fine). */
static void test_json_body_escaped_nul(void **state)
{
    (void)state;
    int status;
    cJSON *o = json_body(BODY("{\"name\":\"ab\\u0000cd\"}"), false, &status);
    if (o) {
        const char *name = cJSON_GetObjectItemCaseSensitive(o, "name")->valuestring;
        size_t n = strlen(name);
        cJSON_Delete(o);
        if (n != 5)
            fail_msg("\"ab\\u0000cd\" was accepted and silently cut to %zu bytes", n);
    } else {
        assert_int_equal(status, 400);
    }
}

static int page_params(const char *query, unsigned *page, unsigned *size, int *status)
{
    sb_req_t *r = fake_req(NULL, 0, query);
    int rc = sb_page_params(r, page, size);
    *status = r->done ? r->status : 0;
    fake_req_free(r);
    return rc;
}

static void test_page_params(void **state)
{
    (void)state;
    unsigned page, size;
    int status;
    assert_int_equal(page_params("", &page, &size, &status), 0);
    assert_int_equal(page, 1);
    assert_int_equal(size, 20);
    assert_int_equal(page_params("page=3&pageSize=100", &page, &size, &status), 0);
    assert_int_equal(page, 3);
    assert_int_equal(size, 100);
    assert_int_equal(page_params("pageSize=1&page=%31", &page, &size, &status), 0);
    assert_int_equal(page, 1);
    assert_int_equal(size, 1);
    assert_int_equal(status, 0);
    assert_int_equal(page_params("other=x&page=1000000", &page, &size, &status), 0);
    assert_int_equal(page, 1000000);

    static const char *const bad[] = {
        "page=0", "page=-1", "page=abc", "page=", "page=1.5", "page=+1", "page=1000001",
        "page=99999999999999999999999", "pageSize=0", "pageSize=101", "pageSize=x", "pageSize=",
        "page=2&pageSize=500",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (page_params(bad[i], &page, &size, &status) != -1 || status != 400)
            fail_msg("?%s: expected 400, got status %d", bad[i], status);
    }
}

/* A present but badly encoded value is a bad value, not an absent one: it must not fall back
 * to the default. */
static void test_page_params_bad_escape(void **state)
{
    (void)state;
    static const char *const bad[] = {"page=%zz", "page=1%", "pageSize=%4", "page=%00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned page = 0, size = 0;
        int status;
        int rc = page_params(bad[i], &page, &size, &status);
        if (rc != -1 || status != 400)
            fail_msg("?%s: expected 400, got rc %d (page %u, pageSize %u)", bad[i], rc, page, size);
    }
}

/* A key made by sb_prefixed_key_new reads back with its id; its hash is the SHA-256 of it. */
static void test_prefixed_keys(void **state)
{
    (void)state;
    const char *id = "0f8a5b1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b";
    char key[SB_PREFIXED_KEY_SIZE], key2[SB_PREFIXED_KEY_SIZE], hash[65], again[65], back[37];
    sb_prefixed_key_new("sbp_", id, key, hash);
    assert_int_equal(strlen(key), SB_PREFIXED_KEY_SIZE - 1);
    assert_true(sb_prefixed_key_id(key, strlen(key), "sbp_", back));
    assert_string_equal(back, id);
    assert_false(sb_prefixed_key_id(key, strlen(key), "sbk_", back));
    sb_sha256_hex(key, strlen(key), again);
    assert_string_equal(hash, again);
    sb_prefixed_key_new("sbp_", id, key2, again);
    assert_string_not_equal(key, key2);
    key[50] = '!';
    assert_false(sb_prefixed_key_id(key, strlen(key), "sbp_", back));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_valid),
        cmocka_unit_test(test_origin_valid),
        cmocka_unit_test(test_v_string),
        cmocka_unit_test(test_v_bool),
        cmocka_unit_test(test_v_uuid),
        cmocka_unit_test(test_v_url),
        cmocka_unit_test(test_v_only),
        cmocka_unit_test(test_verr_set),
        cmocka_unit_test(test_api_key_parse),
        cmocka_unit_test(test_page_envelope),
        cmocka_unit_test(test_page_slice),
        cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_json_body_raw_control_characters),
        cmocka_unit_test(test_json_body_escaped_nul),
        cmocka_unit_test(test_page_params),
        cmocka_unit_test(test_page_params_bad_escape),
        cmocka_unit_test(test_prefixed_keys),
    };
    return cmocka_run_group_tests(tests, loop_setup, loop_teardown);
}
