/* WhatsApp Cloud API (docs/channels.md): the webhook's payload (every message of every change
 * of every entry; statuses acknowledged), Meta's X-Hub-Signature-256 proof checked per phone
 * number the payload names, the GET subscription check (hub.verify_token, hub.challenge), the
 * Graph API's /<phoneNumberId>/messages (rich content as interactive and media messages, one
 * part per request) and its verdict, the channel config {phoneNumberId,
 * wabaId, appSecret, verifyToken, accessToken, displayPhone}. Behind sb_platform_t (platform.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "switchboard/alloc.h"
#include "switchboard/crypto.h"
#include "switchboard/text.h"

#define CLAIM_TTL_META_S 604800 /* Meta retries for up to 7 days */
#define WA_MAX_MESSAGES  256    /* per payload */

/* ---------- the request proof ---------- */

int sb_hub_signature_ok(const char *secret, const char *sig, size_t siglen, const char *body, size_t n)
{
    if (!secret || !sig || siglen != 7 + SB_HMAC_HEX_SIZE || memcmp(sig, "sha256=", 7) != 0)
        return -EPERM;
    const void *parts[] = {body};
    const size_t lens[] = {n};
    return sb__hex_hmac_equal(secret, parts, lens, 1, sig + 7, siglen - 7) ? 0 : -EPERM;
}

/* ---------- inbound ---------- */

typedef struct wa_proof {
    const char *sig; /* X-Hub-Signature-256; the GET: hub.verify_token */
    size_t siglen;
} wa_proof_t;

/* The binding a change belongs to: its phone number, or the entry's account (seed 000's body
 * has no metadata). */
static int change_binding(sb_inbound_t *in, const cJSON *v, const char *waba)
{
    const char *pnid = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "metadata"), "phone_number_id"));
    char field[SB_BINDING_FIELD_MAX];
    if (sb__ident_ok(pnid))
        snprintf(field, sizeof(field), "whatsapp:%s", pnid);
    else if (sb__ident_ok(waba))
        snprintf(field, sizeof(field), "wawaba:%s", waba);
    else
        return sb__in_fail(in, -EINVAL, "entry.changes.value.metadata",
                           "a change names no phone number (value.metadata.phone_number_id) "
                           "and its entry no account (id)");
    int bi = sb__in_field(in, field);
    if (bi < 0)
        return sb__in_fail(in, -EINVAL, "entry", "the payload names too many phone numbers");
    return bi;
}

/* ---------- inbound media and clicks (docs/messages.md "Inbound: media and clicks") ---------- */

#define WA_MEDIA_ID_MAX 512 /* the model's attachment mediaId */

/* m's object member of the message's type ("image": {...}): NULL with -EINVAL set when it is
 * not an object. */
static const cJSON *type_object(sb_inbound_t *in, const cJSON *m, const char *type)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(m, type);
    if (!cJSON_IsObject(o)) {
        char f[64];
        snprintf(f, sizeof(f), "messages.%s", type);
        sb__in_fail(in, -EINVAL, f, "'%s' must be an object", f);
        return NULL;
    }
    return o;
}

/* image, video, audio, document, sticker: {id, mime_type, caption?, filename?} -> an attachment
 * by its media id (the URL takes a Graph API call with the access token), the caption as the
 * text. A sticker is an image (WebP). */
static int media_message(sb_inbound_t *in, const cJSON *m, const char *type, const char *kind, sb_in_msg_t *x)
{
    const cJSON *o = type_object(in, m, type);
    if (!o)
        return -EINVAL;
    char f[64];
    snprintf(f, sizeof(f), "messages.%s.id", type);
    const char *id, *mime, *filename;
    const cJSON *id_v = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsString(id_v) || !id_v->valuestring[0] || strlen(id_v->valuestring) > WA_MEDIA_ID_MAX)
        return sb__in_fail(in, -EINVAL, f, "'%s' must be a media id of at most %d bytes", f, WA_MEDIA_ID_MAX);
    id = id_v->valuestring;
    char path[48];
    snprintf(path, sizeof(path), "messages.%s", type);
    if (sb__in_opt_str(in, o, path, "mime_type", 127, &mime) < 0 ||
        sb__in_opt_str(in, o, path, "filename", 255, &filename) < 0)
        return -EINVAL;
    const cJSON *cap = cJSON_GetObjectItemCaseSensitive(o, "caption");
    snprintf(f, sizeof(f), "messages.%s.caption", type);
    if (cap && !cJSON_IsString(cap))
        return sb__in_fail(in, -EINVAL, f, "'%s' must be a string", f);
    if (cap && !sb_blank(cap->valuestring) && sb__in_text(in, o, "caption", f, &x->text) < 0)
        return -EINVAL; /* a blank caption is no text */
    cJSON *c = cJSON_CreateObject();
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "type", kind);
    cJSON_AddStringToObject(a, "mediaId", id);
    if (filename)
        cJSON_AddStringToObject(a, "name", filename);
    if (mime)
        cJSON_AddStringToObject(a, "contentType", mime);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "attachments"), a);
    sb__in_content(in, x, c);
    return 1;
}

