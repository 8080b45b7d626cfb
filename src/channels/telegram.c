/* Telegram (docs/channels.md): the webhook's Update, the X-Telegram-Bot-Api-Secret-Token proof
 * (the binding found by the bot id of the path, or by the token itself), sendMessage and the
 * media methods (rich content, one part per request) and their verdict, the channel config {botId, botToken, secretToken}. Behind sb_platform_t (platform.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "switchboard/crypto.h"
#include "switchboard/text.h"

typedef struct tg_proof {
    const char *secret;    /* the header's secret token */
    const char *update_id; /* the event id is <the binding's botId>:<update_id> */
    const char *callback;  /* a callback_query's id: the event id is <botId>:cb:<id> */
} tg_proof_t;

/* An id that may be a JSON number (Telegram's) or a string, as a string. */
static const char *id_member(sb_inbound_t *in, const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    char buf[32];
    long long n;
    if (sb__json_int(v, &n)) {
        snprintf(buf, sizeof(buf), "%lld", n);
        return sb__in_strdup(in, buf);
    }
    if (cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) <= SB_EVENT_ID_MAX)
        return sb__in_strdup(in, v->valuestring);
    return NULL;
}

/* ---------- inbound media and clicks (docs/messages.md "Inbound: media and clicks") ---------- */

#define TG_MEDIA_ID_MAX 512 /* the model's attachment mediaId */

/* The largest of a photo's sizes (PhotoSize[]: the most pixels, the last of equals). */
static const cJSON *largest_photo(sb_inbound_t *in, const cJSON *sizes)
{
    if (!cJSON_IsArray(sizes) || cJSON_GetArraySize(sizes) == 0) {
        sb__in_fail(in, -EINVAL, "message.photo", "'message.photo' must be a non-empty array");
        return NULL;
    }
    const cJSON *best = NULL, *p;
    double most = -1;
    cJSON_ArrayForEach(p, sizes)
    {
        if (!cJSON_IsObject(p)) {
            sb__in_fail(in, -EINVAL, "message.photo", "each of 'message.photo' must be an object");
            return NULL;
        }
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(p, "width"),
                    *h = cJSON_GetObjectItemCaseSensitive(p, "height");
        double px = cJSON_IsNumber(w) && cJSON_IsNumber(h) ? w->valuedouble * h->valuedouble : 0;
        if (px >= most) {
            most = px;
            best = p;
        }
    }
    return best;
}

/* The message's file, if any: photo (its largest size), document, audio, video, video_note,
 * voice -> one attachment {type, mediaId: file_id, name: file_name, contentType: mime_type}
 * (a document's type follows its MIME type). Telegram gives file ids, not URLs: getFile with
 * the bot token turns one into a download. 0 with *out NULL when there is none. */
static int message_file(sb_inbound_t *in, const cJSON *msg, cJSON **out)
{
    static const char *const kinds[][2] = {
        {"document", NULL}, {"audio", "audio"}, {"video", "video"}, {"video_note", "video"}, {"voice", "audio"}};
    *out = NULL;
    const cJSON *f = NULL;
    const char *type = NULL;
    char field[48] = "message.photo";
    const cJSON *photo = cJSON_GetObjectItemCaseSensitive(msg, "photo");
    if (photo) {
        if (!(f = largest_photo(in, photo)))
            return -EINVAL;
        type = "image";
    }
    for (size_t k = 0; !f && k < SB_ARRAY_SIZE(kinds); k++) {
        f = cJSON_GetObjectItemCaseSensitive(msg, kinds[k][0]);
        snprintf(field, sizeof(field), "message.%s", kinds[k][0]);
        if (f && !cJSON_IsObject(f))
            return sb__in_fail(in, -EINVAL, field, "'%s' must be an object", field);
        type = kinds[k][1];
    }
    if (!f)
        return 0;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(f, "file_id");
    const char *name, *mime;
    if (!cJSON_IsString(id) || !id->valuestring[0] || strlen(id->valuestring) > TG_MEDIA_ID_MAX) {
        snprintf(field + strlen(field), sizeof(field) - strlen(field), ".file_id");
        return sb__in_fail(in, -EINVAL, field, "'%s' must be a file id of at most %d bytes", field, TG_MEDIA_ID_MAX);
    }
    if (sb__in_opt_str(in, f, field, "file_name", 255, &name) < 0 ||
        sb__in_opt_str(in, f, field, "mime_type", 127, &mime) < 0)
        return -EINVAL;
    cJSON *a = cJSON_CreateObject();
    if (type)
        cJSON_AddStringToObject(a, "type", type);
    cJSON_AddStringToObject(a, "mediaId", id->valuestring);
    if (name)
        cJSON_AddStringToObject(a, "name", name);
    if (mime)
        cJSON_AddStringToObject(a, "contentType", mime);
    *out = a;
    return 0;
}

