/* The channels layer (docs/channels.md): Slack, Teams, Telegram and WhatsApp as switchboard
 * sees them. Not an HTTP API: nothing here answers a request (the webhook routes are the API
 * layer's, src/api/channel_webhooks.c). What is declared here: the binding cache each loop
 * keeps and the look-up through it (binding.c), shared-secret tokens and the request proofs of
 * Slack (slack.c) and Meta (whatsapp.c), Bot Framework signing keys (teams_keys.c, jwt.c) and
 * the serviceUrl allow-list (teams.c), the inbound queue's processing (inbound.c), and the send
 * façades and the Bot Framework token cache the delivery layer calls (outbound.c; the
 * client-credentials request: teams.c). Each platform's parser, proof, send and config schema
 * sit behind one operations table: platform.h. */
#ifndef SWITCHBOARD_CHANNELS_H
#define SWITCHBOARD_CHANNELS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "switchboard/client.h"
#include "switchboard/config.h"
#include "switchboard/jwt.h"
#include "switchboard/store.h"

#define SB_BINDING_FIELD_MAX 192

/* A channel binding as the handlers see it. */
typedef struct sb_binding {
    char field[SB_BINDING_FIELD_MAX]; /* the index field it was found by */
    uint64_t expires;                 /* uv_now() ms */
    bool found;
    char tid[37], cid[37], agent[37], type[16];
    cJSON *rec;       /* the channel record (owned) */
    const cJSON *cfg; /* its config */
} sb_binding_t;

/* A cache of bindings (found and unknown), kept --binding-cache-ms. One per loop: it takes no
 * lock, so a loop's own thread is its only user. */
typedef struct sb_bindings sb_bindings_t;
sb_bindings_t *sb_bindings_new(void);
void sb_bindings_free(sb_bindings_t *b);

/* cb gets status 0 and the binding of an index field ("slack:T123", ...), or NULL when there is
 * none; or -EAGAIN (and NULL) when the store failed: the caller answers that. It runs at once
 * from the cache, else after one script; the binding is valid only during cb. */
typedef void (*sb_binding_cb)(void *data, int status, const sb_binding_t *b);
/* A look-up in flight, in the caller's memory until cb has run (like a libuv request). */
typedef struct sb_binding_find {
    sb_bindings_t *bs;
    uv_loop_t *loop;
    uint64_t ttl_ms;
    sb_binding_cb cb;
    void *data;
    char field[SB_BINDING_FIELD_MAX];
} sb_binding_find_t;
/* Looks field up in the loop's cache bs, else through the store st (the result cached ttl_ms,
 * by the loop's clock). */
void sb_binding_find(sb_binding_find_t *f, sb_bindings_t *bs, sb_store_t *st, uv_loop_t *loop, uint64_t ttl_ms,
                     const char *field, sb_binding_cb cb, void *data);

/* A config secret (previous: its rotation twin "<name>Previous"); NULL when missing or empty. */
const char *sb_binding_secret(const sb_binding_t *b, const char *name, bool previous);

/* Shared-secret tokens (Telegram's secret token, Slack's legacy verification token, WhatsApp's
 * verify token) compared as SHA-256 digests: constant time, the length included. Missing
 * secrets never match. */
bool sb_token_equal(const char *secret, const char *given);

/* The Bot Framework signing keys of one loop (src/channels/teams_keys.c). */
typedef struct sb_teams_keys sb_teams_keys_t;
sb_teams_keys_t *sb_teams_keys_new(uv_loop_t *loop, sb_client_t *client);
void sb_teams_keys_free(sb_teams_keys_t *k);
/* cb gets the key set of a channel's inline JWKS text (inline_jwks) or of a JWKS URL (NULL when
 * none can be had), valid during cb: at once when known, else after a fetch. refresh: a token
 * named a key id the set lacks; the URL is fetched again unless it was within the last second. */
typedef void (*sb_teams_keys_cb)(void *data, const sb_jwks_t *ks);
void sb_teams_keys_get(sb_teams_keys_t *k, const char *url, const char *inline_jwks, bool refresh, sb_teams_keys_cb cb,
                       void *data);

/* The delivery engine hands each entry of the inbound queue here (lane sb:q:in), as the
 * consumer `owner` that holds the inbound lease. done(data) runs when the entry is settled
 * (acknowledged, or left pending: a store failure, or the lease was no longer owner's). */
void sb_inbound_process(sb_store_t *st, const sb_config_t *cfg, const char *owner, const char *entry, const char *json,
                        size_t len, void (*done)(void *data), void *data);
/* One entry of the inbound queue being stored, for the jobs of that queue (sb_inbound_process,
 * the incoming webhook's sb_incoming_store): the lane's done callback and the entry's id. */
typedef struct sb_inbound_job {
    void (*done)(void *);
    void *data;
    char entry[48];
} sb_inbound_job_t;
sb_inbound_job_t *sb_inbound_job_new(const char *entry, void (*done)(void *), void *data);
/* done(data), and the job freed. */
void sb_inbound_job_end(sb_inbound_job_t *j);
/* An entry its job cannot read: logged as `what`, acknowledged and deleted, then the job ends
 * (at once when the store refuses the commands). */
