/* Slack (docs/channels.md): the webhook's payloads (seed 000's flat body, JSON or form-encoded,
 * and the Events API's url_verification and event_callback), the v0 request signature and the
 * legacy verification token, chat.postMessage (rich content as Block Kit) and its verdict, the channel config
 * {teamId, signingSecret, verificationToken, botToken}. Behind sb_platform_t (platform.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "switchboard/alloc.h"
#include "switchboard/json.h"
#include "switchboard/text.h"

#define SLACK_SKEW_S 300

/* ---------- the request proof ---------- */

int sb_slack_signature_ok(const char *secret, const char *sig, size_t siglen, const char *ts, size_t tslen,
                          const char *body, size_t n, int64_t now_s)
{
    uint64_t t;
    if (!secret || !sig || !ts || siglen != 3 + SB_HMAC_HEX_SIZE || memcmp(sig, "v0=", 3) != 0 ||
        sb_parse_u64(ts, tslen, UINT64_MAX / 2, &t) < 0)
        return -EPERM;
    if ((int64_t)t < now_s - SLACK_SKEW_S || (int64_t)t > now_s + SLACK_SKEW_S)
        return -EPERM;
    const void *parts[] = {"v0:", ts, ":", body};
    const size_t lens[] = {3, tslen, 1, n};
    return sb__hex_hmac_equal(secret, parts, lens, 4, sig + 3, siglen - 3) ? 0 : -EPERM;
}

/* ---------- inbound ---------- */

typedef struct slack_proof {
    const char *token; /* the body's verification token (legacy bindings) */
    const char *sig, *ts;
    size_t siglen, tslen;
} slack_proof_t;

/* application/x-www-form-urlencoded -> a JSON object of its string fields (NULL: malformed). */
static cJSON *form_object(const char *s, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (pe > p) {
            const char *ke = eq ? eq : pe;
            char key[64];
            size_t vlen = eq ? (size_t)(pe - eq - 1) : 0;
            char *val = sb_malloc(vlen + 1);
            int kl = sb_percent_decode(p, (size_t)(ke - p), key, sizeof(key), true);
            int vl = sb_percent_decode(eq ? eq + 1 : pe, vlen, val, vlen + 1, true);
            /* the same rules as the JSON parse: UTF-8, no control characters but line breaks
             * and tabs (a NUL would cut the text), every field named once */
            bool bad = kl < 0 || vl < 0 || !sb_utf8_valid(val, (size_t)vl) || memchr(key, 0, (size_t)kl);
            for (int i = 0; !bad && i < vl; i++)
                bad = (unsigned char)val[i] < 0x20 && val[i] != '\n' && val[i] != '\r' && val[i] != '\t';
            if (bad || cJSON_GetObjectItemCaseSensitive(o, key)) {
                sb_free(val);
                cJSON_Delete(o);
                return NULL;
            }
            cJSON_AddStringToObject(o, key, val);
            sb_free(val);
        }
        p = pe + 1;
    }
    return o;
}

static int required(sb_inbound_t *in, const char *field)
{
    return sb__in_fail(in, -EINVAL, field, "'%s' is required", field);
}

/* ---------- inbound files and clicks (docs/messages.md "Inbound: media and clicks") ---------- */

/* event.files[] -> attachments {url: url_private, name, contentType: mimetype} (at most the
 * model's 10). url_private needs the bot token to download. Files without one (deleted, or
 * "file_access": "check_file_info") are left out. *out NULL when none is left. */
static int event_files(sb_inbound_t *in, const cJSON *ev, cJSON **out)
{
    *out = NULL;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(ev, "files");
    if (!files)
        return 0;
    if (!cJSON_IsArray(files))
        return sb__in_fail(in, -EINVAL, "event.files", "'event.files' must be an array");
    cJSON *arr = cJSON_CreateArray();
    const cJSON *f;
    cJSON_ArrayForEach(f, files)
    {
        const char *url, *name, *mime;
        if (!cJSON_IsObject(f)) {
            cJSON_Delete(arr);
            return sb__in_fail(in, -EINVAL, "event.files", "each of 'event.files' must be an object");
        }
        if (sb__in_str_ref(in, f, "url_private", "event.files.url_private", &url) < 0 ||
            sb__in_str_ref(in, f, "name", "event.files.name", &name) < 0 ||
            sb__in_str_ref(in, f, "mimetype", "event.files.mimetype", &mime) < 0) {
            cJSON_Delete(arr);
            return -EINVAL;
        }
        if (!url || strlen(url) > 2048 || !sb_url_valid(url) || cJSON_GetArraySize(arr) == SB_MSG_ATTACHMENTS_MAX)
            continue;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "url", url);
        if (name && name[0] && strlen(name) <= 255)
            cJSON_AddStringToObject(a, "name", name);
        if (mime && mime[0] && strlen(mime) <= 127)
            cJSON_AddStringToObject(a, "contentType", mime);
        cJSON_AddItemToArray(arr, a);
    }
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return 0;
    }
    *out = arr;
    return 0;
}