/* The text of the inline button whose callback_data is data, in the message's keyboard. */
static const char *button_title(const cJSON *message, const char *data)
{
    const cJSON *rows =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(message, "reply_markup"), "inline_keyboard");
    const cJSON *row, *b;
    if (!cJSON_IsArray(rows))
        return NULL;
    cJSON_ArrayForEach(row, rows)
    {
        if (!cJSON_IsArray(row))
            continue;
        cJSON_ArrayForEach(b, row)
        {
            const char *cd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "callback_data"));
            const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "text"));
            if (cd && text && strcmp(cd, data) == 0)
                return text;
        }
    }
    return NULL;
}

/* callback_query {id, from, message: {chat, reply_markup}, data}: an inline button's click, a
 * message with the postback {title: the button's text when the keyboard shows it, payload:
 * data}; its event id is the query's id (at most 64 bytes). A query without data (a game's) or without a message
 * (an inline-mode message's: no chat to answer in) is acknowledged. */
static int parse_callback(sb_inbound_t *in, const cJSON *q)
{
    tg_proof_t *pr = in->proof;
    if (!cJSON_IsObject(q))
        return sb__in_fail(in, -EINVAL, "callback_query", "'callback_query' must be an object");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(q, "from"),
                *msg = cJSON_GetObjectItemCaseSensitive(q, "message");
    sb_in_msg_t m = {0};
    const char *data;
    if (sb__in_str(in, q, "id", "callback_query.id", 64, &pr->callback) < 0 ||
        sb__in_str(in, q, "data", "callback_query.data", 4 * SB_BUTTON_PAYLOAD_MAX, &data) < 0)
        return -EINVAL;
    if (!pr->callback || !pr->callback[0])
        return sb__in_fail(in, -EINVAL, "callback_query.id", "'callback_query.id' is required");
    if (msg && !cJSON_IsObject(msg))
        return sb__in_fail(in, -EINVAL, "callback_query.message", "'callback_query.message' must be an object");
    if (!data || !msg)
        return 0;
    const cJSON *chat = cJSON_GetObjectItemCaseSensitive(msg, "chat");
    m.chat = cJSON_IsObject(chat) ? id_member(in, chat, "id") : NULL;
    if (!m.chat)
        return sb__in_fail(in, -EINVAL, "callback_query.message.chat.id",
                           "'callback_query.message.chat.id' must be an integer");
    m.from = cJSON_IsObject(from) ? id_member(in, from, "id") : NULL;
    if (cJSON_IsObject(from) && sb__in_str(in, from, "username", "callback_query.from.username", 64, &m.name) < 0)
        return -EINVAL;
    if (sb_blank(data) || sb_utf8_chars(data, strlen(data)) > SB_BUTTON_PAYLOAD_MAX)
        return sb__in_fail(in, -EINVAL, "callback_query.data",
                           "'callback_query.data' must be a non-empty string of at most %d characters",
                           SB_BUTTON_PAYLOAD_MAX);
    m.pmid = pr->callback; /* what answerCallbackQuery takes */
    cJSON *c = cJSON_CreateObject();
    cJSON *p = cJSON_AddObjectToObject(c, "postback");
    const char *title = button_title(msg, data);
    if (title && !sb_blank(title) && sb_utf8_chars(title, strlen(title)) <= SB_BUTTON_TITLE_MAX)
        cJSON_AddStringToObject(p, "title", title);
    cJSON_AddStringToObject(p, "payload", data);
    sb__in_content(in, &m, c);
    *sb__in_add_msg(in) = m;
    return 0;
}