/* A click: the postback {title, payload} of the model. A title that the model cannot hold (blank,
 * over its 80 characters) is left out; a payload over its 1,000 is refused (field). */
static int click(sb_inbound_t *in, sb_in_msg_t *x, const char *title, const char *payload, const char *field)
{
    if (!payload || sb_blank(payload) || sb_utf8_chars(payload, strlen(payload)) > SB_BUTTON_PAYLOAD_MAX)
        return sb__in_fail(in, -EINVAL, field, "'%s' must be a non-empty string of at most %d characters", field,
                           SB_BUTTON_PAYLOAD_MAX);
    cJSON *c = cJSON_CreateObject();
    cJSON *p = cJSON_AddObjectToObject(c, "postback");
    if (title && !sb_blank(title) && sb_utf8_chars(title, strlen(title)) <= SB_BUTTON_TITLE_MAX)
        cJSON_AddStringToObject(p, "title", title);
    cJSON_AddStringToObject(p, "payload", payload);
    sb__in_content(in, x, c);
    return 1;
}

/* interactive: {type: button_reply | list_reply, <type>: {id, title}} -> postback {title,
 * payload: id}; other replies (flows' nfm_reply) are not stored. */
static int interactive_reply(sb_inbound_t *in, const cJSON *m, sb_in_msg_t *x)
{
    const cJSON *o = type_object(in, m, "interactive");
    if (!o)
        return -EINVAL;
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "type"));
    if (!kind || (strcmp(kind, "button_reply") != 0 && strcmp(kind, "list_reply") != 0))
        return 0;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, kind);
    char f[64];
    snprintf(f, sizeof(f), "messages.interactive.%s", kind);
    if (!cJSON_IsObject(r))
        return sb__in_fail(in, -EINVAL, f, "'%s' must be an object", f);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id"), *title = cJSON_GetObjectItemCaseSensitive(r, "title");
    if (title && !cJSON_IsString(title)) {
        snprintf(f, sizeof(f), "messages.interactive.%s.title", kind);
        return sb__in_fail(in, -EINVAL, f, "'%s' must be a string", f);
    }
    snprintf(f, sizeof(f), "messages.interactive.%s.id", kind);
    return click(in, x, cJSON_GetStringValue(title), cJSON_GetStringValue(id), f);
}

/* button (a template's quick reply): {payload, text} -> postback {title: text, payload}. */
static int button_reply(sb_inbound_t *in, const cJSON *m, sb_in_msg_t *x)
{
    const cJSON *o = type_object(in, m, "button");
    if (!o)
        return -EINVAL;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
    if (text && !cJSON_IsString(text))
        return sb__in_fail(in, -EINVAL, "messages.button.text", "'messages.button.text' must be a string");
    return click(in, x, cJSON_GetStringValue(text),
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "payload")), "messages.button.payload");
}

/* A coordinate with six decimals (about 0.1 m), trailing zeros left out. */
static void put_coord(sb_buf_t *b, double v)
{
    char s[32];
    int n = snprintf(s, sizeof(s), "%.6f", v);
    while (n > 0 && s[n - 1] == '0')
        n--;
    if (n > 0 && s[n - 1] == '.')
        n--;
    sb_buf_printf(b, "%.*s", n, s);
}

/* location: {latitude, longitude, name?, address?} has no file: it becomes the text
 * "📍 <name>, <address> https://maps.google.com/?q=<lat>,<lng>". */
