/* Microsoft Teams through the Bot Framework (docs/channels.md "Teams"): the webhook's Activity,
 * its bearer token verified against the channel's keys (the key sets: teams_keys.c; the JWT
 * checks: jwt.c), the serviceUrl allow-list that replies and their OAuth token may go to, the
 * activity a reply posts and its verdict, the client-credentials request for that token, the
 * channel config {appId, appPassword, jwks | jwksUrl, allowedServiceUrls}. Behind sb_platform_t
 * (platform.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "switchboard/text.h"
#include "switchboard/alloc.h"

#define BF_ISSUER        "https://api.botframework.com"
#define BF_SKEW_S        300
#define KEYS_RETRY_AFTER 5 /* seconds; the Bot Framework retries */

/* ---------- the serviceUrl allow-list ---------- */

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

/* ---------- inbound ---------- */

typedef struct teams_proof {
    const char *token; /* the bearer token */
    const char *channel_id, *service_url;
    /* what verify needs across the key fetch, copied: the binding may leave the cache meanwhile */
    const char *app, *jwks_url, *jwks_inline;
    bool service_url_ok; /* the activity's serviceUrl is on the binding's allow-list */
    bool refreshed;      /* the key set was fetched again for an unknown key id */
    bool inside;         /* verify has not returned yet: a result is returned, not passed to done */
    int result;
    int64_t now_s;
    sb_teams_keys_t *keys;
    sb_inbound_t *in;
    sb_inbound_done_fn done;
    void *data;
} teams_proof_t;

/* An object member's string member (Activity.from.id ...): NULL when absent; -EINVAL when the
 * object or the string has the wrong type. */
static int nested_str(sb_inbound_t *in, const cJSON *o, const char *obj, const char *name, const char *field,
                      size_t max, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, obj);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsObject(v))
        return sb__in_fail(in, -EINVAL, obj, "'%s' must be an object", obj);
    return sb__in_str(in, v, name, field, max, out);
}

static int required(sb_inbound_t *in, const char *field)
{
    return sb__in_fail(in, -EINVAL, field, "'%s' is required", field);
}

/* ---------- inbound files (docs/messages.md "Inbound: media and clicks") ---------- */

#define TEAMS_FILE_INFO "application/vnd.microsoft.teams.file.download.info"

/* One of the activity's attachments as the model's (appended to arr), or nothing: files and
 * images by their contentUrl (an inline image's needs the bot's Bot Framework token), a file
 * of a personal chat (file.download.info) by its content.downloadUrl (pre-authenticated, short
 * lived); cards (application/vnd.microsoft.card.*), the HTML copy of the text (no
 * contentUrl) and URLs the model cannot hold are left out. */
static int activity_file(sb_inbound_t *in, const cJSON *a, cJSON *arr)
{
    const char *ct, *url, *name;
    if (!cJSON_IsObject(a))
        return sb__in_fail(in, -EINVAL, "attachments", "each of 'attachments' must be an object");
    if (sb__in_str_ref(in, a, "contentType", "attachments.contentType", &ct) < 0 ||
        sb__in_str_ref(in, a, "contentUrl", "attachments.contentUrl", &url) < 0 ||
        sb__in_str_ref(in, a, "name", "attachments.name", &name) < 0)
        return -EINVAL;
    if (ct && strcmp(ct, TEAMS_FILE_INFO) == 0) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (content && !cJSON_IsObject(content))
            return sb__in_fail(in, -EINVAL, "attachments.content", "'attachments.content' must be an object");
        const char *dl;
        if (sb__in_str_ref(in, content, "downloadUrl", "attachments.content.downloadUrl", &dl) < 0)
            return -EINVAL;
        url = dl ? dl : url;
        ct = NULL; /* not a MIME type */
    } else if (ct && strncmp(ct, "application/vnd.microsoft.", 26) == 0) {
        return 0;
    }
    if (!url || strlen(url) > 2048 || !sb_url_valid(url) || cJSON_GetArraySize(arr) == SB_MSG_ATTACHMENTS_MAX)
        return 0;
    cJSON *o = cJSON_CreateObject();
    if (!ct || !ct[0] || strlen(ct) > 127)
        cJSON_AddStringToObject(o, "type", "file");
    cJSON_AddStringToObject(o, "url", url);
    if (name && name[0] && strlen(name) <= 255)
        cJSON_AddStringToObject(o, "name", name);
    if (ct && ct[0] && strlen(ct) <= 127)
        cJSON_AddStringToObject(o, "contentType", ct);
    cJSON_AddItemToArray(arr, o);
    return 0;
}

