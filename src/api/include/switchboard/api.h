/* The API layer (src/api/): the route table (routes.c), authentication (auth.c), the per-loop
 * services handlers use, and the handlers of each route family, one file per family
 * (admin_*.c, widget*.c, conversations.c, webhooks.c, channel_webhooks.c, ...). */
#ifndef SWITCHBOARD_API_H
#define SWITCHBOARD_API_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "switchboard/http.h"
#include "switchboard/router.h"
#include "switchboard/store.h"
#include "switchboard/validate.h"

/* sb_route_t.flags: which credential a route takes */
enum { SB_AUTH_NONE = 0, SB_AUTH_ADMIN = 1, SB_AUTH_TENANT = 2, SB_AUTH_PARTNER = 3 };

/* routes.c */
int sb_api_routes(sb_router_t *r);
void sb_api_on_request(sb_req_t *req);

/* auth.c */
void sb_auth_admin(sb_req_t *req);  /* runs the handler or answers 401/403 */
void sb_auth_tenant(sb_req_t *req); /* async: looks the key up, then runs the handler */
/* Parses "sbk_<tenantId>_<secret>"; copies the tenant id (37 bytes). */
bool sb_api_key_parse(const char *key, size_t len, char tenant_id[37]);
/* async: a partner key (Bearer "sbp_<partnerId>_<secret>") and, when the route has a
 * {workspace_id}, that the partner reaches that tenant and it is active; then the handler runs
 * with req->key_id = partner id, req->tenant_id = workspace. Refusals in the partner envelope. */
void sb_auth_partner(sb_req_t *req);
bool sb_partner_key_parse(const char *key, size_t len, char partner_id[37]);

/* One page of a list, as a request context. */
typedef struct sb_page {
    unsigned page, size;
} sb_page_t;

/* page.c. Pagination: reads ?page= and ?pageSize=; answers 400 and returns -1 on bad values. */
int sb_page_params(sb_req_t *req, unsigned *page, unsigned *size);
/* Wraps items (taken) in the native pagination envelope. */
cJSON *sb_page_envelope(cJSON *items, unsigned page, unsigned size, unsigned long total);
/* Sorts an array of objects by their "createdAt" string, then keeps one page of it. */
cJSON *sb_page_slice(cJSON *all, unsigned page, unsigned size);

/* The services of the loop a request runs on, as the app layer (src/app/app.c) made them:
 * handlers reach the store, caches and runner only through this. */
typedef struct sb_services {
    sb_store_t *store;                /* the loop's Redis connection */
    sb_pubsub_t *pubsub;              /* its subscriber connection (event streams) */
    struct sb_client *client;         /* its outbound HTTP client */
    struct sb_delivery *delivery;     /* its job runner */
    struct sb_bindings *bindings;     /* channel bindings the inbound webhooks looked up */
    struct sb_teams_keys *teams_keys; /* Bot Framework signing keys (Teams webhook) */
} sb_services_t;

static inline sb_services_t *sb_loop_services(const sb_loop_t *loop)
{
    return (sb_services_t *)loop->app; /* NULL once the loop's services have closed */
}

static inline sb_services_t *sb_services(const sb_req_t *req)
{
    return sb_loop_services(req->loop);
}

/* Shared store plumbing for handlers */
static inline sb_store_t *sb_api_store(sb_req_t *req)
{
    return sb_services(req)->store;
}
void sb_api_unavailable(sb_req_t *req);
/* true (and 503 answered) when reply is NULL or an error */
bool sb_api_reply_failed(sb_req_t *req, const redisReply *reply);
/* The GET of one object kept as a hash: HGETALL key, then 404 with `missing` when it has no
 * fields, else 200 with dto(reply) (answers.c). */
typedef cJSON *(*sb_hash_dto_fn)(const redisReply *hgetall);
void sb_api_get_hash(sb_req_t *req, const char *key, sb_hash_dto_fn dto, const char *missing);
/* The same answer from a script (no keys) that returns one object as HGETALL would. */
void sb_api_eval_hash(sb_req_t *req, const sb_script_t *script, int argc, const char **argv, sb_hash_dto_fn dto,
                      const char *missing);
/* A page of objects kept as hashes, as a script answers it ({total, HGETALL, ...}): the native
 * pagination envelope of dto(each), 503 on a malformed answer (answers.c). */
void sb_api_page_answer(sb_req_t *req, const redisReply *reply, unsigned page, unsigned size, sb_hash_dto_fn dto);
/* Where the URLs switchboard hands out point (API chat's bot_url, the incoming webhook's url):
 * --public-url, else http:// and the Host the request was sent to (the address the client
 * reached us at), else the listening address (answers.c). */
void sb_api_public_base(const sb_req_t *req, char *out, size_t cap);
/* The DELETE of one object by a script that answers 1 (deleted) or 0 (none): 204, or 404 with
 * `missing` (answers.c). */
void sb_api_eval_delete(sb_req_t *req, const sb_script_t *script, int nkeys, int argc, const char **argv,
                        const char *missing);

