/* The chat platforms behind one operations table (docs/channels.md), the way curl puts each TLS
 * backend behind `struct Curl_ssl`: one file per platform in src/channels/ (slack.c, teams.c,
 * telegram.c, whatsapp.c) fills an sb_platform_t, src/channels/platform.c lists them, and the
 * shared code calls through the table: the webhook routes (src/api/channel_webhooks.c), the
 * channel admin routes (src/api/admin_resources.c) and the send façades (src/channels/outbound.c).
 * Adding a platform is a new file and one entry in that table.
 *
 * Nothing here answers HTTP: parse and verify return a status the API layer turns into the
 * response:
 *   0        go on;
 *   -EINVAL  400, err holds the detail and the field (the request is malformed);
 *   -EPERM   401 (no binding, or a proof that does not verify: the detail is the caller's);
 *   -EACCES  403, err holds the detail (and field);
 *   -EAGAIN  503 with Retry-After: retry_after_s, err holds the detail (Teams: no key set);
 *   -ENOENT  404, err holds the detail (API chat: no such bot_url, no apichat channel);
 *   SB_INBOUND_PENDING (verify only) done(data, status) runs later, exactly once. */
#ifndef SWITCHBOARD_PLATFORM_H
#define SWITCHBOARD_PLATFORM_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/buf.h"
#include "switchboard/channels.h"
#include "switchboard/config.h"
#include "switchboard/conv.h"
#include "switchboard/store.h"
#include "switchboard/validate.h"

#define SB_INBOUND_MAX_BINDINGS 8 /* distinct bindings one payload may name (WhatsApp numbers) */
#define SB_INBOUND_PENDING      1 /* verify: the answer comes through done */

typedef struct sb_platform sb_platform_t;

/* What an inbound request gives a platform: plain bytes and strings, no HTTP object. get()
 * returns a request header (lower-case name), a query parameter or a path parameter,
 * NUL-terminated, NULL when absent (and *len its length, when len is not NULL); alloc() returns
 * memory that lives as long as the request (the request's arena; it never fails). */
enum { SB_IN_HEADER, SB_IN_QUERY, SB_IN_PARAM };
typedef struct sb_in_source {
    const char *body; /* the raw body, as it was signed (NULL: none) */
    size_t len;
    const char *(*get)(void *ctx, int kind, const char *name, size_t *len);
    void *(*alloc)(void *ctx, size_t n);
    void *ctx;
} sb_in_source_t;

/* A message on its way into the inbound queue (strings in the request's memory). */
typedef struct sb_in_msg {
    const char *event_id; /* the platform's id of the event: the dedup claim */
    const char *chat, *from, *name, *text;
    const char *pmid;   /* the platform's message id (NULL: the event id) */
    const char *svc;    /* Teams: the serviceUrl replies go to */
    const char *thread; /* Slack: the thread (thread_ts) the message was written in */
    /* NULL, or a JSON object text {attachments?, postback?} of the model (docs/messages.md):
     * the media the customer sent and the button they clicked. text may then be NULL. */
    const char *content;
    const char *email, *phone; /* API chat: the contact's, kept on the sender (NULL: none) */
    int binding;        /* which of the request's bindings (fields[]) it belongs to */
} sb_in_msg_t;

typedef void (*sb_inbound_done_fn)(void *data, int status);
typedef struct sb_inbound sb_inbound_t;

/* A proof the platform leaves to the queueing script, so that a proof kept in the store costs no
 * round trip of its own (API chat: the flow key and the bot code). verify fills it and returns 0;
 * sb_inbound_accept then runs script instead of the queue's own, with keys in front of the
 * stream and args in front of the claim ttl (strings in the request's memory). Its reply is the
 * count of new items once the proof held, else a status that verdict turns into a refusal (a
 * status of platform.h, with in->err). script NULL: verify judged the proof alone. */
#define SB_INBOUND_DEFER_MAX 4
typedef struct sb_in_defer {
    const sb_script_t *script;
    const char *keys[SB_INBOUND_DEFER_MAX], *args[SB_INBOUND_DEFER_MAX];
    size_t nkeys, nargs;
    int (*verdict)(sb_inbound_t *in, const char *status);
} sb_in_defer_t;

/* A binding as its messages are queued: its ids, once its proof held. */
typedef struct sb_in_bound {
    char tid[37], cid[37], agent[37], type[16];
    bool verified;
} sb_in_bound_t;