/* The activity's files as the message's content {attachments} (NULL: none). */
static int activity_files(sb_inbound_t *in, const cJSON *o, sb_in_msg_t *m)
{
    const cJSON *atts = cJSON_GetObjectItemCaseSensitive(o, "attachments"), *a;
    if (!atts)
        return 0;
    if (!cJSON_IsArray(atts))
        return sb__in_fail(in, -EINVAL, "attachments", "'attachments' must be an array");
    cJSON *arr = cJSON_CreateArray();
    cJSON_ArrayForEach(a, atts)
    {
        if (activity_file(in, a, arr) < 0) {
            cJSON_Delete(arr);
            return -EINVAL;
        }
    }
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return 0;
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToObject(c, "attachments", arr);
    sb__in_content(in, m, c);
    return 0;
}

/* {type, id, channelId, serviceUrl, from: {id, name}, conversation: {id}, recipient: {id},
 * text, attachments}: message activities with text or files are stored (a messageBack click
 * on a switchboard button arrives as a message whose text is the payload); other types
 * (conversationUpdate, typing, invoke ...) and messages with neither are acknowledged. */
static int parse_activity(sb_inbound_t *in, const cJSON *o, const char **recipient)
{
    teams_proof_t *t = in->proof;
    sb_in_msg_t m = {0};
    const char *type;
    if (sb__in_str(in, o, "type", "type", 64, &type) < 0 ||
        sb__in_str(in, o, "id", "id", SB_EVENT_ID_MAX, &m.pmid) < 0 ||
        sb__in_str(in, o, "channelId", "channelId", 64, &t->channel_id) < 0 ||
        sb__in_str(in, o, "serviceUrl", "serviceUrl", 2048, &t->service_url) < 0 ||
        nested_str(in, o, "recipient", "id", "recipient.id", 256, recipient) < 0 ||
        nested_str(in, o, "conversation", "id", "conversation.id", 512, &m.chat) < 0 ||
        nested_str(in, o, "from", "id", "from.id", 256, &m.from) < 0 ||
        nested_str(in, o, "from", "name", "from.name", 256, &m.name) < 0)
        return -EINVAL;
    if (!type || !t->channel_id || !t->service_url || !*recipient)
        return required(in, !type             ? "type"
                            : !t->channel_id  ? "channelId"
                            : !t->service_url ? "serviceUrl"
                                              : "recipient.id");
    if (strcmp(type, "message") != 0)
        return 0;
    /* with attachments, an empty text is no text */
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
    bool with_files = cJSON_GetObjectItemCaseSensitive(o, "attachments") != NULL;
    if ((!(with_files && cJSON_IsString(text) && sb_blank(text->valuestring)) &&
         sb__in_text(in, o, "text", "text", &m.text) < 0) ||
        activity_files(in, o, &m) < 0)
        return -EINVAL;
    const char *missing = !m.pmid ? "id" : !m.chat ? "conversation.id" : !m.from ? "from.id" : NULL;
    if (missing)
        return required(in, missing);
    if (!m.text && !m.content)
        return 0;
    m.event_id = m.pmid;
    m.svc = t->service_url;
    *sb__in_add_msg(in) = m;
    return 0;
}

