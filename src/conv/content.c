/* A message's content (conv.h, docs/messages.md): text, buttons, cards, attachments and a
 * postback, checked once against the model's own limits and normalized, so that every channel
 * renders the same shape. What a platform cannot show is its own check (sb_platform_t's
 * content_check), run where the message is accepted. */
#include <stdio.h>
#include <string.h>

#include "switchboard/conv.h"
#include "switchboard/text.h"
#include "switchboard/validate.h"

/* A string member of at most maxchars characters (and 4 bytes each), not only white space: NULL
 * when absent. */
static int chars(const cJSON *o, const char *field, const char *path, bool required, size_t maxchars, const cJSON **out,
                 sb_verr_t *e)
{
    char name[96];
    snprintf(name, sizeof(name), "%s%s%s", path ? path : "", path ? "." : "", field);
    if (sb_v_string(o, field, path, required, 1, maxchars * 4, out, e) < 0)
        return -EINVAL;
    if (*out && sb_utf8_chars((*out)->valuestring, strlen((*out)->valuestring)) > maxchars)
        return sb_verr_set(e, name, "'%s' is longer than %zu characters", name, maxchars);
    if (*out && sb_blank((*out)->valuestring))
        return sb_verr_set(e, name, "'%s' is empty", name);
    return 0;
}

/* An array member of at most max objects; NULL (and 0) when absent or null. */
static int objects(const cJSON *body, const char *field, const char *path, int max, const cJSON **out, sb_verr_t *e)
{
    char name[64];
    snprintf(name, sizeof(name), "%s%s%s", path ? path : "", path ? "." : "", field);
    *out = NULL;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, field);
    if (!a || cJSON_IsNull(a))
        return 0;
    if (!cJSON_IsArray(a))
        return sb_verr_set(e, name, "'%s' must be an array", name);
    if (cJSON_GetArraySize(a) > max)
        return sb_verr_set(e, name, "at most %d %s", max, field);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsObject(it)) {
            char p[80];
            snprintf(p, sizeof(p), "%s[%d]", name, i);
            return sb_verr_set(e, p, "'%s' must be an object", p);
        }
        i++;
    }
    *out = cJSON_GetArraySize(a) ? a : NULL;
    return 0;
}

static int button(const cJSON *b, const char *path, cJSON *out, sb_verr_t *e)
{
    static const char *const allowed[] = {"type", "title", "payload", "url", NULL};
    const cJSON *type, *title, *payload, *url;
    if (sb_v_only(b, allowed, path, e) < 0 || sb_v_string(b, "type", path, false, 1, 16, &type, e) < 0 ||
        chars(b, "title", path, true, SB_BUTTON_TITLE_MAX, &title, e) < 0 ||
        chars(b, "payload", path, false, SB_BUTTON_PAYLOAD_MAX, &payload, e) < 0 ||
        sb_v_url(b, "url", path, false, false, &url, e) < 0)
        return -EINVAL;
    char f[96];
    snprintf(f, sizeof(f), "%s.type", path);
    if (type && strcmp(type->valuestring, "postback") != 0 && strcmp(type->valuestring, "url") != 0)
        return sb_verr_set(e, f, "'%s' must be \"postback\" or \"url\"", f);
    bool is_url = type ? strcmp(type->valuestring, "url") == 0 : url != NULL;
    if (is_url ? !url || payload : !payload || url) {
        snprintf(f, sizeof(f), "%s", path);
        return sb_verr_set(e, f, "'%s' needs either a 'payload' (a postback button) or a 'url' (a link), not both",
                           path);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", is_url ? "url" : "postback");
    cJSON_AddStringToObject(o, "title", title->valuestring);
    cJSON_AddStringToObject(o, is_url ? "url" : "payload", is_url ? url->valuestring : payload->valuestring);
    cJSON_AddItemToArray(out, o);
    return 0;
}

static int buttons(const cJSON *body, const char *path, int max, cJSON **out, sb_verr_t *e)
{
    const cJSON *a;
    char name[64];
    snprintf(name, sizeof(name), "%s%sbuttons", path ? path : "", path ? "." : "");
    if (objects(body, "buttons", path, max, &a, e) < 0)
        return -EINVAL;
    *out = NULL;
    if (!a)
        return 0;
    cJSON *arr = cJSON_CreateArray();
    int i = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, a)
    {
        char p[80];
        snprintf(p, sizeof(p), "%s[%d]", name, i++);
        if (button(b, p, arr, e) < 0) {
            cJSON_Delete(arr);
            return -EINVAL;
        }
    }
    *out = arr;
    return 0;
}

