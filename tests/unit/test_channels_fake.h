/* What the platform tests (test_slack.c, test_telegram.c, test_whatsapp.c, test_teams.c) share:
 * an inbound request made of plain strings, as the API layer hands one to a platform
 * (sb_in_source_t), memory that lives until the test frees the request, bindings built from a
 * config's JSON, and an HMAC-SHA256 computed by mbedTLS's own code (not src/core/crypto.c's),
 * so a platform's proof is checked against an independent value. Include after cmocka.h. */
#ifndef SB_TEST_CHANNELS_FAKE_H
#define SB_TEST_CHANNELS_FAKE_H

#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/platform.h"

#define FAKE_MAX 8

typedef struct fake_block {
    struct fake_block *next;
    max_align_t data[];
} fake_block_t;

/* A request: up to FAKE_MAX headers (lower-case names), query and path parameters. */
typedef struct fake_req {
    const char *header[FAKE_MAX][2], *query[FAKE_MAX][2], *param[FAKE_MAX][2];
    fake_block_t *blocks;
    sb_inbound_t in;
} fake_req_t;

static inline const char *fake_get(void *src, int kind, const char *name, size_t *len)
{
    fake_req_t *f = src;
    const char *(*list)[2] = kind == SB_IN_HEADER ? f->header : kind == SB_IN_QUERY ? f->query : f->param;
    for (size_t i = 0; i < FAKE_MAX && list[i][0]; i++) {
        if (strcmp(list[i][0], name) == 0) {
            if (len)
                *len = strlen(list[i][1]);
            return list[i][1];
        }
    }
    return NULL;
}

static inline void *fake_alloc(void *src, size_t n)
{
    fake_req_t *f = src;
    fake_block_t *b = malloc(sizeof(*b) + n);
    assert_non_null(b);
    b->next = f->blocks;
    f->blocks = b;
    return b->data;
}