/* The Events API's event_callback: one message event (its text, its files), or something
 * acknowledged and not stored (other events, bot messages such as our own replies, edits,
 * joins). */
static int parse_event(sb_inbound_t *in, const cJSON *o)
{
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    if (!cJSON_IsObject(ev))
        return sb__in_fail(in, -EINVAL, "event", "'event' must be an object");
    const char *event_id, *etype, *subtype, *bot;
    if (sb__in_str(in, o, "event_id", "event_id", SB_EVENT_ID_MAX, &event_id) < 0 ||
        sb__in_str(in, ev, "type", "event.type", 64, &etype) < 0 ||
        sb__in_str(in, ev, "subtype", "event.subtype", 64, &subtype) < 0 ||
        sb__in_str(in, ev, "bot_id", "event.bot_id", 64, &bot) < 0)
        return -EINVAL;
    if (!event_id)
        return required(in, "event_id");
    /* file_share: a message with files (older workspaces mark it so) */
    if (!etype || strcmp(etype, "message") != 0 || (subtype && strcmp(subtype, "file_share") != 0) || bot)
        return 0;
    sb_in_msg_t m = {.event_id = event_id};
    cJSON *files;
    if (sb__in_str(in, ev, "channel", "event.channel", 64, &m.chat) < 0 ||
        sb__in_str(in, ev, "user", "event.user", 64, &m.from) < 0 ||
        sb__in_str(in, ev, "ts", "event.ts", 64, &m.pmid) < 0 ||
        sb__in_str(in, ev, "thread_ts", "event.thread_ts", 64, &m.thread) < 0 || event_files(in, ev, &files) < 0)
        return -EINVAL;
    /* with files, an empty text is no text */
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "text");
    bool with_files = cJSON_GetObjectItemCaseSensitive(ev, "files") != NULL;
    if (!(with_files && cJSON_IsString(t) && sb_blank(t->valuestring)) &&
        sb__in_text(in, ev, "text", "event.text", &m.text) < 0) {
        cJSON_Delete(files);
        return -EINVAL;
    }
    if (!m.chat || (!m.text && !with_files)) {
        cJSON_Delete(files);
        return required(in, m.chat ? "event.text" : "event.channel");
    }
    if (files) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToObject(c, "attachments", files);
        sb__in_content(in, &m, c);
    }
    if (m.text || m.content)
        *sb__in_add_msg(in) = m;
    return 0;
}

/* An interactivity payload (the form field "payload": Slack posts it to the app's
 * Interactivity Request URL, signed like an event): block_actions, each button click with a
 * value a message with the postback {title: the button's text, payload: value}. Link buttons
 * without a value, other actions (selects), clicks outside a channel (modals, the Home tab) and
 * other payload types are acknowledged. Event id: <team>:<trigger_id>, ":<i>" after the first
 * (a trigger_id of at most 120 bytes, so that it fits). */