/* {update_id, message: {message_id, chat: {id}, from: {id, username}, text | caption and a
 * file}} and callback_query (an inline button's click). Other updates (edits, channel posts)
 * and messages with neither text nor a file (stickers, contacts, locations) are acknowledged
 * and not stored. */
static int parse_update(sb_inbound_t *in, const cJSON *o)
{
    tg_proof_t *pr = in->proof;
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(o, "update_id");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
    long long update_id;
    if (!sb__json_int(uid, &update_id) || update_id < 0)
        return sb__in_fail(in, -EINVAL, "update_id", "'update_id' must be a non-negative integer");
    if (msg && !cJSON_IsObject(msg))
        return sb__in_fail(in, -EINVAL, "message", "'message' must be an object");
    char id[32];
    snprintf(id, sizeof(id), "%lld", update_id);
    pr->update_id = sb__in_strdup(in, id);
    const cJSON *cq = cJSON_GetObjectItemCaseSensitive(o, "callback_query");
    if (!msg && cq)
        return parse_callback(in, cq);
    if (!msg)
        return 0;
    const cJSON *chat = cJSON_GetObjectItemCaseSensitive(msg, "chat");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(msg, "from");
    sb_in_msg_t m = {0};
    m.chat = cJSON_IsObject(chat) ? id_member(in, chat, "id") : NULL;
    m.from = cJSON_IsObject(from) ? id_member(in, from, "id") : NULL;
    m.pmid = id_member(in, msg, "message_id");
    if (!m.chat)
        return sb__in_fail(in, -EINVAL, "message.chat.id", "'message.chat.id' must be an integer");
    if (cJSON_IsObject(from) && sb__in_str(in, from, "username", "message.from.username", 64, &m.name) < 0)
        return -EINVAL;
    if (sb__in_text(in, msg, "text", "message.text", &m.text) < 0)
        return -EINVAL;
    cJSON *file = NULL;
    if (!m.text && message_file(in, msg, &file) < 0)
        return -EINVAL;
    if (!m.text && file) {
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(msg, "caption");
        if (cap && !cJSON_IsString(cap)) {
            cJSON_Delete(file);
            return sb__in_fail(in, -EINVAL, "message.caption", "'message.caption' must be a string");
        }
        if (cap && !sb_blank(cap->valuestring) && sb__in_text(in, msg, "caption", "message.caption", &m.text) < 0) {
            cJSON_Delete(file);
            return -EINVAL; /* a blank caption is no text */
        }
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "attachments"), file);
        sb__in_content(in, &m, c);
    }
    if (m.text || m.content)
        *sb__in_add_msg(in) = m;
    return 0;
}

static int tg_parse(sb_inbound_t *in)
{
    tg_proof_t *pr = sb__in_alloc(in, sizeof(*pr));
    memset(pr, 0, sizeof(*pr));
    in->proof = pr;
    cJSON *o = sb__in_json_object(in);
    if (!o)
        return -EINVAL;
    int rc = parse_update(in, o);
    cJSON_Delete(o);
    if (rc < 0)
        return rc;
    size_t slen;
    pr->secret = sb__in_get(in, SB_IN_HEADER, "x-telegram-bot-api-secret-token", &slen);
    if (!pr->secret || slen == 0 || slen > 256)
        return -EPERM;
    /* /api/webhooks/telegram/{botId} names the bot; /api/webhooks/telegram finds it by the token */
    char field[SB_BINDING_FIELD_MAX];
    const char *bot = sb__in_get(in, SB_IN_PARAM, "botId", NULL);
    if (bot) {
        if (strlen(bot) > SB_IDENT_MAX || strpbrk(bot, "{} \r\n"))
            return -EPERM;
        snprintf(field, sizeof(field), "telegram:%s", bot);
    } else {
        char h[65];
        sb_sha256_hex(pr->secret, slen, h);
        snprintf(field, sizeof(field), "tgsecret:%s", h);
    }
    sb__in_field(in, field);
    return 0;
}