static int card(const cJSON *c, const char *path, cJSON *out, sb_verr_t *e)
{
    static const char *const allowed[] = {"title", "subtitle", "imageUrl", "itemUrl", "buttons", NULL};
    const cJSON *title, *subtitle, *image, *item;
    cJSON *bs = NULL;
    if (sb_v_only(c, allowed, path, e) < 0 || chars(c, "title", path, true, SB_CARD_TITLE_MAX, &title, e) < 0 ||
        chars(c, "subtitle", path, false, SB_CARD_SUBTITLE_MAX, &subtitle, e) < 0 ||
        sb_v_url(c, "imageUrl", path, false, true, &image, e) < 0 ||
        sb_v_url(c, "itemUrl", path, false, true, &item, e) < 0 || buttons(c, path, SB_CARD_BUTTONS_MAX, &bs, e) < 0)
        return -EINVAL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "title", title->valuestring);
    if (subtitle)
        cJSON_AddStringToObject(o, "subtitle", subtitle->valuestring);
    if (image)
        cJSON_AddStringToObject(o, "imageUrl", image->valuestring);
    if (item)
        cJSON_AddStringToObject(o, "itemUrl", item->valuestring);
    cJSON_AddItemToObject(o, "buttons", bs ? bs : cJSON_CreateArray());
    cJSON_AddItemToArray(out, o);
    return 0;
}

const char *sb_attachment_type_of(const char *content_type)
{
    if (content_type) {
        if (strncmp(content_type, "image/", 6) == 0)
            return "image";
        if (strncmp(content_type, "audio/", 6) == 0)
            return "audio";
        if (strncmp(content_type, "video/", 6) == 0)
            return "video";
    }
    return "file";
}

static int attachment(const cJSON *a, const char *path, cJSON *out, sb_verr_t *e)
{
    static const char *const allowed[] = {"type", "url", "mediaId", "name", "contentType", NULL};
    const cJSON *type, *url, *media, *name, *ct;
    /* mediaId: a platform's file id (Telegram, WhatsApp), fetched with the channel's token; the
     * url may then be absent */
    if (sb_v_only(a, allowed, path, e) < 0 || sb_v_string(a, "type", path, false, 1, 16, &type, e) < 0 ||
        sb_v_string(a, "mediaId", path, false, 1, 512, &media, e) < 0 ||
        sb_v_url(a, "url", path, !media, false, &url, e) < 0 ||
        sb_v_string(a, "name", path, false, 1, 255, &name, e) < 0 ||
        sb_v_string(a, "contentType", path, false, 1, 127, &ct, e) < 0)
        return -EINVAL;
    const char *t = type ? type->valuestring : sb_attachment_type_of(ct ? ct->valuestring : NULL);
    if (strcmp(t, "image") != 0 && strcmp(t, "audio") != 0 && strcmp(t, "video") != 0 && strcmp(t, "file") != 0) {
        char f[96];
        snprintf(f, sizeof(f), "%s.type", path);
        return sb_verr_set(e, f, "'%s' must be \"image\", \"audio\", \"video\" or \"file\"", f);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", t);
    if (url)
        cJSON_AddStringToObject(o, "url", url->valuestring);
    if (media)
        cJSON_AddStringToObject(o, "mediaId", media->valuestring);
    if (name)
        cJSON_AddStringToObject(o, "name", name->valuestring);
    if (ct)
        cJSON_AddStringToObject(o, "contentType", ct->valuestring);
    cJSON_AddItemToArray(out, o);
    return 0;
}

static int list(const cJSON *body, const char *field, int max,
                int (*item)(const cJSON *, const char *, cJSON *, sb_verr_t *), cJSON **out, sb_verr_t *e)
{
    const cJSON *a;
    *out = NULL;
    if (objects(body, field, NULL, max, &a, e) < 0)
        return -EINVAL;
    if (!a)
        return 0;
    cJSON *arr = cJSON_CreateArray();
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a)
    {
        char p[64];
        snprintf(p, sizeof(p), "%s[%d]", field, i++);
        if (item(it, p, arr, e) < 0) {
            cJSON_Delete(arr);
            return -EINVAL;
        }
    }
    *out = arr;
    return 0;
}

static int postback(const cJSON *body, cJSON **out, sb_verr_t *e)
{
    *out = NULL;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "postback");
    if (!p || cJSON_IsNull(p))
        return 0;
    if (!cJSON_IsObject(p))
        return sb_verr_set(e, "postback", "'postback' must be an object");
    static const char *const allowed[] = {"title", "payload", NULL};
    const cJSON *title, *payload;
    if (sb_v_only(p, allowed, "postback", e) < 0 ||
        chars(p, "title", "postback", false, SB_BUTTON_TITLE_MAX, &title, e) < 0 ||
        chars(p, "payload", "postback", true, SB_BUTTON_PAYLOAD_MAX, &payload, e) < 0)
        return -EINVAL;
    *out = cJSON_CreateObject();
    if (title)
        cJSON_AddStringToObject(*out, "title", title->valuestring);
    cJSON_AddStringToObject(*out, "payload", payload->valuestring);
    return 0;
}