/* One inbound request: what its platform's parse read, then what verification found. */
struct sb_inbound {
    const sb_platform_t *platform;
    sb_in_source_t req; /* the request, as plain bytes */
    bool handshake;     /* a subscription check (parse_handshake), not a delivery of messages */
    /* parse: */
    sb_in_msg_t *msgs; /* what to store; may be none (acknowledged, nothing stored) */
    size_t nmsgs;
    /* the index fields of the bindings to find, in order: one, or (WhatsApp) one per phone
     * number, each verified on its own (one that fails loses its messages) */
    const char *fields[SB_INBOUND_MAX_BINDINGS];
    size_t nfields;
    const char *challenge; /* answered instead of the acknowledgement once verified (Slack's
                              url_verification, WhatsApp's hub.challenge) */
    void *proof;           /* the platform's own: signature, timestamp, token ... */
    sb_in_bound_t *bound;  /* sb_inbound_verify's record, one per field */
    sb_in_defer_t defer;   /* the part of the proof the queueing script judges (one field only) */
    /* a refusal's detail and field (field "" for none), and a 503's Retry-After */
    sb_verr_t err;
    unsigned retry_after_s;
    /* sb_inbound_verify's own */
    sb_inbound_done_fn _done;
    void *_data;
    size_t _i;
};

/* What verification may need besides the request and the binding. */
typedef struct sb_inbound_env {
    int64_t now_s;               /* Unix time: Slack's timestamp window, the JWT's exp and nbf */
    const sb_config_t *cfg;      /* --botframework-jwks-url */
    sb_teams_keys_t *teams_keys; /* the loop's Bot Framework signing keys */
    sb_store_t *store;           /* the loop's store (API chat checks its flow key there) */
} sb_inbound_env_t;

/* A send being built: the façade (sb_send_build) sets the Content-Type header line and an empty
 * JSON object as the body; the platform appends its URL (and, when the URL holds a credential,
 * the URL as shown in logs: left empty, it is the URL) and its header lines. */
typedef struct sb_send_draft {
    sb_buf_t url, shown, headers;
    cJSON *body;
    bool more; /* the platform sets it when s->part is not the message's last request */
} sb_send_draft_t;

struct sb_platform {
    const char *type;     /* the channel type (SPEC 3) and a conversation's channel: "slack" */
    unsigned claim_ttl_s; /* how long an event id is remembered, so a retry is not stored twice */

    /* Inbound (SPEC 5). Pure: the request's bytes -> in->msgs, in->fields, in->proof (the
     * request's memory); 0, -EINVAL (400), -EPERM (a proof or identity missing: 401). */
    int (*parse)(sb_inbound_t *in);
    /* A subscription check outside the messages' route (WhatsApp's GET): in->challenge and the
     * field to find; its refusals are -EACCES. NULL: the platform has none. */
    int (*parse_handshake)(sb_inbound_t *in);
    /* The proof against fields[i]'s binding b (NULL: none was found; b is valid during the call
     * only): 0, a refusal, or SB_INBOUND_PENDING when it waits (Teams fetches keys): then
     * done(data, status) runs once, never before verify has returned. */
    int (*verify)(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                  sb_inbound_done_fn done, void *data);

    /* Outbound (SPEC 5.5). The send request of s with the channel's config (credentials) and,
     * for Teams, the bearer token: 0, or -EINVAL with err (no credential, an unusable one). */
    int (*send_build)(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                      sb_send_draft_t *d, char *err, size_t errlen);
    /* Headers that depend on the body's exact bytes (a signature), appended once the body is
     * printed. NULL: none. */
    void (*send_sign)(const cJSON *chcfg, const char *body, size_t len, sb_buf_t *headers);
    /* What the platform cannot show of a message's content (docs/messages.md): 0, or -EINVAL
     * with the field and a sentence that names the platform's limit in e. NULL: it shows all. */
    int (*content_check)(const sb_content_t *c, sb_verr_t *e);
    /* The platform's verdict in a 2xx answer (o: its JSON, NULL when it is none): SB_SEND_*. */
    int (*send_result)(const cJSON *o, char *pmid, size_t pmidlen, char *err, size_t errlen);