static int tg_verify(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                     sb_inbound_done_fn done, void *data)
{
    SB_UNUSED(i);
    SB_UNUSED(env);
    SB_UNUSED(done);
    SB_UNUSED(data);
    const tg_proof_t *pr = in->proof;
    if (!sb__binding_is(b, "telegram") || !sb__token_either(b, "secretToken", pr->secret))
        return -EPERM;
    /* update ids count per bot: the bot's id makes them unique */
    const char *bot = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b->cfg, "botId"));
    for (size_t k = 0; k < in->nmsgs; k++) {
        char *eid = sb__in_alloc(in, SB_EVENT_ID_MAX);
        if (pr->callback)
            snprintf(eid, SB_EVENT_ID_MAX, "%s:cb:%s", bot ? bot : "", pr->callback);
        else
            snprintf(eid, SB_EVENT_ID_MAX, "%s:%s", bot ? bot : "", pr->update_id);
        in->msgs[k].event_id = eid;
    }
    return 0;
}

/* ---------- outbound: sendMessage and the media methods ---------- */

#define TG_CALLBACK_DATA_MAX 64   /* bytes of an inline button's callback_data (Bot API) */

/* {"inline_keyboard": [[button], ...]}: one button per row; postbacks as callback_data (a
 * callback_query brings it back), links as url. NULL when there are none. */
static cJSON *keyboard(const cJSON *buttons, const char *item_url)
{
    if (cJSON_GetArraySize(buttons) == 0 && !(item_url && item_url[0]))
        return NULL;
    cJSON *m = cJSON_CreateObject();
    cJSON *rows = cJSON_AddArrayToObject(m, "inline_keyboard");
    const cJSON *b;
    cJSON_ArrayForEach(b, buttons)
    {
        cJSON *btn = cJSON_CreateObject();
        cJSON_AddStringToObject(btn, "text", sb__str(b, "title"));
        bool link = strcmp(sb__str(b, "type"), "url") == 0;
        cJSON_AddStringToObject(btn, link ? "url" : "callback_data", sb__str(b, link ? "url" : "payload"));
        cJSON *row = cJSON_CreateArray();
        cJSON_AddItemToArray(row, btn);
        cJSON_AddItemToArray(rows, row);
    }
    if (item_url && item_url[0]) {
        cJSON *btn = cJSON_CreateObject();
        cJSON_AddStringToObject(btn, "text", "Open");
        cJSON_AddStringToObject(btn, "url", item_url);
        cJSON *row = cJSON_CreateArray();
        cJSON_AddItemToArray(row, btn);
        cJSON_AddItemToArray(rows, row);
    }
    return m;
}

/* The method and body of one part (render.c's order: text with its keyboard, each attachment by
 * its type, each card as a photo with its caption and buttons, or a text without an image). */
static const char *tg_part(const sb_send_t *s, cJSON *body, bool *more)
{
    *more = false;
    if (!s->content)
        goto text;
    sb__part_t p;
    if (sb__content_part(s->content, s->part, &p) < 0)
        return NULL;
    *more = p.more;
    if (p.kind == SB_PART_ATTACHMENT) {
        static const char *const types[][2] = {
            {"image", "photo"}, {"audio", "audio"}, {"video", "video"}, {"file", "document"}};
        const char *type = sb__str(p.item, "type"), *field = "document", *method = "sendDocument";
        static const char *const methods[] = {"sendPhoto", "sendAudio", "sendVideo", "sendDocument"};
        for (size_t k = 0; k < SB_ARRAY_SIZE(types); k++)
            if (strcmp(type, types[k][0]) == 0) {
                field = types[k][1];
                method = methods[k];
            }
        cJSON_AddStringToObject(body, field, sb__str(p.item, "url"));
        if (sb__str(p.item, "name")[0])
            cJSON_AddStringToObject(body, "caption", sb__str(p.item, "name"));
        return method;
    }
    if (p.kind == SB_PART_CARD) {
        sb_buf_t t;
        sb_buf_init(&t, 8192);
        sb__card_text(&t, p.item, false); /* the link is a button */
        const char *img = sb__str(p.item, "imageUrl");
        if (img[0])
            cJSON_AddStringToObject(body, "photo", img);
        cJSON_AddStringToObject(body, img[0] ? "caption" : "text", t.data);
        sb_buf_free(&t);
        cJSON *kb = keyboard(cJSON_GetObjectItemCaseSensitive(p.item, "buttons"), sb__str(p.item, "itemUrl"));
        if (kb)
            cJSON_AddItemToObject(body, "reply_markup", kb);
        return img[0] ? "sendPhoto" : "sendMessage";
    }
    cJSON_AddStringToObject(body, "text", s->content->text);
    cJSON *kb = keyboard(s->content->buttons, NULL);
    if (kb)
        cJSON_AddItemToObject(body, "reply_markup", kb);
    return "sendMessage";
text:
    cJSON_AddStringToObject(body, "text", s->text);
    return "sendMessage";
}