static int parse_interaction(sb_inbound_t *in, const cJSON *o, const char **team)
{
    slack_proof_t *pr = in->proof;
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(o, "team"), *user = cJSON_GetObjectItemCaseSensitive(o, "user");
    const cJSON *channel = cJSON_GetObjectItemCaseSensitive(o, "channel");
    const cJSON *container = cJSON_GetObjectItemCaseSensitive(o, "container");
    const cJSON *actions = cJSON_GetObjectItemCaseSensitive(o, "actions");
    const char *type, *trigger, *from = NULL, *chat = NULL, *thread = NULL;
    if (sb__in_str(in, o, "type", "payload.type", 64, &type) < 0 ||
        sb__in_str(in, o, "token", "payload.token", 256, &pr->token) < 0 ||
        sb__in_str(in, o, "trigger_id", "payload.trigger_id", 120, &trigger) < 0 ||
        (cJSON_IsObject(tm) && sb__in_str(in, tm, "id", "payload.team.id", 64, team) < 0) ||
        (cJSON_IsObject(user) && sb__in_str(in, user, "id", "payload.user.id", 64, &from) < 0) ||
        (cJSON_IsObject(channel) && sb__in_str(in, channel, "id", "payload.channel.id", 64, &chat) < 0) ||
        (cJSON_IsObject(container) &&
         sb__in_str(in, container, "thread_ts", "payload.container.thread_ts", 64, &thread) < 0))
        return -EINVAL;
    if ((!*team && cJSON_IsObject(user) && sb__in_str(in, user, "team_id", "payload.user.team_id", 64, team) < 0) ||
        (!chat && cJSON_IsObject(container) &&
         sb__in_str(in, container, "channel_id", "payload.container.channel_id", 64, &chat) < 0))
        return -EINVAL;
    if (!type)
        return required(in, "payload.type");
    if (strcmp(type, "block_actions") != 0)
        return 0;
    if (!cJSON_IsArray(actions))
        return sb__in_fail(in, -EINVAL, "payload.actions", "'payload.actions' must be an array");
    if (!chat || !from)
        return 0; /* a modal's or the Home tab's: no channel to answer in */
    if (!trigger)
        return required(in, "payload.trigger_id");
    int i = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, actions)
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(a, "text");
        const char *atype, *value, *title = NULL, *ts;
        if (!cJSON_IsObject(a))
            return sb__in_fail(in, -EINVAL, "payload.actions", "each of 'payload.actions' must be an object");
        if (sb__in_str_ref(in, a, "type", "payload.actions.type", &atype) < 0 ||
            sb__in_str_ref(in, a, "value", "payload.actions.value", &value) < 0 ||
            sb__in_str(in, a, "action_ts", "payload.actions.action_ts", 64, &ts) < 0 ||
            (cJSON_IsObject(text) && sb__in_str_ref(in, text, "text", "payload.actions.text.text", &title) < 0))
            return -EINVAL;
        if (!atype || strcmp(atype, "button") != 0 || !value)
            continue;
        if (sb_blank(value) || sb_utf8_chars(value, strlen(value)) > SB_BUTTON_PAYLOAD_MAX)
            return sb__in_fail(in, -EINVAL, "payload.actions.value",
                               "'payload.actions.value' must be a non-empty string of at most %d characters",
                               SB_BUTTON_PAYLOAD_MAX);
        sb_in_msg_t m = {.chat = chat, .from = from, .thread = thread, .pmid = ts};
        char *eid = sb__in_alloc(in, SB_EVENT_ID_MAX);
        if (i == 0)
            snprintf(eid, SB_EVENT_ID_MAX, "%s:%s", *team ? *team : "", trigger);
        else
            snprintf(eid, SB_EVENT_ID_MAX, "%s:%s:%d", *team ? *team : "", trigger, i);
        m.event_id = eid;
        cJSON *c = cJSON_CreateObject();
        cJSON *p = cJSON_AddObjectToObject(c, "postback");
        if (title && !sb_blank(title) && sb_utf8_chars(title, strlen(title)) <= SB_BUTTON_TITLE_MAX)
            cJSON_AddStringToObject(p, "title", title);
        cJSON_AddStringToObject(p, "payload", value);
        sb__in_content(in, &m, c);
        *sb__in_add_msg(in) = m;
        i++;
    }
    return 0;
}