/* Handlers */
void sb_ops_healthz(sb_req_t *req);
void sb_ops_readyz(sb_req_t *req);
void sb_ops_metrics(sb_req_t *req);

void sb_admin_tenant_create(sb_req_t *req);
void sb_admin_tenant_list(sb_req_t *req);
void sb_admin_tenant_get(sb_req_t *req);
void sb_admin_tenant_update(sb_req_t *req);
void sb_admin_tenant_delete(sb_req_t *req);
void sb_admin_key_create(sb_req_t *req);
void sb_admin_key_list(sb_req_t *req);
void sb_admin_key_revoke(sb_req_t *req);

void sb_admin_widget_create(sb_req_t *req);
void sb_admin_widget_list(sb_req_t *req);
void sb_admin_widget_get(sb_req_t *req);
void sb_admin_widget_update(sb_req_t *req);
void sb_admin_widget_delete(sb_req_t *req);
void sb_admin_agent_create(sb_req_t *req);
void sb_admin_agent_list(sb_req_t *req);
void sb_admin_agent_get(sb_req_t *req);
void sb_admin_agent_update(sb_req_t *req);
void sb_admin_agent_delete(sb_req_t *req);
void sb_admin_channel_create(sb_req_t *req);
void sb_admin_channel_list(sb_req_t *req);
void sb_admin_channel_get(sb_req_t *req);
void sb_admin_channel_update(sb_req_t *req);
void sb_admin_channel_delete(sb_req_t *req);

void sb_tenant_whoami(sb_req_t *req);

/* partners.c: API chat partner API (SPEC 5.6, seed 004; docs/apichat.md) */
void sb_admin_partner_create(sb_req_t *req);
void sb_admin_partner_list(sb_req_t *req);
void sb_admin_partner_get(sb_req_t *req);
void sb_admin_partner_update(sb_req_t *req);
void sb_admin_partner_delete(sb_req_t *req);
void sb_partner_webhook_get(sb_req_t *req);
void sb_partner_webhook_set(sb_req_t *req);
void sb_partner_webhook_delete(sb_req_t *req);
/* The partner routes' error envelope {"status":"error","message","field"?} (field may be NULL). */
void sb_partner_fail(sb_req_t *req, int status, const char *message, const char *field);
/* The bot_url route's lookup of a bot code: cb gets false/nil (no such code) or {tenant id, webhook
 * url, verification key, webhook status, tenant status} (apichat_lookup.lua). -EAGAIN: no store. */
int sb_apichat_lookup(sb_store_t *st, const char *code, sb_store_cb cb, void *data);
extern sb_script_t sb_script_partner_create, sb_script_partner_get, sb_script_partner_update, sb_script_partner_list,
    sb_script_partner_delete, sb_script_partner_auth, sb_script_apichat_set, sb_script_apichat_delete,
    sb_script_apichat_lookup;

/* client_ip.c: the socket peer, or the right-most untrusted X-Forwarded-For entry when the
 * peer is a trusted proxy (SPEC 2). */
void sb_client_ip(const sb_req_t *req, const sb_cidr_list_t *trusted, char out[46]);
/* The client as a rate-limit subject: its IPv4 address, or its IPv6 network of --ipv6-prefix
 * bits ("2001:db8:1:2::/64"), so that one holder of a /64 is one client. */
#define SB_CLIENT_SUBJECT_MAX 64
void sb_client_subject(const sb_req_t *req, char out[SB_CLIENT_SUBJECT_MAX]);

/* ratelimit.c: exact rolling-window limits (docs/ratelimit.md) */
typedef struct sb_rate_rule {
    const char *name;   /* key part: sb:rl:<name>:<subject> */
    unsigned limit;     /* admissions ... */
    unsigned window_ms; /* ... in any window this long */
} sb_rate_rule_t;
void sb_ratelimit_key(char out[SB_KEY_MAX], const sb_rate_rule_t *r, const char *subject);
void sb_ratelimit_args(const sb_rate_rule_t *r, char window[16], char limit[16]);
/* RateLimit-Limit / -Remaining / -Reset (seconds) of an admitted or refused request. */
void sb_ratelimit_headers(sb_req_t *req, const sb_rate_rule_t *r, long long count, long long reset_ms);
/* 429 with Retry-After and the three headers. */
void sb_ratelimit_refuse(sb_req_t *req, const sb_rate_rule_t *r, long long count, long long reset_ms,
                         const char *detail);
/* Stand-alone check for routes that do not limit inside their own script: cb runs with the
 * verdict (count includes this request when admitted); a Redis failure is answered 503. */
typedef void (*sb_ratelimit_cb)(sb_req_t *req, bool admitted, long long count, long long reset_ms);
int sb_ratelimit_check(sb_req_t *req, const sb_rate_rule_t *r, const char *subject, sb_ratelimit_cb cb);
extern const sb_rate_rule_t sb_rule_session_start, sb_rule_otp_verify, sb_rule_widget_messages;