static int location(sb_inbound_t *in, const cJSON *m, sb_in_msg_t *x)
{
    const cJSON *o = type_object(in, m, "location");
    if (!o)
        return -EINVAL;
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(o, "latitude"),
                *lng = cJSON_GetObjectItemCaseSensitive(o, "longitude");
    if (!cJSON_IsNumber(lat) || !(lat->valuedouble >= -90 && lat->valuedouble <= 90))
        return sb__in_fail(in, -EINVAL, "messages.location.latitude",
                           "'messages.location.latitude' must be a number from -90 to 90");
    if (!cJSON_IsNumber(lng) || !(lng->valuedouble >= -180 && lng->valuedouble <= 180))
        return sb__in_fail(in, -EINVAL, "messages.location.longitude",
                           "'messages.location.longitude' must be a number from -180 to 180");
    const char *name, *address;
    if (sb__in_opt_str(in, o, "messages.location", "name", 1000, &name) < 0 ||
        sb__in_opt_str(in, o, "messages.location", "address", 1000, &address) < 0)
        return -EINVAL;
    sb_buf_t t;
    sb_buf_init(&t, 4096);
    sb_buf_puts(&t, "\xF0\x9F\x93\x8D "); /* U+1F4CD ROUND PUSHPIN */
    if (name)
        sb_buf_printf(&t, "%s%s", name, address ? ", " : " ");
    if (address)
        sb_buf_printf(&t, "%s ", address);
    sb_buf_puts(&t, "https://maps.google.com/?q=");
    put_coord(&t, lat->valuedouble);
    sb_buf_putc(&t, ',');
    put_coord(&t, lng->valuedouble);
    sb_buf_putc(&t, '\0');
    x->text = sb__in_strdup(in, t.data);
    sb_buf_free(&t);
    return 1;
}

/* What a message of its type holds: 1 with x->text and/or x->content set, 0 for a type that is
 * acknowledged and not stored (reactions, contacts, orders, system messages, unsupported ones). */
static int message_content(sb_inbound_t *in, const cJSON *m, const char *type, sb_in_msg_t *x)
{
    static const char *const media[][2] = {
        {"image", "image"}, {"video", "video"}, {"audio", "audio"}, {"document", "file"}, {"sticker", "image"}};
    if (strcmp(type, "text") == 0) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "text");
        if (!cJSON_IsObject(t))
            return sb__in_fail(in, -EINVAL, "messages.text", "'messages.text' must be an object");
        if (sb__in_text(in, t, "body", "messages.text.body", &x->text) < 0)
            return -EINVAL;
        if (!x->text)
            return sb__in_fail(in, -EINVAL, "messages.text.body", "'messages.text.body' is required");
        return 1;
    }
    for (size_t k = 0; k < SB_ARRAY_SIZE(media); k++)
        if (strcmp(type, media[k][0]) == 0)
            return media_message(in, m, media[k][0], media[k][1], x);
    if (strcmp(type, "interactive") == 0)
        return interactive_reply(in, m, x);
    if (strcmp(type, "button") == 0)
        return button_reply(in, m, x);
    if (strcmp(type, "location") == 0)
        return location(in, m, x);
    return 0;
}

/* One message of a change: text, media, locations and clicks are stored, other types
 * (reactions, contacts, ...) acknowledged. */
static int parse_message(sb_inbound_t *in, const cJSON *m, const cJSON *contacts, int bi)
{
    if (in->nmsgs == WA_MAX_MESSAGES)
        return sb__in_fail(in, -EINVAL, "entry", "too many messages in one payload");
    if (!cJSON_IsObject(m))
        return sb__in_fail(in, -EINVAL, "messages", "each message must be an object");
    sb_in_msg_t x = {.binding = bi};
    const char *type;
    if (sb__in_str(in, m, "id", "messages.id", SB_EVENT_ID_MAX, &x.event_id) < 0 ||
        sb__in_str(in, m, "from", "messages.from", 64, &x.from) < 0 ||
        sb__in_str(in, m, "type", "messages.type", 32, &type) < 0)
        return -EINVAL;
    if (!x.event_id || !x.from)
        return sb__in_fail(in, -EINVAL, "messages", "each message needs 'id' and 'from'");
    int rc = type ? message_content(in, m, type, &x) : 0;
    if (rc <= 0)
        return rc;
    x.chat = x.from;
    x.pmid = x.event_id;
    const cJSON *ct;
    cJSON_ArrayForEach(ct, contacts)
    {
        const char *wa = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ct, "wa_id"));
        const char *name = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ct, "profile"), "name"));
        if (wa && name && strcmp(wa, x.from) == 0 && strlen(name) <= 256)
            x.name = sb__in_strdup(in, name);
    }
    *sb__in_add_msg(in) = x;
    return 0;
}