/* Seed 000's flat body: chat = channel_id, event id = team_id:channel_id:event_ts. */
static int parse_flat(sb_inbound_t *in, const cJSON *o, const char *team)
{
    sb_in_msg_t m = {0};
    const char *ets;
    if (sb__in_str(in, o, "channel_id", "channel_id", 64, &m.chat) < 0 ||
        sb__in_str(in, o, "user_id", "user_id", 64, &m.from) < 0 ||
        sb__in_str(in, o, "event_ts", "event_ts", 64, &ets) < 0 ||
        sb__in_str(in, o, "thread_ts", "thread_ts", 64, &m.thread) < 0 ||
        sb__in_text(in, o, "text", "text", &m.text) < 0)
        return -EINVAL;
    const char *missing = !m.chat ? "channel_id" : !m.text ? "text" : !ets ? "event_ts" : NULL;
    if (missing)
        return required(in, missing);
    m.pmid = ets;
    char *eid = sb__in_alloc(in, SB_EVENT_ID_MAX);
    snprintf(eid, SB_EVENT_ID_MAX, "%s:%s:%s", team ? team : "", m.chat, ets);
    m.event_id = eid;
    *sb__in_add_msg(in) = m;
    return 0;
}

static int parse_body(sb_inbound_t *in, const cJSON *o, const char **team)
{
    slack_proof_t *pr = in->proof;
    const char *type;
    if (sb__in_str(in, o, "team_id", "team_id", 64, team) < 0 ||
        sb__in_str(in, o, "token", "token", 256, &pr->token) < 0 || sb__in_str(in, o, "type", "type", 64, &type) < 0)
        return -EINVAL;
    if (type && strcmp(type, "url_verification") == 0) {
        if (sb__in_str(in, o, "challenge", "challenge", 256, &in->challenge) < 0)
            return -EINVAL;
        return in->challenge ? 0 : required(in, "challenge");
    }
    if (type && strcmp(type, "event_callback") == 0)
        return parse_event(in, o);
    if (type)
        return 0; /* app_rate_limited and other envelopes: nothing to store */
    return parse_flat(in, o, *team);
}

static int slack_parse(sb_inbound_t *in)
{
    slack_proof_t *pr = sb__in_alloc(in, sizeof(*pr));
    memset(pr, 0, sizeof(*pr));
    in->proof = pr;
    size_t ctlen;
    const char *ct = sb__in_get(in, SB_IN_HEADER, "content-type", &ctlen);
    cJSON *o;
    bool form = ct && ctlen >= 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0;
    if (form) {
        o = form_object(in->req.body, in->req.len);
        if (!o)
            return sb__in_fail(in, -EINVAL, NULL, "the body is not a valid form");
    } else if (!(o = sb__in_json_object(in))) {
        return -EINVAL;
    }
    const char *team = NULL;
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(o, "payload");
    int rc;
    if (form && payload) { /* an interactivity payload: JSON in the form's one field */
        char err[SB_JSON_ERR_MAX];
        cJSON *p = sb_json_parse(payload->valuestring, strlen(payload->valuestring), err);
        if (!p)
            rc = sb__in_fail(in, -EINVAL, "payload", "'payload' %s", err);
        else if (!cJSON_IsObject(p))
            rc = sb__in_fail(in, -EINVAL, "payload", "'payload' must be a JSON object");
        else
            rc = parse_interaction(in, p, &team);
        cJSON_Delete(p);
    } else {
        rc = parse_body(in, o, &team);
    }
    cJSON_Delete(o);
    if (rc < 0)
        return rc;
    if (!team)
        team = sb__in_get(in, SB_IN_QUERY, "teamId", NULL);
    /* at most 64 bytes, as in a body; no identity: no binding can be found */
    if (!team || !team[0] || strlen(team) > 64 || strpbrk(team, "{} \r\n"))
        return -EPERM;
    pr->sig = sb__in_get(in, SB_IN_HEADER, "x-slack-signature", &pr->siglen);
    pr->ts = sb__in_get(in, SB_IN_HEADER, "x-slack-request-timestamp", &pr->tslen);
    char field[SB_BINDING_FIELD_MAX];
    snprintf(field, sizeof(field), "slack:%s", team);
    sb__in_field(in, field);
    return 0;
}

/* A binding with a signing secret requires the signature; one without (legacy) the body's
 * token equal to its verification token. */
