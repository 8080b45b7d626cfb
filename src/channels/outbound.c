/* Replies out through the platforms' send APIs (docs/channels.md): the request of one send
 * (URL, credentials, body) built from the channel binding's config, the platform's verdict read
 * from its answer, the Teams serviceUrl allow-list and the per-loop cache of Bot Framework
 * OAuth tokens. Pure functions apart from the cache: the delivery engine runs the attempts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "switchboard/alloc.h"
#include "switchboard/channels.h"
#include "switchboard/hash.h"
#include "switchboard/json.h"
#include "switchboard/text.h"

#define TOKEN_SLOTS 16

static const char *cfg_str(const cJSON *cfg, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, name));
    return v && v[0] ? v : NULL;
}

/* Percent-encodes everything but RFC 3986's unreserved characters (a path segment, a form value). */
static void put_escaped(sb_buf_t *b, const char *s)
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

static char *buf_take(sb_buf_t *b)
{
    char *s = sb_malloc(b->len + 1);
    memcpy(s, b->data ? b->data : "", b->len);
    s[b->len] = '\0';
    sb_buf_free(b);
    return s;
}

/* scheme://host[:port] of an absolute http(s) URL, lower-cased, into out; false when it is not one. */
static bool url_origin(const char *url, char *out, size_t cap)
{
    size_t skip = strncasecmp(url, "https://", 8) == 0 ? 8 : strncasecmp(url, "http://", 7) == 0 ? 7 : 0;
    if (!skip)
        return false;
    size_t n = skip + strcspn(url + skip, "/?#");
    if (n == skip || n >= cap || memchr(url + skip, '@', n - skip))
        return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((url[i] >= 'A' && url[i] <= 'Z') ? url[i] + 32 : url[i]);
    out[n] = '\0';
    return true;
}

static bool host_ends_with(const char *origin, const char *suffix)
{
    const char *host = strstr(origin, "://") + 3;
    size_t hn = strcspn(host, ":"), sn = strlen(suffix);
    return hn > sn && host[hn - sn - 1] == '.' && strncmp(host + hn - sn, suffix, sn) == 0;
}

bool sb_teams_service_url_allowed(const cJSON *chcfg, const char *service_url)
{
    char origin[300], allowed[300];
    if (!service_url || !url_origin(service_url, origin, sizeof(origin)))
        return false;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(chcfg, "allowedServiceUrls");
    if (cJSON_IsArray(list) && cJSON_GetArraySize(list) > 0) {
        const cJSON *it;
        cJSON_ArrayForEach(it, list)
        {
            if (cJSON_IsString(it) && url_origin(it->valuestring, allowed, sizeof(allowed)) &&
                strcmp(allowed, origin) == 0)
                return true;
        }
        return false;
    }
    /* Microsoft's own hosts, https only */
    return strncmp(origin, "https://", 8) == 0 &&
           (strcmp(origin, "https://smba.trafficmanager.net") == 0 || host_ends_with(origin, "botframework.com"));
}