static int parse_payload(sb_inbound_t *in, const cJSON *o)
{
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(o, "entry");
    if (!cJSON_IsArray(entries))
        return sb__in_fail(in, -EINVAL, "entry", "'entry' must be an array");
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        const cJSON *changes = cJSON_GetObjectItemCaseSensitive(e, "changes");
        if (!cJSON_IsObject(e) || !cJSON_IsArray(changes))
            return sb__in_fail(in, -EINVAL, "entry", "each entry must be an object with a 'changes' array");
        const char *waba = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "id"));
        const cJSON *ch;
        cJSON_ArrayForEach(ch, changes)
        {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ch, "value");
            if (!cJSON_IsObject(v))
                return sb__in_fail(in, -EINVAL, "entry.changes.value", "each change must have a 'value' object");
            const cJSON *messages = cJSON_GetObjectItemCaseSensitive(v, "messages");
            const cJSON *statuses = cJSON_GetObjectItemCaseSensitive(v, "statuses");
            if ((messages && !cJSON_IsArray(messages)) || (statuses && !cJSON_IsArray(statuses)))
                return sb__in_fail(in, -EINVAL, "entry.changes.value", "'messages' and 'statuses' must be arrays");
            int bi = change_binding(in, v, waba);
            if (bi < 0)
                return bi;
            const cJSON *contacts = cJSON_GetObjectItemCaseSensitive(v, "contacts");
            const cJSON *m;
            cJSON_ArrayForEach(m, messages)
            {
                if (parse_message(in, m, contacts, bi) < 0)
                    return -EINVAL;
            }
        }
    }
    return 0;
}

static int wa_parse(sb_inbound_t *in)
{
    wa_proof_t *pr = sb__in_alloc(in, sizeof(*pr));
    memset(pr, 0, sizeof(*pr));
    in->proof = pr;
    cJSON *o = sb__in_json_object(in);
    if (!o)
        return -EINVAL;
    int rc = parse_payload(in, o);
    cJSON_Delete(o);
    if (rc < 0)
        return rc;
    pr->sig = sb__in_get(in, SB_IN_HEADER, "x-hub-signature-256", &pr->siglen);
    return !pr->sig || in->nfields == 0 ? -EPERM : 0;
}

static int refused(sb_inbound_t *in)
{
    return sb__in_fail(in, -EACCES, NULL, "verification refused");
}

/* A query parameter of at most max bytes, else NULL. */
static const char *query_param(sb_inbound_t *in, const char *name, size_t max)
{
    const char *v = sb__in_get(in, SB_IN_QUERY, name, NULL);
    return v && strlen(v) <= max ? v : NULL;
}

/* GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...: the binding is found by the
 * token's digest. */
static int wa_parse_handshake(sb_inbound_t *in)
{
    wa_proof_t *pr = sb__in_alloc(in, sizeof(*pr));
    memset(pr, 0, sizeof(*pr));
    in->proof = pr;
    const char *mode = query_param(in, "hub.mode", 32);
    pr->sig = query_param(in, "hub.verify_token", 256);
    in->challenge = query_param(in, "hub.challenge", 256);
    if (!mode || strcmp(mode, "subscribe") != 0 || !pr->sig || !pr->sig[0] || !in->challenge || !in->challenge[0] ||
        !sb_utf8_valid(in->challenge, strlen(in->challenge)))
        return refused(in);
    char h[65], field[SB_BINDING_FIELD_MAX];
    sb_sha256_hex(pr->sig, strlen(pr->sig), h);
    snprintf(field, sizeof(field), "waverify:%s", h);
    sb__in_field(in, field);
    return 0;
}

/* POST: the signature with the binding's app secret (each binding the payload names, on its
 * own: the messages of one that fails are dropped); GET: the verify token. */
static int wa_verify(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                     sb_inbound_done_fn done, void *data)
{
    SB_UNUSED(i);
    SB_UNUSED(env);
    SB_UNUSED(done);
    SB_UNUSED(data);
    const wa_proof_t *pr = in->proof;
    if (in->handshake)
        return sb__binding_is(b, "whatsapp") && sb__token_either(b, "verifyToken", pr->sig) ? 0 : refused(in);
    if (!sb__binding_is(b, "whatsapp"))
        return -EPERM;
    const char *body = in->req.body;
    size_t n = in->req.len;
    return sb_hub_signature_ok(sb_binding_secret(b, "appSecret", false), pr->sig, pr->siglen, body, n) == 0 ||
                   sb_hub_signature_ok(sb_binding_secret(b, "appSecret", true), pr->sig, pr->siglen, body, n) == 0
               ? 0
               : -EPERM;
}

/* ---------- outbound: the Graph API's messages ---------- */

/* The Cloud API's interactive messages (docs/messages.md): up to 3 reply buttons (title 20
 * characters, id 256), or a list of up to 10 rows (title 24, id 200), or one call-to-action URL
 * button (display text 20); the body of an interactive message holds 1,024 characters. */
#define WA_REPLY_BUTTONS_MAX 3
#define WA_REPLY_TITLE_MAX   20
#define WA_REPLY_ID_MAX      256
#define WA_LIST_ROWS_MAX     10
#define WA_ROW_TITLE_MAX     24
#define WA_ROW_ID_MAX        200
#define WA_CTA_TEXT_MAX      20
#define WA_BODY_MAX          1024