static int slack_verify(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                        sb_inbound_done_fn done, void *data)
{
    SB_UNUSED(i);
    SB_UNUSED(done);
    SB_UNUSED(data);
    const slack_proof_t *pr = in->proof;
    if (!sb__binding_is(b, "slack"))
        return -EPERM;
    const char *s0 = sb_binding_secret(b, "signingSecret", false), *s1 = sb_binding_secret(b, "signingSecret", true);
    if (!s0 && !s1)
        return sb__token_either(b, "verificationToken", pr->token) ? 0 : -EPERM;
    const char *body = in->req.body;
    size_t n = in->req.len;
    return sb_slack_signature_ok(s0, pr->sig, pr->siglen, pr->ts, pr->tslen, body, n, env->now_s) == 0 ||
                   sb_slack_signature_ok(s1, pr->sig, pr->siglen, pr->ts, pr->tslen, body, n, env->now_s) == 0
               ? 0
               : -EPERM;
}

/* ---------- outbound: chat.postMessage ---------- */

/* ---------- rich content: Block Kit ---------- */

#define SLACK_BUTTON_TEXT_MAX  75   /* a button's plain_text (Block Kit reference, button element) */
#define SLACK_SECTION_TEXT_MAX 3000 /* a section block's text */

static cJSON *plain(const char *text)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "type", "plain_text");
    cJSON_AddStringToObject(t, "text", text);
    return t;
}

static void add_section(cJSON *blocks, const char *text, cJSON *accessory)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "section");
    cJSON_AddItemToObject(b, "text", plain(text));
    if (accessory)
        cJSON_AddItemToObject(b, "accessory", accessory);
    cJSON_AddItemToArray(blocks, b);
}

/* The text in sections of at most 3,000 characters (the message's text may hold 4,096). */
static void add_text(cJSON *blocks, const char *text)
{
    size_t n = strlen(text);
    while (n) {
        size_t take = n;
        if (sb_utf8_chars(text, n) > SLACK_SECTION_TEXT_MAX) {
            take = 0;
            for (size_t chars = 0; chars < SLACK_SECTION_TEXT_MAX && take < n; chars++)
                do
                    take++;
                while (take < n && ((unsigned char)text[take] & 0xC0) == 0x80);
        }
        char *piece = sb_malloc(take + 1);
        memcpy(piece, text, take);
        piece[take] = '\0';
        add_section(blocks, piece, NULL);
        sb_free(piece);
        text += take;
        n -= take;
    }
}

/* An actions block of buttons: postbacks carry their payload as the value (block_actions bring
 * it back), links open their URL. action_ids are unique in the message: prefix + index. */
static void add_actions(cJSON *blocks, const cJSON *buttons, const char *prefix)
{
    if (cJSON_GetArraySize(buttons) == 0)
        return;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "actions");
    cJSON *els = cJSON_AddArrayToObject(b, "elements");
    int i = 0;
    const cJSON *btn;
    cJSON_ArrayForEach(btn, buttons)
    {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", "button");
        cJSON_AddItemToObject(e, "text", plain(sb__str(btn, "title")));
        char id[48]; /* prefix: "sb_b" or "sb_c<k>_" */
        snprintf(id, sizeof(id), "%.23s%d", prefix, i++);
        cJSON_AddStringToObject(e, "action_id", id);
        if (strcmp(sb__str(btn, "type"), "url") == 0)
            cJSON_AddStringToObject(e, "url", sb__str(btn, "url"));
        else
            cJSON_AddStringToObject(e, "value", sb__str(btn, "payload"));
        cJSON_AddItemToArray(els, e);
    }
    cJSON_AddItemToArray(blocks, b);
}

static cJSON *image_element(const char *url, const char *alt)
{
    cJSON *im = cJSON_CreateObject();
    cJSON_AddStringToObject(im, "type", "image");
    cJSON_AddStringToObject(im, "image_url", url);
    cJSON_AddStringToObject(im, "alt_text", alt);
    return im;
}

/* text, buttons, attachments (images as image blocks, other files as a section with the link),
 * then each card (a section with its image beside it, then its buttons): at most 2 + 1 + 10 +
 * 10 x 2 blocks, within Slack's 50. */
