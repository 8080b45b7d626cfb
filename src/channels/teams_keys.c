/* The Bot Framework signing keys one loop knows (docs/channels.md, Teams): key sets by source —
 * a channel's inline JWKS (by the SHA-256 of its text) or a JWKS URL (the channel's jwksUrl or
 * --botframework-jwks-url) fetched with the loop's HTTP client, kept an hour and fetched again
 * early when a token names a key id the set does not hold. One fetch per URL at a time (the
 * requests that need it wait for it) and at most one a second, so a burst of forged key ids or
 * an unreachable key server never turns into a flood of fetches. */
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

typedef struct waiter {
    struct waiter *next;
    sb_teams_keys_cb cb;
    void *data;
} waiter_t;

typedef struct fetch {
    sb_teams_keys_t *k;
    char id[65];
    waiter_t *waiters; /* every request that needs this fetch's answer */
} fetch_t;

typedef struct key_slot {
    char id[65]; /* sha256 hex of the source: a JWKS text or a URL (the one starts with '{') */
    sb_jwks_t *ks;
    uint64_t fetched, tried; /* uv_now() ms: last good fetch, last fetch started */
    fetch_t *inflight;       /* one fetch per source at a time, whatever the number of requests */
} key_slot_t;

struct sb_teams_keys {
    key_slot_t slots[KEY_SLOTS];
    uv_loop_t *loop;
    sb_client_t *client;
};

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
    bool ours = s->inflight == f;
    if (ours)
        s->inflight = NULL;
    sb_jwks_t *ks = NULL;
    if (resp->error == SB_CLIENT_OK && resp->status == 200 && resp->body_len == resp->body_total)
        ks = sb_jwks_parse(resp->body, resp->body_len, NULL, 0);
    if (!ks && resp->error != SB_CLIENT_ERR_SHUTDOWN)
        sb_log(SB_LOG_WARN, "Bot Framework signing keys unavailable", "\"status\":%d,\"error\":\"%s\"", resp->status,
               resp->error == SB_CLIENT_OK ? "not a usable JWKS" : resp->error_text);
    if (ks && ours) {
        slot_put(s, f->id, ks, uv_now(k->loop));
        ks = NULL;
    }
    /* a failed fetch keeps the keys known before (if any); a slot taken by another source
     * meanwhile still lets this fetch's waiters use what it got */
    const sb_jwks_t *use = ks ? ks : ours ? s->ks : NULL;
    for (waiter_t *w = f->waiters, *next; w; w = next) {
        next = w->next;
        w->cb(w->data, use);
        sb_free(w);
    }
    sb_jwks_free(ks);
    sb_free(f);
}

static void wait_on(fetch_t *f, sb_teams_keys_cb cb, void *data)
{
    waiter_t *w = sb_malloc(sizeof(*w));
    w->cb = cb;
    w->data = data;
    w->next = f->waiters;
    f->waiters = w;
}

void sb_teams_keys_get(sb_teams_keys_t *k, const char *url, const char *inline_jwks, bool refresh, sb_teams_keys_cb cb,
                       void *data)
{
    char id[65];
    uint64_t now = uv_now(k->loop);
    const char *src = inline_jwks ? inline_jwks : url;
    sb_sha256_hex(src, strlen(src), id);
    key_slot_t *s = slot_of(k, id);
    bool mine = strcmp(s->id, id) == 0;
    if (inline_jwks) {
        if (!mine)
            slot_put(s, id, sb_jwks_parse(inline_jwks, strlen(inline_jwks), NULL, 0), now);
        cb(data, s->ks);
        return;
    }
    const sb_jwks_t *known = mine ? s->ks : NULL;
    bool fresh = known && now - s->fetched < URL_TTL_MS;
    if (fresh && (!refresh || now - s->fetched < REFETCH_MIN_MS)) {
        cb(data, known);
        return;
    }
    if (mine && s->inflight) {
        wait_on(s->inflight, cb, data);
        return;
    }
    if (mine && now - s->tried < REFETCH_MIN_MS) { /* tried within the second: no fetch storm */
        cb(data, known);
        return;
    }
    if (!mine) {
        s->inflight = NULL; /* another source's fetch keeps its own waiters */
        slot_put(s, id, NULL, 0);
    }
    fetch_t *f = sb_calloc(1, sizeof(*f));
    f->k = k;
    snprintf(f->id, sizeof(f->id), "%s", id);
    wait_on(f, cb, data);
    s->tried = now;
    s->inflight = f;
    sb_client_req_t r = {url, "GET", "Accept: application/json\r\n", "", 0, FETCH_TIMEOUT_MS, JWKS_MAX};
    if (sb_client_send(k->client, &r, on_fetched, f) < 0) {
        s->inflight = NULL;
        sb_free(f->waiters);
        sb_free(f);
        cb(data, known);
    }
}