static cJSON *text_object(const char *body)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "text", body);
    return t;
}

/* The interactive part of a text (or card body) with buttons: reply buttons, a list, or a URL
 * button (the check made sure they are one of these). header_image may be NULL. */
static void interactive(cJSON *body, const char *text, const cJSON *buttons, const char *header_image)
{
    int postbacks, links;
    sb__button_counts(buttons, &postbacks, &links);
    cJSON_AddStringToObject(body, "type", "interactive");
    cJSON *in = cJSON_AddObjectToObject(body, "interactive");
    if (header_image && header_image[0] && (links || postbacks <= WA_REPLY_BUTTONS_MAX)) {
        cJSON *h = cJSON_AddObjectToObject(in, "header");
        cJSON_AddStringToObject(h, "type", "image");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(h, "image"), "link", header_image);
    }
    cJSON_AddItemToObject(in, "body", text_object(text));
    cJSON *action = cJSON_AddObjectToObject(in, "action");
    const cJSON *b;
    if (links) {
        b = cJSON_GetArrayItem(buttons, 0);
        cJSON_AddStringToObject(in, "type", "cta_url");
        cJSON_AddStringToObject(action, "name", "cta_url");
        cJSON *par = cJSON_AddObjectToObject(action, "parameters");
        cJSON_AddStringToObject(par, "display_text", sb__str(b, "title"));
        cJSON_AddStringToObject(par, "url", sb__str(b, "url"));
    } else if (postbacks <= WA_REPLY_BUTTONS_MAX) {
        cJSON_AddStringToObject(in, "type", "button");
        cJSON *arr = cJSON_AddArrayToObject(action, "buttons");
        cJSON_ArrayForEach(b, buttons)
        {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "type", "reply");
            cJSON *r = cJSON_AddObjectToObject(o, "reply");
            cJSON_AddStringToObject(r, "id", sb__str(b, "payload"));
            cJSON_AddStringToObject(r, "title", sb__str(b, "title"));
            cJSON_AddItemToArray(arr, o);
        }
    } else {
        cJSON_AddStringToObject(in, "type", "list");
        cJSON_AddStringToObject(action, "button", "Choose");
        cJSON *sec = cJSON_CreateObject();
        cJSON *rows = cJSON_AddArrayToObject(sec, "rows");
        cJSON_ArrayForEach(b, buttons)
        {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "id", sb__str(b, "payload"));
            cJSON_AddStringToObject(r, "title", sb__str(b, "title"));
            cJSON_AddItemToArray(rows, r);
        }
        cJSON_AddItemToArray(cJSON_AddArrayToObject(action, "sections"), sec);
    }
}

/* One part's body (render.c's order): the text (interactive with its buttons), each attachment
 * as a media message, each card as an interactive message with its image as the header, or an
 * image with a caption, or a text. */
/* A caption longer than this goes out as a text message after the file (the Cloud API's limit). */
#define WA_CAPTION_MAX 1024

/* A file uploaded before (s->media_id): part 0 is the file with the text as its caption, or,
 * when the text cannot be one (an audio message takes none; too long), the file and then the
 * text as part 1. */
static int wa_media_part(const sb_send_t *s, cJSON *body, bool *more)
{
    const char *kind = s->media_kind && s->media_kind[0] ? s->media_kind : "document";
    const char *text = s->text ? s->text : "";
    bool follows = text[0] && (strcmp(kind, "audio") == 0 || sb_utf8_chars(text, strlen(text)) > WA_CAPTION_MAX);
    if (s->part > 1 || (s->part == 1 && !follows))
        return -ERANGE;
    if (s->part == 1) {
        cJSON_AddStringToObject(body, "type", "text");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "text"), "body", text);
        return 0;
    }
    *more = follows;
    cJSON_AddStringToObject(body, "type", kind);
    cJSON *m = cJSON_AddObjectToObject(body, kind);
    cJSON_AddStringToObject(m, "id", s->media_id);
    if (strcmp(kind, "document") == 0 && s->media_name && s->media_name[0])
        cJSON_AddStringToObject(m, "filename", s->media_name);
    if (text[0] && !follows)
        cJSON_AddStringToObject(m, "caption", text);
    return 0;
}