static int teams_parse(sb_inbound_t *in)
{
    teams_proof_t *t = sb__in_alloc(in, sizeof(*t));
    memset(t, 0, sizeof(*t));
    in->proof = t;
    cJSON *o = sb__in_json_object(in);
    if (!o)
        return -EINVAL;
    const char *recipient = NULL;
    int rc = parse_activity(in, o, &recipient);
    cJSON_Delete(o);
    if (rc < 0)
        return rc;
    size_t alen;
    const char *auth = sb__in_get(in, SB_IN_HEADER, "authorization", &alen);
    if (!auth || alen < 8 || alen > SB_JWT_MAX_TOKEN + 7 || strncasecmp(auth, "Bearer ", 7) != 0)
        return -EPERM;
    t->token = auth + 7;
    /* the bot's id on Teams is "28:<app id>" */
    const char *app = strncmp(recipient, "28:", 3) == 0 ? recipient + 3 : recipient;
    if (!sb__ident_ok(app))
        return -EPERM;
    char field[SB_BINDING_FIELD_MAX];
    snprintf(field, sizeof(field), "teams:%s", app);
    sb__in_field(in, field);
    return 0;
}

static void finish(teams_proof_t *t, int rc)
{
    if (t->inside)
        t->result = rc;
    else
        t->done(t->data, rc);
}

static void on_keys(void *data, const sb_jwks_t *ks)
{
    teams_proof_t *t = data;
    sb_inbound_t *in = t->in;
    if (!ks) {
        in->retry_after_s = KEYS_RETRY_AFTER;
        finish(t, sb__in_fail(in, -EAGAIN, NULL, "the Bot Framework signing keys are unavailable"));
        return;
    }
    sb_jwt_expect_t x = {BF_ISSUER, t->app, t->channel_id, t->service_url, true, t->now_s, BF_SKEW_S};
    int rc = sb_jwt_verify(ks, t->token, strlen(t->token), &x);
    if (rc == SB_JWT_UNKNOWN_KID && t->jwks_url && !t->refreshed) {
        t->refreshed = true; /* the keys may have rolled over: fetch them again, once */
        sb_teams_keys_get(t->keys, t->jwks_url, NULL, true, on_keys, t);
        return;
    }
    if (rc == SB_JWT_NOT_ENDORSED)
        finish(t, sb__in_fail(in, -EACCES, NULL, "the signing key is not endorsed for this channelId"));
    else if (rc == SB_JWT_BAD_SERVICE_URL)
        finish(t, sb__in_fail(in, -EACCES, NULL, "the token's serviceurl claim does not match the activity"));
    else if (rc != SB_JWT_OK)
        finish(t, -EPERM);
    /* Checked only now: before the token is verified, a 403 here would tell an anonymous caller
     * that the app id is bound (every unverified request is a 401). */
    else if (!t->service_url_ok)
        finish(t,
               sb__in_fail(in, -EACCES, "serviceUrl", "the activity's serviceUrl is not on the channel's allow-list"));
    else
        finish(t, 0);
}

/* The token against the binding's keys: its inline jwks, else its jwksUrl, else
 * --botframework-jwks-url. Asynchronous when the keys must be fetched. */
static int teams_verify(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                        sb_inbound_done_fn done, void *data)
{
    SB_UNUSED(i);
    teams_proof_t *t = in->proof;
    if (!sb__binding_is(b, "teams"))
        return -EPERM;
    t->service_url_ok = sb_teams_service_url_allowed(b->cfg, t->service_url);
    t->app = sb__in_strdup(in, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b->cfg, "appId")));
    const cJSON *jwks = cJSON_GetObjectItemCaseSensitive(b->cfg, "jwks");
    if (cJSON_IsObject(jwks)) {
        char *j = cJSON_PrintUnformatted(jwks);
        t->jwks_inline = sb__in_strdup(in, j);
        cJSON_free(j);
    } else {
        const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b->cfg, "jwksUrl"));
        t->jwks_url = sb__in_strdup(in, u ? u : env->cfg->botframework_jwks_url);
    }
    t->now_s = env->now_s;
    t->keys = env->teams_keys;
    t->in = in;
    t->done = done;
    t->data = data;
    t->inside = true;
    t->result = SB_INBOUND_PENDING;
    sb_teams_keys_get(t->keys, t->jwks_url, t->jwks_inline, false, on_keys, t);
    t->inside = false;
    return t->result;
}