void sb_inbound_job_drop(sb_store_t *st, sb_inbound_job_t *j, const char *what);

/* Slack request proof (slack.c; pure, for tests): 0 when sig is "v0=" + hex HMAC-SHA256(secret,
 * "v0:" ts ":" body) and ts is within 300 s of now_s; -EPERM otherwise. */
int sb_slack_signature_ok(const char *secret, const char *sig, size_t siglen, const char *ts, size_t tslen,
                          const char *body, size_t n, int64_t now_s);
/* "sha256=" + hex HMAC-SHA256(secret, body) (WhatsApp, Meta; whatsapp.c): 0 or -EPERM. */
int sb_hub_signature_ok(const char *secret, const char *sig, size_t siglen, const char *body, size_t n);

/* ---------- replies out (outbound.c, dispatching to each platform's file) ---------- */

/* The platforms that cannot show c (each one's content_check), as the JSON object
 * sb_conv_reply takes: {"<type>": {"field": ..., "detail": ...}, ...}; NULL when all can (to
 * free with sb_free). */
struct sb_content;
char *sb_content_unfit(const struct sb_content *c);

/* One platform send, as its queue entry describes it. */
typedef struct sb_send {
    const char *platform, *chat, *service_url, *text; /* text: the plain rendering (links as lines) */
    const char *thread; /* Slack: the thread to reply in (NULL or "": the channel itself) */
    /* The content for the platform's own rendering (docs/messages.md); NULL: text only. A
     * platform that needs several requests for it (Telegram, WhatsApp) sends part `part` of
     * them; the request says whether more follow. */
    const struct sb_content *content;
    unsigned part;
    /* WhatsApp: a file uploaded to the Cloud API (the incoming webhook, docs/incoming.md): sent
     * by its media id as media_kind (image | video | audio | document, named media_name), text
     * its caption; NULL: none */
    const char *media_id, *media_kind, *media_name;
} sb_send_t;

typedef struct sb_send_req {
    char *url;       /* what is requested; may carry a credential (Telegram) */
    char *shown_url; /* the same with any credential shown as <token>: attempt logs, dead letters */
    char *headers;   /* header lines */
    char *body;
    bool more; /* another part of the message follows this one */
} sb_send_req_t;

/* The request of a send from the channel's config (credentials) and, for Teams, the bearer
 * token. 0, or -EINVAL with err: no credential, a serviceUrl off the allow-list. */
int sb_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                  sb_send_req_t *out, char *err, size_t errlen);
void sb_send_req_free(sb_send_req_t *r);

/* The platform's verdict in a 2xx answer: accepted (pmid = its message id, may be empty), or a
 * refusal in a 2xx (Slack's "ok":false): final, or worth a retry (ratelimited). */
enum { SB_SEND_ACCEPTED = 0, SB_SEND_REFUSED = 1, SB_SEND_RETRY = 2 };
int sb_send_result(const char *platform, const char *body, size_t len, char *pmid, size_t pmidlen, char *err,
                   size_t errlen);

/* WhatsApp's media (whatsapp.c; the incoming webhook's files, docs/incoming.md). What a
 * downloaded file is by its Content-Type, else (absent or application/octet-stream) by its first
 * bytes: 0 with kind (image | video | audio | document, what the Cloud API sends it as) and the
 * MIME type its upload declares, or -EMEDIUMTYPE for a web page (HTML). */
int sb_wa_media_kind(const char *content_type, const char *bytes, size_t n, const char **kind, char *mime,
                     size_t cap);
/* The upload of one file (POST <graph>/<phoneNumberId>/media, multipart/form-data), like
 * sb_send_build; its answer's media id (0, or -EINVAL when it holds none). */
int sb_wa_upload_build(const sb_config_t *cfg, const cJSON *chcfg, const char *mime, const char *name,
                       const char *bytes, size_t n, sb_send_req_t *out, size_t *body_len, char *err, size_t errlen);
int sb_wa_upload_result(const char *body, size_t len, char *id, size_t cap);

/* Teams replies (teams.c) go only to allow-listed hosts (the bot's token travels with them): the origin of
 * one of the channel's allowedServiceUrls, or, when it lists none, https://smba.trafficmanager.net
 * and https hosts under botframework.com. */
bool sb_teams_service_url_allowed(const cJSON *chcfg, const char *service_url);

/* Bot Framework OAuth tokens by app id, shared by the process's loops, kept until a minute
 * before they expire. get copies the token into out (false: none valid); put caches the
 * token of a token endpoint's answer ({access_token, expires_in}), -EINVAL if it holds none. */
#define SB_BF_TOKEN_MAX 8192
bool sb_send_token_get(const char *app, char *out, size_t cap);
int sb_send_token_put(const char *app, const char *body, size_t len);
void sb_send_token_forget(const char *app);
/* The Bot Framework's client-credentials form body (teams.c; to free). */
char *sb_send_token_request(const char *app, const char *password);

#endif
