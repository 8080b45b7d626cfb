/* The platforms' published send limits (docs/channels.md "Platform send limits"; platform.h):
 * the table of defaults the pacing script takes (src/store/lua/pace_tick.lua), a binding's
 * "sendLimits" override checked for each platform's config_check, and the reading of a send's
 * answer for the platform's "too many requests" (whose line waits, and for how long), which the
 * delivery layer calls (src/delivery/send.c). Pure: no I/O, no clock, no globals but the table. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "switchboard/common.h"
#include "switchboard/json.h"

#define RATE_MIN 0.01 /* one message in 100 s */
#define RATE_MAX 1000.0

/* Messages per second. Sources (docs/channels.md lists them with the pages):
 *   slack     chat.postMessage: "1 message per second to a specific channel", the workspace
 *             "several hundred messages per minute" (taken as 300/min);
 *   teams     per bot per conversation 7 in 1 s, 8 in 2 s, 60 in 30 s, 1800 in 1 h (2/s keeps the
 *             first three; the hourly one is left to the 429s), 50 requests/s per app and tenant;
 *   telegram  about 1 message/s in one chat, 20 a minute in one group, about 30/s per bot;
 *   whatsapp  80 messages/s per business number; the pair rate limit (about 1 per 6 s to one
 *             user) allows bursts, so a chat's replies go 1/s and a 131056 makes it wait 6 s. */
static const sb_send_limits_t defaults[] = {
    {"slack", 1, 0, 5},
    {"teams", 2, 0, 50},
    {"telegram", 1, 20.0 / 60.0, 30},
    {"whatsapp", 1, 0, 80},
};

static const sb_send_limits_t fallback = {"", 1, 0, 10};

const sb_send_limits_t *sb_send_limits_default(const char *platform)
{
    for (size_t i = 0; platform && i < SB_ARRAY_SIZE(defaults); i++)
        if (strcmp(defaults[i].platform, platform) == 0)
            return &defaults[i];
    return &fallback;
}

int sb_send_limits_format(char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < SB_ARRAY_SIZE(defaults); i++) {
        const sb_send_limits_t *l = &defaults[i];
        int w = snprintf(out + n, cap - n, "%s%s:%g:%g:%g", i ? " " : "", l->platform, l->per_chat, l->per_group,
                         l->per_account);
        if (w < 0 || (size_t)w >= cap - n)
            return -E2BIG;
        n += (size_t)w;
    }
    return (int)n;
}

/* ---------- the binding's override ---------- */

static const char *const members[] = {"perChatPerSecond", "perAccountPerSecond", NULL};

/* sendLimits as given: an object of rates within [RATE_MIN, RATE_MAX]; *out its copy. */
static int limits_check(const cJSON *lim, cJSON **out, sb_verr_t *e)
{
    if (!cJSON_IsObject(lim))
        return sb_verr_set(e, "config.sendLimits",
                           "'config.sendLimits' must be an object {\"perChatPerSecond\", \"perAccountPerSecond\"}");
    if (sb_v_only(lim, members, "config.sendLimits", e) < 0)
        return -EINVAL;
    const cJSON *it;
    cJSON_ArrayForEach(it, lim)
    {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < RATE_MIN ||
            it->valuedouble > RATE_MAX) {
            char name[96];
            snprintf(name, sizeof(name), "config.sendLimits.%s", it->string);
            return sb_verr_set(e, name, "'%s' must be a number of messages per second from 0.01 to 1000", name);
        }
    }
    *out = cJSON_Duplicate(lim, 1);
    return 0;
}

int sb_send_limits_merge(cJSON *cfg, const cJSON *in, const sb__config_schema_t *s, sb_verr_t *e)
{
    const cJSON *lim = cJSON_IsObject(in) ? cJSON_GetObjectItemCaseSensitive(in, "sendLimits") : NULL;
    if (!lim)
        return sb__config_merge(cfg, in, s, e);
    cJSON *norm = NULL;
    if (!cJSON_IsNull(lim) && limits_check(lim, &norm, e) < 0)
        return -EINVAL;
    /* the platform's schema sees the rest of the patch */
    cJSON *rest = cJSON_Duplicate(in, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(rest, "sendLimits");
    int rc = sb__config_merge(cfg, rest, s, e);
    cJSON_Delete(rest);
    if (rc < 0) {
        cJSON_Delete(norm);
        return rc;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, "sendLimits"); /* replaced whole; null clears it */
    if (norm && norm->child)
        cJSON_AddItemToObject(cfg, "sendLimits", norm);
    else
        cJSON_Delete(norm);
    return 0;
}

/* ---------- "too many requests" in a send's answer ---------- */

static bool json_long(const cJSON *v, long *out)
{
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0 && v->valuedouble <= 1e9) {
        *out = (long)v->valuedouble;
        return true;
    }
    char *end;
    if (cJSON_IsString(v) && v->valuestring[0]) { /* some proxies quote Meta's codes */
        long n = strtol(v->valuestring, &end, 10);
        if (*end == '\0' && n >= 0) {
            *out = n;
            return true;
        }
    }
    return false;
}