int sb_content_parse(const cJSON *body, unsigned allow, const char *const *extra, sb_content_t *c, sb_verr_t *e)
{
    memset(c, 0, sizeof(*c));
    static const char *const model[] = {"text", "attachments", "buttons", "cards", "postback"};
    const cJSON *m;
    cJSON_ArrayForEach(m, body)
    {
        bool known = false;
        for (size_t k = 0; k < SB_ARRAY_SIZE(model) && !known; k++)
            known = strcmp(m->string, model[k]) == 0;
        for (const char *const *x = extra; x && *x && !known; x++)
            known = strcmp(m->string, *x) == 0;
        if (!known)
            return sb_verr_set(e, m->string, "'%s' is not a member of a message", m->string);
    }
    static const char *const members[] = {"buttons", "cards", "postback"};
    static const unsigned kinds[] = {SB_CONTENT_RICH, SB_CONTENT_RICH, SB_CONTENT_POSTBACK};
    for (size_t k = 0; k < SB_ARRAY_SIZE(members); k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, members[k]);
        if (v && !cJSON_IsNull(v) && !(allow & kinds[k]))
            return sb_verr_set(e, members[k], "'%s' is not accepted here", members[k]);
    }
    if (list(body, "attachments", SB_MSG_ATTACHMENTS_MAX, attachment, &c->attachments, e) < 0 ||
        buttons(body, NULL, SB_MSG_BUTTONS_MAX, &c->buttons, e) < 0 ||
        list(body, "cards", SB_MSG_CARDS_MAX, card, &c->cards, e) < 0 || postback(body, &c->postback, e) < 0)
        goto fail;
    bool other = c->attachments || c->cards || c->postback;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "text");
    if (t && cJSON_IsNull(t) && other)
        t = NULL;
    else if (sb_v_string(body, "text", NULL, !other, 1, SIZE_MAX, &t, e) < 0)
        goto fail;
    if (t) {
        const char *s = t->valuestring;
        if (sb_utf8_chars(s, strlen(s)) > SB_MSG_TEXT_MAX) {
            sb_verr_set(e, "text", "'text' is longer than %d characters", SB_MSG_TEXT_MAX);
            goto fail;
        }
        if (sb_blank(s)) {
            if (!other) {
                sb_verr_set(e, "text", "'text' is empty");
                goto fail;
            }
        } else {
            c->text = s;
        }
    }
    if (!(allow & SB_CONTENT_MEDIA_ID)) { /* only a platform's own media go by id */
        int i = 0;
        const cJSON *a;
        cJSON_ArrayForEach(a, c->attachments)
        {
            if (!cJSON_GetObjectItemCaseSensitive(a, "url")) {
                char f[48];
                snprintf(f, sizeof(f), "attachments[%d].url", i);
                sb_verr_set(e, f, "'%s' is required", f);
                goto fail;
            }
            i++;
        }
    }
    if (c->buttons && !c->text) {
        sb_verr_set(e, "text", "buttons need a 'text' to go with them");
        goto fail;
    }
    if (c->postback && !c->text) /* a click reads as its button's title */
        c->text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->postback, "title"));
    return 0;
fail:
    sb_content_free(c);
    return -EINVAL;
}

void sb_content_text(sb_content_t *c, const char *text)
{
    memset(c, 0, sizeof(*c));
    c->text = text;
}

void sb_content_free(sb_content_t *c)
{
    cJSON_Delete(c->buttons);
    cJSON_Delete(c->cards);
    cJSON_Delete(c->attachments);
    cJSON_Delete(c->postback);
    memset(c, 0, sizeof(*c));
}

void sb_content_add(cJSON *o, const sb_content_t *c, bool with_text)
{
    if (with_text) {
        if (c->text)
            cJSON_AddStringToObject(o, "text", c->text);
        else
            cJSON_AddNullToObject(o, "text");
    }
    cJSON_AddItemToObject(o, "attachments", c->attachments ? cJSON_Duplicate(c->attachments, 1) : cJSON_CreateArray());
    if (c->buttons)
        cJSON_AddItemToObject(o, "buttons", cJSON_Duplicate(c->buttons, 1));
    if (c->cards)
        cJSON_AddItemToObject(o, "cards", cJSON_Duplicate(c->cards, 1));
    if (c->postback)
        cJSON_AddItemToObject(o, "postback", cJSON_Duplicate(c->postback, 1));
}

bool sb_content_rich(const sb_content_t *c)
{
    return c->buttons || c->cards || c->attachments;
}

void sb_content_view(sb_content_t *c, const cJSON *o)
{
    memset(c, 0, sizeof(*c));
    c->text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "text"));
    const char *names[] = {"buttons", "cards", "attachments", "postback"};
    cJSON **slots[] = {&c->buttons, &c->cards, &c->attachments, &c->postback};
    for (size_t k = 0; k < SB_ARRAY_SIZE(names); k++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(o, names[k]);
        if (v && (cJSON_IsObject(v) || (cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0)))
            *slots[k] = v; /* borrowed: a view is never freed */
    }
}