static inline void fake_free(fake_req_t *f)
{
    for (fake_block_t *b = f->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    f->blocks = NULL;
}

static inline void fake_add(const char *(*list)[2], const char *name, const char *value)
{
    for (size_t i = 0; i < FAKE_MAX; i++) {
        if (!list[i][0]) {
            list[i][0] = name;
            list[i][1] = value;
            return;
        }
    }
    fail_msg("more than %d entries", FAKE_MAX);
}

static inline void fake_header(fake_req_t *f, const char *name, const char *value)
{
    fake_add(f->header, name, value);
}

static inline void fake_query(fake_req_t *f, const char *name, const char *value)
{
    fake_add(f->query, name, value);
}

static inline void fake_param(fake_req_t *f, const char *name, const char *value)
{
    fake_add(f->param, name, value);
}

/* Runs the platform's parse (handshake: parse_handshake) over body; returns its status. */
static inline int fake_parse(fake_req_t *f, const char *type, const char *body, bool handshake)
{
    const sb_platform_t *p = sb_platform_find(type);
    assert_non_null(p);
    const sb_in_source_t src = {body, body ? strlen(body) : 0, fake_get, fake_alloc, f};
    sb_inbound_init(&f->in, p, &src, handshake);
    return handshake ? p->parse_handshake(&f->in) : p->parse(&f->in);
}

/* A found binding of type with the config cfg_json (free with binding_free). */
static inline sb_binding_t binding(const char *type, const char *cfg_json)
{
    sb_binding_t b;
    memset(&b, 0, sizeof(b));
    b.found = true;
    snprintf(b.type, sizeof(b.type), "%s", type);
    snprintf(b.tid, sizeof(b.tid), "%s", "0b7e5c1a-0000-4000-8000-000000000001");
    snprintf(b.cid, sizeof(b.cid), "%s", "0b7e5c1a-0000-4000-8000-000000000002");
    snprintf(b.agent, sizeof(b.agent), "%s", "0b7e5c1a-0000-4000-8000-000000000003");
    b.rec = cJSON_Parse(cfg_json);
    assert_non_null(b.rec);
    b.cfg = b.rec;
    return b;
}

static inline void binding_free(sb_binding_t *b)
{
    cJSON_Delete(b->rec);
    b->rec = NULL;
}

static inline void never_done(void *data, int status)
{
    (void)data;
    fail_msg("a synchronous verify called done (status %d)", status);
}

/* The platform's verify of fields[i] against b (NULL: none found), synchronous. */
static inline int fake_verify(fake_req_t *f, size_t i, const sb_binding_t *b, int64_t now_s)
{
    const sb_inbound_env_t env = {now_s, NULL, NULL};
    int rc = sb_inbound_verify(&f->in, i, b, &env, never_done, NULL);
    assert_int_not_equal(rc, SB_INBOUND_PENDING);
    return rc;
}

/* The failure's field and the detail names it (every 400 says which member is wrong). */
static inline void assert_err_field(const fake_req_t *f, const char *field)
{
    assert_string_equal(f->in.err.field, field);
    if (field[0])
        assert_non_null(strstr(f->in.err.detail, field));
}

/* prefix + hex HMAC-SHA256(key, data), by mbedTLS. */
static inline void mbed_hmac_hex(const char *key, const char *data, const char *prefix, char *out, size_t cap)
{
    unsigned char mac[32];
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    assert_int_equal(
        mbedtls_md_hmac(md, (const unsigned char *)key, strlen(key), (const unsigned char *)data, strlen(data), mac),
        0);
    size_t n = (size_t)snprintf(out, cap, "%s", prefix);
    for (size_t i = 0; i < 32 && n + 2 < cap; i++, n += 2)
        snprintf(out + n, cap - n, "%02x", mac[i]);
}

/* prefix + ":" + hex SHA-256(s), by mbedTLS: a hashed index field. */
static inline void mbed_sha_field(const char *prefix, const char *s, char *out, size_t cap)
{
    unsigned char h[32];
    assert_int_equal(mbedtls_sha256_ret((const unsigned char *)s, strlen(s), h, 0), 0);
    size_t n = (size_t)snprintf(out, cap, "%s:", prefix);
    for (size_t i = 0; i < 32 && n + 2 < cap; i++, n += 2)
        snprintf(out + n, cap - n, "%02x", h[i]);
}

/* The platform's config_check of json into an empty config: 0 or -EINVAL with e. */
static inline int config_check(const char *type, const char *json, cJSON **cfg, sb_verr_t *e)
{
    cJSON *in = cJSON_Parse(json);
    assert_non_null(in);
    *cfg = cJSON_CreateObject();
    int rc = sb_platform_find(type)->config_check(*cfg, in, e);
    cJSON_Delete(in);
    return rc;
}

/* The binding fields of a config, as one string "a b c". */
static inline void binding_fields(const char *type, const cJSON *cfg, char *out, size_t cap)
{
    cJSON *fields = cJSON_CreateArray();
    sb_platform_find(type)->binding_fields(cfg, NULL, fields);
    size_t n = 0;
    out[0] = '\0';
    const cJSON *it;
    cJSON_ArrayForEach(it, fields)
    {
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " " : "", it->valuestring);
        assert_true(n < cap);
    }
    cJSON_Delete(fields);
}

/* The message's content as the queue's side checks it: exactly want, and the model accepts it
 * (with the message's text, as sb_inbound_process adds it). */
static inline void assert_content(const sb_in_msg_t *m, const char *want)
{
    assert_non_null(m->content);
    assert_string_equal(m->content, want);
    cJSON *o = cJSON_Parse(m->content);
    assert_non_null(o);
    if (m->text)
        cJSON_AddStringToObject(o, "text", m->text);
    sb_content_t c;
    sb_verr_t e;
    assert_int_equal(sb_content_parse(o, SB_CONTENT_POSTBACK | SB_CONTENT_MEDIA_ID, NULL, &c, &e), 0);
    sb_content_free(&c);
    cJSON_Delete(o);
}

#endif