static int wa_part(const sb_send_t *s, cJSON *body, bool *more)
{
    *more = false;
    if (s->media_id)
        return wa_media_part(s, body, more);
    if (!s->content) {
        cJSON_AddStringToObject(body, "type", "text");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "text"), "body", s->text);
        return 0;
    }
    sb__part_t p;
    if (sb__content_part(s->content, s->part, &p) < 0)
        return -ERANGE;
    *more = p.more;
    if (p.kind == SB_PART_TEXT) {
        if (s->content->buttons) {
            interactive(body, s->content->text, s->content->buttons, NULL);
        } else {
            cJSON_AddStringToObject(body, "type", "text");
            cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "text"), "body", s->content->text);
        }
    } else if (p.kind == SB_PART_ATTACHMENT) {
        const char *type = sb__str(p.item, "type");
        const char *kind = strcmp(type, "file") == 0 ? "document" : type;
        cJSON_AddStringToObject(body, "type", kind);
        cJSON *m = cJSON_AddObjectToObject(body, kind);
        cJSON_AddStringToObject(m, "link", sb__str(p.item, "url"));
        const char *name = sb__str(p.item, "name");
        if (name[0] && strcmp(kind, "document") == 0)
            cJSON_AddStringToObject(m, "filename", name);
        else if (name[0] && strcmp(kind, "audio") != 0) /* audio takes no caption */
            cJSON_AddStringToObject(m, "caption", name);
    } else {
        sb_buf_t t;
        sb_buf_init(&t, 8192);
        sb__card_text(&t, p.item, true);
        const cJSON *bs = cJSON_GetObjectItemCaseSensitive(p.item, "buttons");
        const char *img = sb__str(p.item, "imageUrl");
        if (cJSON_GetArraySize(bs)) {
            interactive(body, t.data, bs, img);
        } else if (img[0]) {
            cJSON_AddStringToObject(body, "type", "image");
            cJSON *m = cJSON_AddObjectToObject(body, "image");
            cJSON_AddStringToObject(m, "link", img);
            cJSON_AddStringToObject(m, "caption", t.data);
        } else {
            cJSON_AddStringToObject(body, "type", "text");
            cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "text"), "body", t.data);
        }
        sb_buf_free(&t);
    }
    return 0;
}

/* One set of buttons as one interactive message: all replies (3 as buttons, up to 10 as a
 * list) or one link; path names them ("buttons", "cards[0].buttons"). */
static int wa_buttons_check(const cJSON *buttons, const char *path, const char *body, sb_verr_t *e)
{
    int postbacks, links;
    sb__button_counts(buttons, &postbacks, &links);
    if (!postbacks && !links)
        return 0;
    if (links && postbacks)
        return sb_verr_set(e, path, "'%s': WhatsApp cannot mix link and reply buttons in one message", path);
    if (links > 1)
        return sb_verr_set(e, path, "'%s': WhatsApp allows one link button per message", path);
    if (postbacks > WA_LIST_ROWS_MAX)
        return sb_verr_set(e, path, "'%s': WhatsApp allows at most %d reply choices", path, WA_LIST_ROWS_MAX);
    if (sb_utf8_chars(body, strlen(body)) > WA_BODY_MAX) {
        char f[48];
        snprintf(f, sizeof(f), "%s", strcmp(path, "buttons") == 0 ? "text" : path);
        return sb_verr_set(e, f, "'%s': WhatsApp allows at most %d characters with buttons", f, WA_BODY_MAX);
    }
    size_t title_max = links ? WA_CTA_TEXT_MAX : postbacks <= WA_REPLY_BUTTONS_MAX ? WA_REPLY_TITLE_MAX : WA_ROW_TITLE_MAX;
    size_t id_max = postbacks <= WA_REPLY_BUTTONS_MAX ? WA_REPLY_ID_MAX : WA_ROW_ID_MAX;
    int i = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, buttons)
    {
        const char *t = sb__str(b, "title"), *id = sb__str(b, "payload");
        char f[64];
        if (sb_utf8_chars(t, strlen(t)) > title_max) {
            snprintf(f, sizeof(f), "%s[%d].title", path, i);
            return sb_verr_set(e, f, "'%s': WhatsApp allows at most %zu characters here", f, title_max);
        }
        if (sb_utf8_chars(id, strlen(id)) > id_max) {
            snprintf(f, sizeof(f), "%s[%d].payload", path, i);
            return sb_verr_set(e, f, "'%s': WhatsApp allows at most %zu characters here", f, id_max);
        }
        i++;
    }
    return 0;
}

