/* The platforms' inbound webhooks (SPEC 5, docs/channels.md) as thin adapters: a route hands
 * the request's bytes to its platform's parse (platform.h; each platform's parser and proof are
 * src/channels/<platform>.c), finds every binding the request names through the loop's cache,
 * has the platform verify its proof, gives the messages to the script that claims each event id
 * and queues the new ones (sb_inbound_accept), and turns each status into the answer. The
 * loop's services (store, binding cache, Teams keys) are reached here only and passed down. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/clock.h"
#include "switchboard/platform.h"

/* One webhook request on its way through its bindings. */
typedef struct hook {
    sb_req_t *req;
    sb_inbound_t in;
    sb_binding_find_t find;
    size_t next;                    /* the binding looked up next */
    void (*answer)(struct hook *h); /* once the bindings are verified */
} hook_t;

/* ---------- the request as plain bytes ---------- */

static const char *req_get(void *ctx, int kind, const char *name, size_t *len)
{
    sb_req_t *req = ctx;
    const char *v;
    if (kind == SB_IN_HEADER) {
        const sb_header_t *h = sb_req_header(req, name);
        if (!h)
            return NULL;
        if (len)
            *len = h->value.len;
        return sb_req_strndup(req, h->value.p, h->value.len);
    }
    v = kind == SB_IN_QUERY ? sb_req_query(req, name) : sb_req_param(req, name);
    if (v && len)
        *len = strlen(v);
    return v;
}

static void *req_alloc(void *ctx, size_t n)
{
    return sb_req_alloc(ctx, n);
}

/* ---------- answers ---------- */

static void unauthorized(sb_req_t *req)
{
    sb_resp_problem(req, 401, "the request is not signed by a known channel binding", NULL);
}

static void answer_ok(sb_req_t *req)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    sb_resp_send(req, 200, "application/json", ok, sizeof(ok) - 1);
}

/* A status of parse or verify (platform.h) as the answer. */
static void refuse(hook_t *h, int status)
{
    sb_req_t *req = h->req;
    const char *field = h->in.err.field[0] ? h->in.err.field : NULL;
    const char *detail = h->in.err.detail[0] ? h->in.err.detail : "the request is refused";
    if (status == -EINVAL) {
        sb_resp_problem(req, 400, detail, field);
    } else if (status == -EACCES) {
        sb_resp_problem(req, 403, detail, field);
    } else if (status == -ENOENT) {
        sb_resp_problem(req, 404, detail, field);
    } else if (status == -EAGAIN) {
        if (h->in.retry_after_s) {
            char s[16];
            snprintf(s, sizeof(s), "%u", h->in.retry_after_s);
            sb_resp_header(req, "Retry-After", s);
        }
        sb_resp_problem(req, 503, detail, NULL);
    } else {
        unauthorized(req);
    }
}

static void on_accepted(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    hook_t *h = data;
    if (sb_api_reply_failed(h->req, reply))
        return;
    int rc = sb_inbound_accepted(&h->in, reply); /* a proof left to the script may not hold */
    if (rc < 0)
        refuse(h, rc);
    else
        answer_ok(h->req);
}

/* The messages of the verified bindings into the queue, then {"status":"ok"}. */
static void accept_msgs(hook_t *h)
{
    int n = sb_inbound_accept(sb_api_store(h->req), &h->in, on_accepted, h);
    if (n < 0)
        sb_api_unavailable(h->req);
    else if (n == 0)
        answer_ok(h->req); /* nothing to store: acknowledged */
}

/* ---------- parse, find, verify ---------- */

static void next_binding(hook_t *h);

static void on_verified(void *data, int status)
{
    hook_t *h = data;
    /* A request naming one binding gets its refusal. One naming several (WhatsApp) loses the
     * messages of each binding that fails, and is refused only when none verifies. */
    if (status < 0 && h->in.nfields == 1) {
        refuse(h, status);
        return;
    }
    h->next++;
    next_binding(h);
}

static void on_binding(void *data, int status, const sb_binding_t *b)
{
    hook_t *h = data;
    if (status < 0) {
        sb_api_unavailable(h->req);
        return;
    }
    const sb_inbound_env_t env = {sb_now_s(), h->req->loop->srv->cfg, sb_services(h->req)->teams_keys,
                                  sb_api_store(h->req)};
    int rc = sb_inbound_verify(&h->in, h->next, b, &env, on_verified, h);
    if (rc != SB_INBOUND_PENDING)
        on_verified(h, rc);
}

static void next_binding(hook_t *h)
{
    if (h->next < h->in.nfields) {
        sb_req_t *req = h->req;
        sb_services_t *sv = sb_services(req);
        sb_binding_find(&h->find, sv->bindings, sv->store, &req->loop->uv, req->loop->srv->cfg->binding_cache_ms,
                        h->in.fields[h->next], on_binding, h);
        return;
    }
    if (!sb_inbound_verified(&h->in)) {
        unauthorized(h->req);
        return;
    }
    h->answer(h);
}

static void run(sb_req_t *req, const char *type, bool handshake, void (*answer)(hook_t *h))
{
    const sb_platform_t *p = sb_platform_find(type);
    hook_t *h = sb_req_alloc(req, sizeof(*h));
    memset(h, 0, sizeof(*h));
    h->req = req;
    h->answer = answer;
    const sb_in_source_t src = {req->body.data, req->body.len, req_get, req_alloc, req};
    sb_inbound_init(&h->in, p, &src, handshake);
    int rc = handshake ? p->parse_handshake(&h->in) : p->parse(&h->in);
    if (rc < 0) {
        refuse(h, rc);
        return;
    }
    next_binding(h);
}

/* ---------- the routes ---------- */

/* Slack's url_verification is answered with its challenge; anything else acknowledged. */
static void answer_slack(hook_t *h)
{
    if (!h->in.challenge) {
        accept_msgs(h);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "challenge", h->in.challenge);
    sb_resp_json(h->req, 200, o);
    cJSON_Delete(o);
}

static void answer_challenge(hook_t *h)
{
    sb_resp_header(h->req, "X-Content-Type-Options", "nosniff");
    sb_resp_send(h->req, 200, "text/plain; charset=utf-8", h->in.challenge, strlen(h->in.challenge));
}

void sb_webhook_slack(sb_req_t *req)
{
    run(req, "slack", false, answer_slack);
}

void sb_webhook_telegram(sb_req_t *req)
{
    run(req, "telegram", false, accept_msgs);
}

void sb_webhook_whatsapp_verify(sb_req_t *req)
{
    run(req, "whatsapp", true, answer_challenge);
}

void sb_webhook_whatsapp(sb_req_t *req)
{
    run(req, "whatsapp", false, accept_msgs);
}

void sb_webhook_teams(sb_req_t *req)
{
    run(req, "teams", false, accept_msgs);
}

/* API chat's bot_url (seed 004, docs/apichat.md): the partner's front end posts its users'
 * messages; the answer is {"status":"ok"} like the other webhooks. */
void sb_webhook_apichat(sb_req_t *req)
{
    run(req, "apichat", false, accept_msgs);
}