static cJSON *slack_blocks(const sb_content_t *c)
{
    cJSON *blocks = cJSON_CreateArray();
    if (c->text)
        add_text(blocks, c->text);
    add_actions(blocks, c->buttons, "sb_b");
    const cJSON *a;
    cJSON_ArrayForEach(a, c->attachments)
    {
        const char *name = sb__str(a, "name")[0] ? sb__str(a, "name") : sb__str(a, "type");
        if (strcmp(sb__str(a, "type"), "image") == 0) {
            cJSON *im = image_element(sb__str(a, "url"), name);
            cJSON_AddItemToArray(blocks, im);
        } else {
            sb_buf_t t;
            sb_buf_init(&t, 4096);
            sb_buf_printf(&t, "%s: %s", name, sb__str(a, "url"));
            sb_buf_putc(&t, '\0');
            add_section(blocks, t.data, NULL);
            sb_buf_free(&t);
        }
    }
    int k = 0;
    const cJSON *card;
    cJSON_ArrayForEach(card, c->cards)
    {
        sb_buf_t t;
        sb_buf_init(&t, 8192);
        sb__card_text(&t, card, true);
        const char *img = sb__str(card, "imageUrl");
        add_section(blocks, t.data, img[0] ? image_element(img, sb__str(card, "title")) : NULL);
        sb_buf_free(&t);
        char prefix[24];
        snprintf(prefix, sizeof(prefix), "sb_c%d_", k++);
        add_actions(blocks, cJSON_GetObjectItemCaseSensitive(card, "buttons"), prefix);
    }
    return blocks;
}

static int slack_content_check(const sb_content_t *c, sb_verr_t *e)
{
    return sb__buttons_max(c, "title", SLACK_BUTTON_TEXT_MAX, false, "Slack", e);
}

static int slack_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                            sb_send_draft_t *d, char *err, size_t errlen)
{
    SB_UNUSED(bearer);
    const char *token = sb__cfg_str(chcfg, "botToken");
    if (!token)
        return sb__send_missing(err, errlen, "botToken");
    sb_buf_printf(&d->url, "%s/chat.postMessage", cfg->slack_api_base);
    sb_buf_printf(&d->headers, "Authorization: Bearer %s\r\n", token);
    cJSON_AddStringToObject(d->body, "channel", s->chat);
    cJSON_AddStringToObject(d->body, "text", s->text); /* with blocks: the notification's text */
    if (s->content && sb_content_rich(s->content))
        cJSON_AddItemToObject(d->body, "blocks", slack_blocks(s->content));
    if (s->thread && s->thread[0])
        cJSON_AddStringToObject(d->body, "thread_ts", s->thread);
    return 0;
}

/* Slack answers 200 with {"ok":false,"error":"..."} for most failures; a few are worth a retry. */
static int slack_send_result(const cJSON *o, char *pmid, size_t pmidlen, char *err, size_t errlen)
{
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
        sb__put_id(cJSON_GetObjectItemCaseSensitive(o, "ts"), pmid, pmidlen);
        return SB_SEND_ACCEPTED;
    }
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
    snprintf(err, errlen, "slack: %s", e ? e : "no \"ok\":true in the answer");
    static const char *const retried[] = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                                          "request_timeout"};
    for (size_t i = 0; e && i < SB_ARRAY_SIZE(retried); i++)
        if (strcmp(e, retried[i]) == 0)
            return SB_SEND_RETRY;
    return SB_SEND_REFUSED;
}

/* ---------- the channel config ---------- */

static const char *const members[] = {
    "teamId", "signingSecret", "signingSecretPrevious", "verificationToken", "verificationTokenPrevious", "botToken",
    NULL};
static const char *const secrets[] = {
    "signingSecret", "signingSecretPrevious", "verificationToken", "verificationTokenPrevious", "botToken", NULL};
static const sb__config_schema_t schema = {"slack", "teamId", members, sb__none, sb__none, sb__none, sb__none};

static int slack_config_check(cJSON *cfg, const cJSON *in, sb_verr_t *e)
{
    return sb_send_limits_merge(cfg, in, &schema, e); /* the schema and "sendLimits" */
}

static void slack_binding_fields(const cJSON *cfg, const char *tenant_id, cJSON *fields)
{
    SB_UNUSED(tenant_id);
    sb__field_add(fields, cfg, "slack", "teamId", false);
}

const sb_platform_t sb__platform_slack = {
    .type = "slack",
    .claim_ttl_s = SB_CLAIM_TTL_S,
    .parse = slack_parse,
    .verify = slack_verify,
    .send_build = slack_send_build,
    .content_check = slack_content_check,
    .send_result = slack_send_result,
    .secrets = secrets,
    .config_check = slack_config_check,
    .binding_fields = slack_binding_fields,
};
