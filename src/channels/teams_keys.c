/* The Bot Framework signing keys one loop knows (docs/channels.md, Teams): key sets by source —
 * a channel's inline JWKS (by the SHA-256 of its text) or a JWKS URL (the channel's jwksUrl or
 * --botframework-jwks-url) fetched with the loop's HTTP client, kept an hour and fetched again
 * early when a token names a key id the set does not hold (at most once a second per URL, so
 * forged key ids cannot turn into a flood of fetches). */
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/channels.h"
#include "switchboard/crypto.h"
#include "switchboard/log.h"

#define KEY_SLOTS        8
#define URL_TTL_MS       3600000
#define REFETCH_MIN_MS   1000
#define FETCH_TIMEOUT_MS 3000
#define JWKS_MAX         (256 * 1024)

typedef struct key_slot {
    char id[65]; /* sha256 hex of the source */
    sb_jwks_t *ks;
    uint64_t fetched; /* uv_now() ms */
} key_slot_t;

struct sb_teams_keys {
    key_slot_t slots[KEY_SLOTS];
    uv_loop_t *loop;
    sb_client_t *client;
};

typedef struct fetch {
    sb_teams_keys_t *k;
    char id[65];
    sb_teams_keys_cb cb;
    void *data;
} fetch_t;

sb_teams_keys_t *sb_teams_keys_new(uv_loop_t *loop, sb_client_t *client)
{
    sb_teams_keys_t *k = sb_calloc(1, sizeof(*k));
    k->loop = loop;
    k->client = client;
    return k;
}

void sb_teams_keys_free(sb_teams_keys_t *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < KEY_SLOTS; i++)
        sb_jwks_free(k->slots[i].ks);
    sb_free(k);
}

static key_slot_t *slot_of(sb_teams_keys_t *k, const char *id)
{
    unsigned h = 0;
    for (size_t i = 0; i < 8; i++)
        h = h * 16 + (unsigned)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
    return &k->slots[h % KEY_SLOTS];
}

static void slot_put(key_slot_t *s, const char *id, sb_jwks_t *ks, uint64_t now)
{
    sb_jwks_free(s->ks);
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->ks = ks;
    s->fetched = now;
}

static void on_fetched(void *data, const sb_client_resp_t *resp)
{
    fetch_t *f = data;
    sb_teams_keys_t *k = f->k;
    key_slot_t *s = slot_of(k, f->id);
    sb_jwks_t *ks = NULL;
    if (resp->error == SB_CLIENT_OK && resp->status == 200 && resp->body_len == resp->body_total)
        ks = sb_jwks_parse(resp->body, resp->body_len, NULL, 0);
    if (ks)
        slot_put(s, f->id, ks, uv_now(k->loop));
    else if (resp->error != SB_CLIENT_ERR_SHUTDOWN)
        sb_log(SB_LOG_WARN, "Bot Framework signing keys unavailable", "\"status\":%d,\"error\":\"%s\"", resp->status,
               resp->error == SB_CLIENT_OK ? "not a usable JWKS" : resp->error_text);
    /* a failed fetch keeps the keys known before (if any) */
    f->cb(f->data, strcmp(s->id, f->id) == 0 ? s->ks : NULL);
    sb_free(f);
}

void sb_teams_keys_get(sb_teams_keys_t *k, const char *url, const char *inline_jwks, bool refresh, sb_teams_keys_cb cb,
                       void *data)
{
    char id[65];
    uint64_t now = uv_now(k->loop);
    if (inline_jwks) {
        sb_sha256_hex(inline_jwks, strlen(inline_jwks), id);
        key_slot_t *s = slot_of(k, id);
        if (strcmp(s->id, id) != 0)
            slot_put(s, id, sb_jwks_parse(inline_jwks, strlen(inline_jwks), NULL, 0), now);
        cb(data, s->ks);
        return;
    }
    sb_buf_t src;
    sb_buf_init(&src, 4096 + 8);
    sb_buf_printf(&src, "url:%s", url);
    sb_sha256_hex(src.data, src.len, id);
    sb_buf_free(&src);
    key_slot_t *s = slot_of(k, id);
    bool known = strcmp(s->id, id) == 0 && s->ks;
    if (known && now - s->fetched < URL_TTL_MS && (!refresh || now - s->fetched < REFETCH_MIN_MS)) {
        cb(data, s->ks);
        return;
    }
    fetch_t *f = sb_malloc(sizeof(*f));
    f->k = k;
    snprintf(f->id, sizeof(f->id), "%s", id);
    f->cb = cb;
    f->data = data;
    sb_client_req_t r = {url, "GET", "Accept: application/json\r\n", "", 0, FETCH_TIMEOUT_MS, JWKS_MAX};
    if (sb_client_send(k->client, &r, on_fetched, f) < 0) {
        sb_free(f);
        cb(data, known ? s->ks : NULL);
    }
}
