/* Rate limits (SPEC 2, docs/ratelimit.md): exact rolling windows held in Redis. The Lua half
 * (src/store/lua/lib/ratelimit.lua) is pasted into the scripts of routes that limit inside their own single
 * round trip; sb_ratelimit_check is the stand-alone check for any other route. This file says
 * how a limit looks on the wire. */
#include <stdio.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/text.h"

void sb_ratelimit_key(char out[SB_KEY_MAX], const sb_rate_rule_t *r, const char *subject)
{
    char id[160];
    sb_str_join(id, sizeof(id), (const char *const[]){r->name, ":", subject}, 3);
    sb_key_global(out, "rate", id);
}

void sb_ratelimit_args(const sb_rate_rule_t *r, char window[16], char limit[16])
{
    sb_fmt_u64(r->window_ms, window); /* 32 bits: at most 10 digits */
    sb_fmt_u64(r->limit, limit);
}

void sb_ratelimit_headers(sb_req_t *req, const sb_rate_rule_t *r, long long count, long long reset_ms)
{
    char v[24];
    long long remaining = (long long)r->limit - count;
    sb_fmt_u64(r->limit, v);
    sb_resp_header(req, "RateLimit-Limit", v);
    sb_fmt_u64(remaining < 0 ? 0 : (uint64_t)remaining, v);
    sb_resp_header(req, "RateLimit-Remaining", v);
    sb_fmt_u64(reset_ms <= 0 ? 0 : (uint64_t)(reset_ms + 999) / 1000, v);
    sb_resp_header(req, "RateLimit-Reset", v);
}

void sb_ratelimit_refuse(sb_req_t *req, const sb_rate_rule_t *r, long long count, long long reset_ms,
                         const char *detail)
{
    sb_ratelimit_headers(req, r, count, reset_ms);
    char ra[24];
    snprintf(ra, sizeof(ra), "%lld", reset_ms <= 0 ? 1 : (reset_ms + 999) / 1000);
    sb_resp_header(req, "Retry-After", ra);
    sb_resp_problem(req, 429, detail, NULL);
}

typedef struct check_ctx {
    sb_req_t *req;
    const sb_rate_rule_t *rule;
    sb_ratelimit_cb cb;
} check_ctx_t;

static void on_checked(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    check_ctx_t *c = data;
    if (sb_api_reply_failed(c->req, reply))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        sb_api_unavailable(c->req);
        return;
    }
    c->cb(c->req, reply->element[0]->integer == 1, reply->element[1]->integer, reply->element[2]->integer);
}

int sb_ratelimit_check(sb_req_t *req, const sb_rate_rule_t *r, const char *subject, sb_ratelimit_cb cb)
{
    check_ctx_t *c = sb_req_alloc(req, sizeof(*c));
    c->req = req;
    c->rule = r;
    c->cb = cb;
    char key[SB_KEY_MAX], window[16], limit[16];
    sb_ratelimit_key(key, r, subject);
    sb_ratelimit_args(r, window, limit);
    const char *argv[] = {key, window, limit};
    return sb_store_eval(sb_api_store(req), &sb_script_ratelimit, 1, 3, argv, NULL, on_checked, c);
}