static int tg_content_check(const sb_content_t *c, sb_verr_t *e)
{
    return sb__buttons_max(c, "payload", TG_CALLBACK_DATA_MAX, true, "Telegram", e);
}

static int tg_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                         sb_send_draft_t *d, char *err, size_t errlen)
{
    SB_UNUSED(bearer);
    /* The token is part of the URL: only the request carries it; every record shows <token>.
     * Telegram's tokens are "<bot id>:<letters, digits, - and _>", nothing to escape. */
    const char *token = sb__cfg_str(chcfg, "botToken");
    if (!token)
        return sb__send_missing(err, errlen, "botToken");
    if (strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_-") != strlen(token)) {
        snprintf(err, errlen, "the channel's botToken is not a Telegram bot token");
        return -EINVAL;
    }
    cJSON_AddStringToObject(d->body, "chat_id", s->chat);
    const char *method = tg_part(s, d->body, &d->more);
    if (!method) {
        snprintf(err, errlen, "the message has no part %u", s->part);
        return -EINVAL;
    }
    sb_buf_printf(&d->url, "%s/bot%s/%s", cfg->telegram_api_base, token, method);
    sb_buf_printf(&d->shown, "%s/bot<token>/%s", cfg->telegram_api_base, method);
    return 0;
}

static int tg_send_result(const cJSON *o, char *pmid, size_t pmidlen, char *err, size_t errlen)
{
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
        snprintf(err, errlen, "telegram: no \"ok\":true in the answer");
        return SB_SEND_REFUSED;
    }
    sb__put_id(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "result"), "message_id"), pmid,
               pmidlen);
    return SB_SEND_ACCEPTED;
}

/* ---------- the channel config ---------- */

static const char *const members[] = {"botId", "botToken", "secretToken", "secretTokenPrevious", NULL};
static const char *const secrets[] = {"botToken", "secretToken", "secretTokenPrevious", NULL};
static const sb__config_schema_t schema = {"telegram", "botId", members, sb__none, sb__none, sb__none, sb__none};

static int tg_config_check(cJSON *cfg, const cJSON *in, sb_verr_t *e)
{
    return sb_send_limits_merge(cfg, in, &schema, e); /* the schema and "sendLimits" */
}

/* The bot id, and the hashed secret tokens (POST /api/webhooks/telegram names no bot). */
static void tg_binding_fields(const cJSON *cfg, const char *tenant_id, cJSON *fields)
{
    SB_UNUSED(tenant_id);
    sb__field_add(fields, cfg, "telegram", "botId", false);
    sb__field_add(fields, cfg, "tgsecret", "secretToken", true);
    sb__field_add(fields, cfg, "tgsecret", "secretTokenPrevious", true);
}

const sb_platform_t sb__platform_telegram = {
    .type = "telegram",
    .claim_ttl_s = SB_CLAIM_TTL_S,
    .parse = tg_parse,
    .verify = tg_verify,
    .send_build = tg_send_build,
    .content_check = tg_content_check,
    .send_result = tg_send_result,
    .secrets = secrets,
    .config_check = tg_config_check,
    .binding_fields = tg_binding_fields,
};