/* ---------- rich content: hero cards ---------- */

#define TEAMS_CARD_BUTTONS_MAX 6 /* buttons Teams shows on a hero card (Teams' cards reference) */

/* Postbacks as messageBack (the click comes back as a message whose text is the payload, shown
 * as the button's title), links as openUrl. */
static cJSON *card_actions(const cJSON *buttons)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, buttons)
    {
        cJSON *a = cJSON_CreateObject();
        if (strcmp(sb__str(b, "type"), "url") == 0) {
            cJSON_AddStringToObject(a, "type", "openUrl");
            cJSON_AddStringToObject(a, "title", sb__str(b, "title"));
            cJSON_AddStringToObject(a, "value", sb__str(b, "url"));
        } else {
            cJSON_AddStringToObject(a, "type", "messageBack");
            cJSON_AddStringToObject(a, "title", sb__str(b, "title"));
            cJSON_AddStringToObject(a, "displayText", sb__str(b, "title"));
            cJSON_AddStringToObject(a, "text", sb__str(b, "payload"));
        }
        cJSON_AddItemToArray(arr, a);
    }
    return arr;
}

static cJSON *hero(cJSON *atts)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "contentType", "application/vnd.microsoft.card.hero");
    cJSON_AddItemToArray(atts, a);
    return cJSON_AddObjectToObject(a, "content");
}

/* The activity's attachments: the message's buttons as a hero card, each card as a hero card
 * (a carousel when there are several), each file as a media attachment when its type is known
 * (else a hero card that links to it). */
static void teams_attachments(cJSON *activity, const sb_content_t *c)
{
    cJSON *atts = cJSON_AddArrayToObject(activity, "attachments");
    if (c->buttons)
        cJSON_AddItemToObject(hero(atts), "buttons", card_actions(c->buttons));
    const cJSON *card;
    cJSON_ArrayForEach(card, c->cards)
    {
        cJSON *h = hero(atts);
        cJSON_AddStringToObject(h, "title", sb__str(card, "title"));
        if (sb__str(card, "subtitle")[0])
            cJSON_AddStringToObject(h, "subtitle", sb__str(card, "subtitle"));
        if (sb__str(card, "imageUrl")[0]) {
            cJSON *im = cJSON_CreateObject();
            cJSON_AddStringToObject(im, "url", sb__str(card, "imageUrl"));
            cJSON_AddItemToArray(cJSON_AddArrayToObject(h, "images"), im);
        }
        if (sb__str(card, "itemUrl")[0]) {
            cJSON *tap = cJSON_AddObjectToObject(h, "tap");
            cJSON_AddStringToObject(tap, "type", "openUrl");
            cJSON_AddStringToObject(tap, "value", sb__str(card, "itemUrl"));
        }
        cJSON_AddItemToObject(h, "buttons", card_actions(cJSON_GetObjectItemCaseSensitive(card, "buttons")));
    }
    if (cJSON_GetArraySize(c->cards) > 1)
        cJSON_AddStringToObject(activity, "attachmentLayout", "carousel");
    const cJSON *f;
    cJSON_ArrayForEach(f, c->attachments)
    {
        const char *ct = sb__str(f, "contentType"), *name = sb__str(f, "name");
        if (ct[0]) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "contentType", ct);
            cJSON_AddStringToObject(a, "contentUrl", sb__str(f, "url"));
            if (name[0])
                cJSON_AddStringToObject(a, "name", name);
            cJSON_AddItemToArray(atts, a);
            continue;
        }
        cJSON *h = hero(atts);
        cJSON_AddStringToObject(h, "title", name[0] ? name : sb__str(f, "type"));
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "openUrl");
        cJSON_AddStringToObject(b, "title", "Open");
        cJSON_AddStringToObject(b, "value", sb__str(f, "url"));
        cJSON_AddItemToArray(cJSON_AddArrayToObject(h, "buttons"), b);
    }
}

