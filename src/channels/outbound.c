/* Replies out through the platforms' send APIs (docs/channels.md "Replies out"): the façades
 * the delivery layer calls (sb_send_build, sb_send_result), which dispatch to the platform's
 * operations (platform.h; each platform's request is in its own file: slack.c, teams.c,
 * telegram.c, whatsapp.c), the pieces of a send they share, and the process-wide cache of Bot
 * Framework OAuth tokens (one for every loop, behind a mutex). Pure functions apart from that
 * cache: the delivery layer runs the attempts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "internal.h"
#include "switchboard/alloc.h"
#include "switchboard/hash.h"
#include "switchboard/json.h"

#define TOKEN_SLOTS 16

/* ---------- pieces of a send ---------- */

const char *sb__cfg_str(const cJSON *cfg, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, name));
    return v && v[0] ? v : NULL;
}

void sb__put_escaped(sb_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            sb_buf_putc(b, (char)c);
        } else {
            sb_buf_putc(b, '%');
            sb_buf_putc(b, hex[c >> 4]);
            sb_buf_putc(b, hex[c & 15]);
        }
    }
}

void sb__put_id(const cJSON *v, char *out, size_t cap)
{
    if (cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) < cap)
        snprintf(out, cap, "%s", v->valuestring);
    else if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0)
        snprintf(out, cap, "%.0f", v->valuedouble);
}

int sb__send_missing(char *err, size_t errlen, const char *name)
{
    snprintf(err, errlen, "the channel has no %s to send with", name);
    return -EINVAL;
}

static char *buf_take(sb_buf_t *b)
{
    char *s = sb_malloc(b->len + 1);
    memcpy(s, b->data ? b->data : "", b->len);
    s[b->len] = '\0';
    sb_buf_free(b);
    return s;
}

/* ---------- the façades ---------- */

int sb_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                  sb_send_req_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const sb_platform_t *p = sb_platform_find(s->platform);
    if (!p || !p->send_build) {
        snprintf(err, errlen, "no send API for channel type %s", s->platform);
        return -EINVAL;
    }
    sb_send_draft_t d;
    sb_buf_init(&d.url, 16384);
    sb_buf_init(&d.shown, 16384);
    sb_buf_init(&d.headers, 16384);
    d.body = cJSON_CreateObject();
    d.more = false;
    sb_buf_puts(&d.headers, "Content-Type: application/json; charset=utf-8\r\nConnection: keep-alive\r\n");
    int rc = p->send_build(cfg, s, chcfg, bearer, &d, err, errlen);
    if (rc == 0) {
        if (d.shown.len == 0)
            sb_buf_append(&d.shown, d.url.data, d.url.len);
        out->url = buf_take(&d.url);
        out->shown_url = buf_take(&d.shown);
        out->body = cJSON_PrintUnformatted(d.body);
        out->more = d.more;
        if (p->send_sign)
            p->send_sign(chcfg, out->body, strlen(out->body), &d.headers);
        out->headers = buf_take(&d.headers);
    } else {
        sb_buf_free(&d.url);
        sb_buf_free(&d.shown);
        sb_buf_free(&d.headers);
    }
    cJSON_Delete(d.body);
    return rc;
}

void sb_send_req_free(sb_send_req_t *r)
{
    sb_free(r->url);
    sb_free(r->shown_url);
    sb_free(r->headers);
    cJSON_free(r->body);
    memset(r, 0, sizeof(*r));
}

int sb_send_result(const char *platform, const char *body, size_t len, char *pmid, size_t pmidlen, char *err,
                   size_t errlen)
{
    pmid[0] = '\0';
    char jerr[SB_JSON_ERR_MAX];
    cJSON *o = sb_json_parse(body, len, jerr);
    const sb_platform_t *p = sb_platform_find(platform);
    int rc = SB_SEND_ACCEPTED;
    if (p && p->send_result)
        rc = p->send_result(o, pmid, pmidlen, err, errlen);
    else
        sb__put_id(cJSON_GetObjectItemCaseSensitive(o, "id"), pmid, pmidlen);
    cJSON_Delete(o);
    return rc;
}

/* ---------- Bot Framework tokens ---------- */

/* One cache for the process: every loop's sends of an app use the token one of them fetched. */
typedef struct token_slot {
    char app[128];
    char token[SB_BF_TOKEN_MAX];
    uint64_t expires; /* uv_hrtime() ms */
} token_slot_t;

static token_slot_t token_slots[TOKEN_SLOTS];
static uv_mutex_t token_lock;
static uv_once_t token_once = UV_ONCE_INIT;

static void token_init(void)
{
    uv_mutex_init(&token_lock);
}

static token_slot_t *token_slot(const char *app)
{
    uv_once(&token_once, token_init);
    return &token_slots[sb_fnv1a_str(app) % TOKEN_SLOTS];
}

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000;
}

bool sb_send_token_get(const char *app, char *out, size_t cap)
{
    token_slot_t *s = token_slot(app);
    uv_mutex_lock(&token_lock);
    bool ok = s->expires > mono_ms() && strcmp(s->app, app) == 0 && strlen(s->token) < cap;
    if (ok)
        snprintf(out, cap, "%s", s->token);
    uv_mutex_unlock(&token_lock);
    return ok;
}

void sb_send_token_forget(const char *app)
{
    token_slot_t *s = token_slot(app);
    uv_mutex_lock(&token_lock);
    if (strcmp(s->app, app) == 0)
        s->expires = 0;
    uv_mutex_unlock(&token_lock);
}

int sb_send_token_put(const char *app, const char *body, size_t len)
{
    char err[SB_JSON_ERR_MAX];
    cJSON *o = sb_json_parse(body, len, err);
    const char *tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "access_token"));
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "expires_in");
    int rc = -EINVAL;
    token_slot_t *s = token_slot(app);
    if (tok && tok[0] && strlen(tok) < sizeof(s->token) && !strpbrk(tok, "\r\n") && strlen(app) < sizeof(s->app)) {
        /* kept until a minute before it expires (at least 10 s, at most a day) */
        double secs = cJSON_IsNumber(ex) && ex->valuedouble > 0 && ex->valuedouble < 86400 ? ex->valuedouble : 3600;
        secs = secs > 70 ? secs - 60 : 10;
        uv_mutex_lock(&token_lock);
        snprintf(s->token, sizeof(s->token), "%s", tok);
        snprintf(s->app, sizeof(s->app), "%s", app);
        s->expires = mono_ms() + (uint64_t)(secs * 1000);
        uv_mutex_unlock(&token_lock);
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}