static int wa_content_check(const sb_content_t *c, sb_verr_t *e)
{
    if (wa_buttons_check(c->buttons, "buttons", c->text ? c->text : "", e) < 0)
        return -EINVAL;
    int k = 0;
    const cJSON *card;
    cJSON_ArrayForEach(card, c->cards)
    {
        char path[32];
        snprintf(path, sizeof(path), "cards[%d].buttons", k++);
        sb_buf_t t;
        sb_buf_init(&t, 8192);
        sb__card_text(&t, card, true);
        int rc = wa_buttons_check(cJSON_GetObjectItemCaseSensitive(card, "buttons"), path, t.data, e);
        sb_buf_free(&t);
        if (rc < 0)
            return -EINVAL;
    }
    return 0;
}

static int wa_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                         sb_send_draft_t *d, char *err, size_t errlen)
{
    SB_UNUSED(bearer);
    const char *token = sb__cfg_str(chcfg, "accessToken"), *phone = sb__cfg_str(chcfg, "phoneNumberId");
    if (!token)
        return sb__send_missing(err, errlen, "accessToken");
    sb_buf_printf(&d->url, "%s/", cfg->graph_api_base);
    sb__put_escaped(&d->url, phone ? phone : "");
    sb_buf_puts(&d->url, "/messages");
    sb_buf_printf(&d->headers, "Authorization: Bearer %s\r\n", token);
    cJSON_AddStringToObject(d->body, "messaging_product", "whatsapp");
    cJSON_AddStringToObject(d->body, "recipient_type", "individual");
    cJSON_AddStringToObject(d->body, "to", s->chat);
    if (wa_part(s, d->body, &d->more) < 0) {
        snprintf(err, errlen, "the message has no part %u", s->part);
        return -EINVAL;
    }
    return 0;
}

static int wa_send_result(const cJSON *o, char *pmid, size_t pmidlen, char *err, size_t errlen)
{
    SB_UNUSED(err);
    SB_UNUSED(errlen);
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "messages"), 0);
    sb__put_id(cJSON_GetObjectItemCaseSensitive(m, "id"), pmid, pmidlen);
    return SB_SEND_ACCEPTED;
}

/* ---------- media: the incoming webhook's files ---------- */

static bool starts_ci(const char *b, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && sb_ascii_ieq(b, k, lit);
}

/* A web page where a file was expected: bytes that start (after a BOM and blanks) like HTML. */
static bool looks_html(const char *b, size_t n)
{
    if (n >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0)
        b += 3, n -= 3;
    while (n && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
        b++, n--;
    return starts_ci(b, n, "<!doctype html") || starts_ci(b, n, "<html") || starts_ci(b, n, "<head") ||
           starts_ci(b, n, "<!--");
}

/* The MIME type by the first bytes (NULL: unknown). */
static const char *sniff(const unsigned char *b, size_t n)
{
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return "image/jpeg";
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (n >= 5 && memcmp(b, "%PDF-", 5) == 0)
        return "application/pdf";
    if (n >= 4 && memcmp(b, "OggS", 4) == 0)
        return "audio/ogg";
    if (n >= 6 && memcmp(b, "#!AMR\n", 6) == 0)
        return "audio/amr";
    if (n >= 3 && memcmp(b, "ID3", 3) == 0)
        return "audio/mpeg";
    if (n >= 2 && b[0] == 0xFF && (b[1] & 0xF6) == 0xF0)
        return "audio/aac"; /* an ADTS header (MPEG-4 or -2 AAC, layer 0) */
    if (n >= 2 && b[0] == 0xFF && (b[1] & 0xE0) == 0xE0)
        return "audio/mpeg"; /* an MPEG audio frame */
    if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0) {
        if (memcmp(b + 8, "3gp", 3) == 0)
            return "video/3gpp";
        if (memcmp(b + 8, "M4A ", 4) == 0)
            return "audio/mp4";
        return "video/mp4";
    }
    return NULL;
}