static int teams_content_check(const sb_content_t *c, sb_verr_t *e)
{
    if (cJSON_GetArraySize(c->buttons) > TEAMS_CARD_BUTTONS_MAX)
        return sb_verr_set(e, "buttons", "'buttons': Teams shows at most %d buttons on a card", TEAMS_CARD_BUTTONS_MAX);
    return 0; /* a card's own buttons are at most 3 */
}

/* ---------- outbound: an activity to the serviceUrl ---------- */

static int teams_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                            sb_send_draft_t *d, char *err, size_t errlen)
{
    SB_UNUSED(cfg);
    if (!sb_teams_service_url_allowed(chcfg, s->service_url)) {
        snprintf(err, errlen, "serviceUrl %s is not on the channel's allow-list",
                 s->service_url && s->service_url[0] ? s->service_url : "(none)");
        return -EINVAL;
    }
    if (!bearer)
        return sb__send_missing(err, errlen, "appPassword");
    size_t n = strlen(s->service_url);
    while (n && s->service_url[n - 1] == '/')
        n--;
    sb_buf_printf(&d->url, "%.*s/v3/conversations/", (int)n, s->service_url);
    sb__put_escaped(&d->url, s->chat);
    sb_buf_puts(&d->url, "/activities");
    sb_buf_printf(&d->headers, "Authorization: Bearer %s\r\n", bearer);
    cJSON_AddStringToObject(d->body, "type", "message");
    if (s->content && sb_content_rich(s->content)) {
        cJSON_AddStringToObject(d->body, "text", s->content->text ? s->content->text : "");
        teams_attachments(d->body, s->content);
    } else {
        cJSON_AddStringToObject(d->body, "text", s->text);
    }
    return 0;
}

static int teams_send_result(const cJSON *o, char *pmid, size_t pmidlen, char *err, size_t errlen)
{
    SB_UNUSED(err);
    SB_UNUSED(errlen);
    sb__put_id(cJSON_GetObjectItemCaseSensitive(o, "id"), pmid, pmidlen);
    return SB_SEND_ACCEPTED;
}

char *sb_send_token_request(const char *app, const char *password)
{
    sb_buf_t b;
    sb_buf_init(&b, 16384);
    sb_buf_puts(&b, "grant_type=client_credentials&client_id=");
    sb__put_escaped(&b, app);
    sb_buf_puts(&b, "&client_secret=");
    sb__put_escaped(&b, password);
    sb_buf_puts(&b, "&scope=https%3A%2F%2Fapi.botframework.com%2F.default");
    char *s = sb_malloc(b.len + 1);
    memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    sb_buf_free(&b);
    return s;
}

/* ---------- the channel config ---------- */

static const char *const members[] = {
    "appId", "appPassword", "appPasswordPrevious", "jwks", "jwksUrl", "allowedServiceUrls", NULL};
static const char *const secrets[] = {"appPassword", "appPasswordPrevious", NULL};
static const char *const url_lists[] = {"allowedServiceUrls", NULL};
static const char *const jwks_members[] = {"jwks", NULL};
static const char *const urls[] = {"jwksUrl", NULL};
static const sb__config_schema_t schema = {"teams", "appId", members, url_lists, jwks_members, urls, sb__none};

static int teams_config_check(cJSON *cfg, const cJSON *in, sb_verr_t *e)
{
    return sb_send_limits_merge(cfg, in, &schema, e); /* the schema and "sendLimits" */
}

static void teams_binding_fields(const cJSON *cfg, const char *tenant_id, cJSON *fields)
{
    SB_UNUSED(tenant_id);
    sb__field_add(fields, cfg, "teams", "appId", false);
}

const sb_platform_t sb__platform_teams = {
    .type = "teams",
    .claim_ttl_s = SB_CLAIM_TTL_S,
    .parse = teams_parse,
    .verify = teams_verify,
    .send_build = teams_send_build,
    .content_check = teams_content_check,
    .send_result = teams_send_result,
    .secrets = secrets,
    .config_check = teams_config_check,
    .binding_fields = teams_binding_fields,
};