static bool set(sb_rate_limit_t *out, int scope, long retry_after_s, const char *fmt, long code)
{
    out->scope = scope;
    out->retry_after_s = retry_after_s;
    snprintf(out->why, sizeof(out->why), fmt, code);
    return true;
}

/* Telegram: {"ok":false,"error_code":429,"parameters":{"retry_after":N}} (HTTP 429). Its flood
 * control names the request, not a scope: the chat's line waits (the bot's rate is kept by the
 * account's pace; when the bot as a whole is over, each chat's own answer says so). */
static bool telegram(const cJSON *o, int status, long header_s, sb_rate_limit_t *out)
{
    long code = 0, ra = -1;
    if (!json_long(cJSON_GetObjectItemCaseSensitive(o, "error_code"), &code))
        code = status;
    if (code != 429)
        return false;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "parameters");
    if (!json_long(cJSON_GetObjectItemCaseSensitive(p, "retry_after"), &ra))
        ra = header_s >= 0 ? header_s : 1;
    return set(out, SB_LIMIT_CHAT, ra, "telegram: %ld Too Many Requests", 429);
}

/* Slack: 429 with Retry-After, or a 200 {"ok":false,"error":"ratelimited"}: the channel's
 * line (chat.postMessage's limit is per channel; the workspace's is the account's pace). */
static bool slack(const cJSON *o, int status, long header_s, sb_rate_limit_t *out)
{
    const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
    bool limited = status == 429 || (err && (strcmp(err, "ratelimited") == 0 || strcmp(err, "rate_limited") == 0));
    if (!limited)
        return false;
    return set(out, SB_LIMIT_CHAT, header_s >= 0 ? header_s : 1, "slack: ratelimited (HTTP %ld)", status);
}

/* WhatsApp (Graph API) {"error":{"code":N}}: 130429 (the number's throughput), 80007 (the
 * business account's rate) and 4 (the app's call rate) hold every chat of the number; 131056
 * (the pair rate limit, about one message per 6 s to one user) holds the chat. */
static bool whatsapp(const cJSON *o, int status, long header_s, sb_rate_limit_t *out)
{
    long code = 0;
    if (!json_long(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "error"), "code"), &code))
        code = 0;
    if (code == 130429)
        return set(out, SB_LIMIT_ACCOUNT, header_s >= 0 ? header_s : 1, "whatsapp: %ld throughput limit reached", code);
    if (code == 80007 || code == 4)
        return set(out, SB_LIMIT_ACCOUNT, header_s >= 0 ? header_s : 60, "whatsapp: %ld rate limit reached", code);
    if (code == 131056)
        return set(out, SB_LIMIT_CHAT, header_s >= 0 ? header_s : 6, "whatsapp: %ld pair rate limit hit", code);
    if (status == 429)
        return set(out, SB_LIMIT_CHAT, header_s >= 0 ? header_s : 1, "whatsapp: HTTP %ld", status);
    return false;
}

bool sb_send_rate_limited(const char *platform, int status, long retry_after_s, const char *body, size_t len,
                          sb_rate_limit_t *out)
{
    memset(out, 0, sizeof(*out));
    bool ok2xx = status >= 200 && status < 300;
    bool tg = platform && strcmp(platform, "telegram") == 0, sl = platform && strcmp(platform, "slack") == 0,
         wa = platform && strcmp(platform, "whatsapp") == 0;
    /* Only answers that may say so are parsed: a 429, Slack's 200 "ok":false, Meta's 4xx. */
    bool look = status == 429 || (sl && ok2xx && body && len && memmem(body, len, "rate", 4)) ||
                (wa && status >= 400 && status < 500) || (tg && status >= 400 && status < 500);
    if (!look)
        return false;
    char jerr[SB_JSON_ERR_MAX];
    cJSON *o = body && len ? sb_json_parse(body, len, jerr) : NULL;
    bool hit;
    if (tg)
        hit = telegram(o, status, retry_after_s, out);
    else if (sl)
        hit = slack(o, status, retry_after_s, out);
    else if (wa)
        hit = whatsapp(o, status, retry_after_s, out);
    else /* Teams and the rest: a 429 with Retry-After, the conversation's line */
        hit = status == 429 &&
              set(out, SB_LIMIT_CHAT, retry_after_s >= 0 ? retry_after_s : 1, "HTTP %ld Too Many Requests", 429);
    cJSON_Delete(o);
    return hit;
}