    /* The channel config (SPEC 3). */
    const char *const *secrets; /* members never shown after creation (NULL-terminated) */
    /* Validates a config (a patch, for an update: null clears an optional member) and merges it
     * into cfg (empty for a create): 0, or -EINVAL with the field ("config.botToken") in e. */
    int (*config_check)(cJSON *cfg, const cJSON *in, sb_verr_t *e);
    /* Appends to the array fields the binding's index fields (docs/channels.md): first its
     * platform identity ("slack:T123", the binding key), then what requests that carry no
     * identity are found by. tenant_id: the binding's tenant (API chat, one channel per
     * workspace, is found by "apichat:<tenant id>"). */
    void (*binding_fields)(const cJSON *cfg, const char *tenant_id, cJSON *fields);
};

/* The platform of a channel type; NULL for none. */
const sb_platform_t *sb_platform_find(const char *type);
/* The i-th platform of the table (NULL past the end): for listing them. */
const sb_platform_t *sb_platform_at(size_t i);

/* Prepares in for p's parse (handshake: parse_handshake instead). */
void sb_inbound_init(sb_inbound_t *in, const sb_platform_t *p, const sb_in_source_t *src, bool handshake);
/* Checks the proof against fields[i]'s binding (the platform's verify) and records the
 * outcome and the binding's ids in bound[i]. Same returns as verify. */
int sb_inbound_verify(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                      sb_inbound_done_fn done, void *data);
/* Some binding of the request verified. */
bool sb_inbound_verified(const sb_inbound_t *in);
/* Claims the event id of every message of a verified binding and queues the new ones (one
 * script, sb:q:in): returns the number of messages handed to the store (0: nothing to store,
 * cb does not run), or -EAGAIN when the store refused (cb does not run). */
int sb_inbound_accept(sb_store_t *st, sb_inbound_t *in, sb_store_cb cb, void *data);
/* The outcome of accept's reply (not NULL, not an error): 0 (stored, or a retry already stored),
 * or the refusal of a deferred proof (in->defer). */
int sb_inbound_accepted(sb_inbound_t *in, const redisReply *reply);

/* ---------- send limits (src/channels/limits.c; docs/channels.md "Platform send limits") ---------- */

/* What a platform allows, in messages per second: to one chat (a Slack channel, a Teams
 * conversation, a Telegram or WhatsApp chat), to a Telegram group or channel (a negative chat
 * id; 0: as any chat), and from one account (a bot, a number: the channel binding). A binding's
 * config "sendLimits" {"perChatPerSecond", "perAccountPerSecond"} overrides per_chat and
 * per_account. */
typedef struct sb_send_limits {
    const char *platform;
    double per_chat, per_group, per_account;
} sb_send_limits_t;

/* The platform's defaults (a cautious 1 per chat and 10 per account for an unknown one). */
const sb_send_limits_t *sb_send_limits_default(const char *platform);
/* The defaults as the pacing script takes them, "<platform>:<chat>:<group>:<account> ...":
 * its length, or -E2BIG. */
int sb_send_limits_format(char *out, size_t cap);

/* A config_check's merge (sb__config_merge with the platform's schema) with the optional
 * "sendLimits" member besides the schema's: an object of rates from 0.01 to 1000 that replaces
 * the binding's whole (null clears it); -EINVAL naming "config.sendLimits.perChatPerSecond". */
struct sb__config_schema;
int sb_send_limits_merge(cJSON *cfg, const cJSON *in, const struct sb__config_schema *s, sb_verr_t *e);

/* A send the platform refused for its rate: whose line waits and for how long. */
enum { SB_LIMIT_CHAT = 1, SB_LIMIT_ACCOUNT = 2 };
typedef struct sb_rate_limit {
    int scope;          /* SB_LIMIT_CHAT: the chat's line; SB_LIMIT_ACCOUNT: every chat of the account */
    long retry_after_s; /* as the platform asked (Retry-After, Telegram's parameters.retry_after), else
                           the period its documents give */
    char why[96];       /* "whatsapp: 130429 throughput limit reached" */
} sb_rate_limit_t;
/* Whether a send's answer (status, Retry-After in seconds or -1, body) is the platform's "too
 * many requests": HTTP 429, Telegram's error_code 429, Slack's "ratelimited", WhatsApp's 130429,
 * 80007, 4 (the number's) and 131056 (the chat's). Pure. */
bool sb_send_rate_limited(const char *platform, int status, long retry_after_s, const char *body, size_t len,
                          sb_rate_limit_t *out);

#endif