int sb_wa_media_kind(const char *content_type, const char *bytes, size_t n, const char **kind, char *mime,
                     size_t cap)
{
    /* the type without parameters, lower case */
    char ct[128];
    size_t k = 0;
    for (const char *p = content_type ? content_type : ""; *p && *p != ';' && k + 1 < sizeof(ct); p++)
        if (*p != ' ' && *p != '\t')
            ct[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    ct[k] = '\0';
    if (strcmp(ct, "text/html") == 0 || strcmp(ct, "application/xhtml+xml") == 0 || looks_html(bytes, n))
        return -EMEDIUMTYPE;
    const char *m = ct;
    if (!ct[0] || strcmp(ct, "application/octet-stream") == 0 || strcmp(ct, "binary/octet-stream") == 0) {
        m = sniff((const unsigned char *)bytes, n);
        if (!m)
            m = "application/octet-stream";
    }
    static const struct {
        const char *mime, *kind;
    } sendable[] = {{"image/jpeg", "image"}, {"image/png", "image"},  {"video/mp4", "video"},
                    {"video/3gpp", "video"}, {"audio/aac", "audio"},  {"audio/amr", "audio"},
                    {"audio/mpeg", "audio"}, {"audio/mp4", "audio"},  {"audio/ogg", "audio"}};
    *kind = "document";
    for (size_t i = 0; i < SB_ARRAY_SIZE(sendable); i++)
        if (strcmp(m, sendable[i].mime) == 0)
            *kind = sendable[i].kind;
    snprintf(mime, cap, "%s", m);
    return 0;
}

int sb_wa_upload_build(const sb_config_t *cfg, const cJSON *chcfg, const char *mime, const char *name,
                       const char *bytes, size_t n, sb_send_req_t *out, size_t *body_len, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *token = sb__cfg_str(chcfg, "accessToken"), *phone = sb__cfg_str(chcfg, "phoneNumberId");
    if (!token)
        return sb__send_missing(err, errlen, "accessToken");
    char boundary[40];
    sb_random_token(boundary, 16); /* 128 random bits: never inside the file */
    sb_buf_t url, h, b;
    sb_buf_init(&url, 16384);
    sb_buf_init(&h, 16384);
    sb_buf_init(&b, n + 4096);
    sb_buf_printf(&url, "%s/", cfg->graph_api_base);
    sb__put_escaped(&url, phone ? phone : "");
    sb_buf_puts(&url, "/media");
    sb_buf_printf(&h, "Authorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
                      "Connection: keep-alive\r\n", token, boundary);
    sb_buf_printf(&b, "--%s\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n",
                  boundary);
    sb_buf_printf(&b, "--%s\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\n%s\r\n", boundary, mime);
    sb_buf_printf(&b, "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"", boundary);
    for (const char *p = name; *p; p++) /* the name's quotes as %22 (no control characters reach here) */
        if (*p == '"')
            sb_buf_puts(&b, "%22");
        else
            sb_buf_putc(&b, *p);
    sb_buf_printf(&b, "\"\r\nContent-Type: %s\r\n\r\n", mime);
    sb_buf_append(&b, bytes, n);
    sb_buf_printf(&b, "\r\n--%s--\r\n", boundary);
    *body_len = b.len;
    out->url = url.data;
    out->shown_url = sb_strdup(url.data);
    out->headers = h.data;
    out->body = b.data;
    return 0;
}

int sb_wa_upload_result(const char *body, size_t len, char *id, size_t cap)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
    int rc = v && v[0] && strlen(v) < cap ? 0 : -EINVAL;
    if (rc == 0)
        snprintf(id, cap, "%s", v);
    cJSON_Delete(o);
    return rc;
}

/* ---------- the channel config ---------- */

static const char *const members[] = {"phoneNumberId",     "wabaId",       "appSecret",
                                      "appSecretPrevious", "verifyToken",  "verifyTokenPrevious",
                                      "accessToken",       "displayPhone", NULL};
static const char *const secrets[] = {"appSecret",           "appSecretPrevious", "verifyToken",
                                      "verifyTokenPrevious", "accessToken",       NULL};
static const char *const plain_index[] = {"wabaId", NULL};
static const sb__config_schema_t schema = {"whatsapp", "phoneNumberId", members,    sb__none,
                                           sb__none,   sb__none,        plain_index};

static int wa_config_check(cJSON *cfg, const cJSON *in, sb_verr_t *e)
{
    return sb_send_limits_merge(cfg, in, &schema, e); /* the schema and "sendLimits" */
}

/* The phone number, the hashed verify tokens (the GET names no number) and the account (a
 * change without metadata names only its entry's). */
static void wa_binding_fields(const cJSON *cfg, const char *tenant_id, cJSON *fields)
{
    SB_UNUSED(tenant_id);
    sb__field_add(fields, cfg, "whatsapp", "phoneNumberId", false);
    sb__field_add(fields, cfg, "waverify", "verifyToken", true);
    sb__field_add(fields, cfg, "waverify", "verifyTokenPrevious", true);
    sb__field_add(fields, cfg, "wawaba", "wabaId", false);
}

const sb_platform_t sb__platform_whatsapp = {
    .type = "whatsapp",
    .claim_ttl_s = CLAIM_TTL_META_S,
    .parse = wa_parse,
    .parse_handshake = wa_parse_handshake,
    .verify = wa_verify,
    .send_build = wa_send_build,
    .content_check = wa_content_check,
    .send_result = wa_send_result,
    .secrets = secrets,
    .config_check = wa_config_check,
    .binding_fields = wa_binding_fields,
};