/* widget.c: shared by the widget route families */
void sb_widget_origin(const sb_req_t *req, char out[320]);
/* CORS headers for an origin the widget gate (widget_gate, src/store/lua/lib/widget.lua) admitted: only ever after it. */
void sb_widget_cors(sb_req_t *req, const char *origin);
const char *sb_widget_id_param(sb_req_t *req); /* NULL (404 answered) when malformed */
/* Answers the gate's refusals ('NOWIDGET' 404, 'ORIGIN' 403, 'SUSPENDED' 403), without CORS
 * headers; false when word is none of them. */
bool sb_widget_refused(sb_req_t *req, sb_str_t word);
/* A refusal a widget route finds before its own script (a bad body or query): the gate runs
 * first, so the answer carries CORS headers only for an admitted origin and a foreign page gets
 * the gate's 403. Takes req->ctx. */
void sb_widget_fail(sb_req_t *req, const char *wid, const char *origin, int status, const char *detail,
                    const char *field);
void sb_widget_fail_verr(sb_req_t *req, const char *wid, const char *origin, const sb_verr_t *e);
/* sb_json_body for widget routes: a bad body is answered through sb_widget_fail. */
cJSON *sb_widget_body(sb_req_t *req, const char *wid, const char *origin, bool allow_empty);

void sb_widget_config(sb_req_t *req);
void sb_widget_session_start(sb_req_t *req);
void sb_widget_otp_verify(sb_req_t *req);
/* widget_session.c: routes a session token opens */
void sb_widget_message_post(sb_req_t *req);
void sb_widget_messages_get(sb_req_t *req);
void sb_widget_events(sb_req_t *req);
/* conversations.c: the native conversation API (tenant key) */
void sb_conv_list(sb_req_t *req);
void sb_conv_get(sb_req_t *req);
void sb_conv_messages(sb_req_t *req);
void sb_conv_message_post(sb_req_t *req);
void sb_conv_close(sb_req_t *req);
void sb_conv_command(sb_req_t *req);
/* {command, args?, data?} of a command call; 0 or -EINVAL with the field in e. */
int sb_command_body(const cJSON *body, const cJSON **cmd, const cJSON **args, const cJSON **data, sb_verr_t *e);
/* {command, result, isError, url}: the answer of a command call. */
cJSON *sb_command_answer(const char *command, const char *result, bool is_error, const char *url);
/* incoming.c: the incoming "send" webhook and send credits (SPEC 9, seed 002; docs/incoming.md) */
void sb_incoming_activate(sb_req_t *req);
/* The inbound queue's item of an activation ({"k":"iw",...}) stored as the conversation's message
 * and queued on the account's line (the inbound lane's job for these items: sb_inbound_fn). */
void sb_incoming_store(sb_store_t *st, const sb_config_t *cfg, const char *owner, const char *entry, const char *json,
                       size_t len, void (*done)(void *data), void *data);
void sb_incoming_get(sb_req_t *req);
void sb_incoming_update(sb_req_t *req);
void sb_incoming_regenerate(sb_req_t *req);
void sb_incoming_purge(sb_req_t *req);
void sb_incoming_sends(sb_req_t *req);
void sb_incoming_send_get(sb_req_t *req);
void sb_incoming_log(sb_req_t *req);
void sb_credits_get(sb_req_t *req);
void sb_admin_credits_set(sb_req_t *req);

/* proactive.c: proactive messages (SPEC 10, seed 000; docs/proactive.md) */
void sb_pm_list(sb_req_t *req);
void sb_pm_create(sb_req_t *req);
void sb_pm_get(sb_req_t *req);
void sb_pm_update(sb_req_t *req);
void sb_pm_delete(sb_req_t *req);
void sb_pm_fire(sb_req_t *req);
/* assets.c: the embeddable widget and its demo page */
void sb_asset_widget_js(sb_req_t *req);
void sb_asset_demo(sb_req_t *req);

/* channel_webhooks.c: the platforms' inbound webhooks (SPEC 5) */
void sb_webhook_slack(sb_req_t *req);
void sb_webhook_telegram(sb_req_t *req);
void sb_webhook_whatsapp_verify(sb_req_t *req);
void sb_webhook_whatsapp(sb_req_t *req);
void sb_webhook_teams(sb_req_t *req);
void sb_webhook_apichat(sb_req_t *req);

void sb_webhooks_subs_get(sb_req_t *req);
void sb_webhooks_subs_put(sb_req_t *req);
void sb_webhooks_secret_get(sb_req_t *req);
void sb_webhooks_secret_rotate(sb_req_t *req);
void sb_webhooks_test(sb_req_t *req);
void sb_webhooks_command(sb_req_t *req);
void sb_webhooks_endpoints(sb_req_t *req);
void sb_webhooks_attempts(sb_req_t *req);
void sb_webhooks_enable(sb_req_t *req);
void sb_webhooks_disable(sb_req_t *req);
void sb_webhooks_recover(sb_req_t *req);
void sb_webhooks_dead_list(sb_req_t *req);
void sb_webhooks_dead_replay(sb_req_t *req);

#endif