int sb_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                  sb_send_req_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    sb_buf_t url, shown, h;
    sb_buf_init(&url, 16384);
    sb_buf_init(&shown, 16384);
    sb_buf_init(&h, 16384);
    cJSON *body = cJSON_CreateObject();
    const char *missing = NULL;
    sb_buf_puts(&h, "Content-Type: application/json; charset=utf-8\r\nConnection: keep-alive\r\n");
    if (strcmp(s->platform, "slack") == 0) {
        const char *token = cfg_str(chcfg, "botToken");
        missing = token ? NULL : "botToken";
        sb_buf_printf(&url, "%s/chat.postMessage", cfg->slack_api_base);
        sb_buf_printf(&h, "Authorization: Bearer %s\r\n", token ? token : "");
        cJSON_AddStringToObject(body, "channel", s->chat);
        cJSON_AddStringToObject(body, "text", s->text);
        if (s->thread && s->thread[0])
            cJSON_AddStringToObject(body, "thread_ts", s->thread);
    } else if (strcmp(s->platform, "telegram") == 0) {
        /* The token is part of the URL: only the request carries it; every record shows <token>.
         * Telegram's tokens are "<bot id>:<letters, digits, - and _>", nothing to escape. */
        const char *token = cfg_str(chcfg, "botToken");
        missing = token ? NULL : "botToken";
        if (token &&
            strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_-") != strlen(token)) {
            snprintf(err, errlen, "the channel's botToken is not a Telegram bot token");
            goto fail;
        }
        sb_buf_printf(&url, "%s/bot%s/sendMessage", cfg->telegram_api_base, token ? token : "");
        sb_buf_printf(&shown, "%s/bot<token>/sendMessage", cfg->telegram_api_base);
        cJSON_AddStringToObject(body, "chat_id", s->chat);
        cJSON_AddStringToObject(body, "text", s->text);
    } else if (strcmp(s->platform, "whatsapp") == 0) {
        const char *token = cfg_str(chcfg, "accessToken"), *phone = cfg_str(chcfg, "phoneNumberId");
        missing = token ? NULL : "accessToken";
        sb_buf_printf(&url, "%s/", cfg->graph_api_base);
        put_escaped(&url, phone ? phone : "");
        sb_buf_puts(&url, "/messages");
        sb_buf_printf(&h, "Authorization: Bearer %s\r\n", token ? token : "");
        cJSON_AddStringToObject(body, "messaging_product", "whatsapp");
        cJSON_AddStringToObject(body, "recipient_type", "individual");
        cJSON_AddStringToObject(body, "to", s->chat);
        cJSON_AddStringToObject(body, "type", "text");
        cJSON *t = cJSON_AddObjectToObject(body, "text");
        cJSON_AddStringToObject(t, "body", s->text);
    } else if (strcmp(s->platform, "teams") == 0) {
        if (!sb_teams_service_url_allowed(chcfg, s->service_url)) {
            snprintf(err, errlen, "serviceUrl %s is not on the channel's allow-list",
                     s->service_url && s->service_url[0] ? s->service_url : "(none)");
            goto fail;
        }
        missing = bearer ? NULL : "appPassword";
        size_t n = strlen(s->service_url);
        while (n && s->service_url[n - 1] == '/')
            n--;
        sb_buf_printf(&url, "%.*s/v3/conversations/", (int)n, s->service_url);
        put_escaped(&url, s->chat);
        sb_buf_puts(&url, "/activities");
        sb_buf_printf(&h, "Authorization: Bearer %s\r\n", bearer ? bearer : "");
        cJSON_AddStringToObject(body, "type", "message");
        cJSON_AddStringToObject(body, "text", s->text);
    } else {
        snprintf(err, errlen, "no send API for channel type %s", s->platform);
        goto fail;
    }
    if (missing) {
        snprintf(err, errlen, "the channel has no %s to send with", missing);
        goto fail;
    }
    if (shown.len == 0)
        sb_buf_append(&shown, url.data, url.len);
    out->url = buf_take(&url);
    out->shown_url = buf_take(&shown);
    out->headers = buf_take(&h);
    out->body = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    return 0;
fail:
    sb_buf_free(&url);
    sb_buf_free(&shown);
    sb_buf_free(&h);
    cJSON_Delete(body);
    return -EINVAL;
}

void sb_send_req_free(sb_send_req_t *r)
{
    sb_free(r->url);
    sb_free(r->shown_url);
    sb_free(r->headers);
    cJSON_free(r->body);
    memset(r, 0, sizeof(*r));
}

static void put_id(const cJSON *v, char *out, size_t cap)
{
    if (cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) < cap)
        snprintf(out, cap, "%s", v->valuestring);
    else if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0)
        snprintf(out, cap, "%.0f", v->valuedouble);
}

int sb_send_result(const char *platform, const char *body, size_t len, char *pmid, size_t pmidlen, char *err,
                   size_t errlen)
{
    pmid[0] = '\0';
    char jerr[SB_JSON_ERR_MAX];
    cJSON *o = sb_json_parse(body, len, jerr);
    int rc = SB_SEND_ACCEPTED;
    if (strcmp(platform, "slack") == 0) {
        /* Slack answers 200 with {"ok":false,"error":"..."} for most failures. */
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
            const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
            snprintf(err, errlen, "slack: %s", e ? e : "no \"ok\":true in the answer");
            rc = e && (strcmp(e, "ratelimited") == 0 || strcmp(e, "internal_error") == 0 ||
                       strcmp(e, "fatal_error") == 0 || strcmp(e, "service_unavailable") == 0 ||
                       strcmp(e, "request_timeout") == 0)
                     ? SB_SEND_RETRY
                     : SB_SEND_REFUSED;
        } else {
            put_id(cJSON_GetObjectItemCaseSensitive(o, "ts"), pmid, pmidlen);
        }
    } else if (strcmp(platform, "telegram") == 0) {
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
            snprintf(err, errlen, "telegram: no \"ok\":true in the answer");
            rc = SB_SEND_REFUSED;
        } else {
            put_id(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "result"), "message_id"), pmid,
                   pmidlen);
        }
    } else if (strcmp(platform, "whatsapp") == 0) {
        const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "messages"), 0);
        put_id(cJSON_GetObjectItemCaseSensitive(m, "id"), pmid, pmidlen);
    } else {
        put_id(cJSON_GetObjectItemCaseSensitive(o, "id"), pmid, pmidlen);
    }
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

char *sb_send_token_request(const char *app, const char *password)
{
    sb_buf_t b;
    sb_buf_init(&b, 16384);
    sb_buf_puts(&b, "grant_type=client_credentials&client_id=");
    put_escaped(&b, app);
    sb_buf_puts(&b, "&client_secret=");
    put_escaped(&b, password);
    sb_buf_puts(&b, "&scope=https%3A%2F%2Fapi.botframework.com%2F.default");
    return buf_take(&b);
}
