/* A message's content as the platforms take it (internal.h, docs/messages.md): the order in
 * which a platform that sends one piece per request sends them, and the checks of limits
 * several platforms put on buttons. Pure. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "switchboard/text.h"

const char *sb__str(const cJSON *o, const char *name)
{
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
    return v ? v : "";
}

int sb__content_part(const sb_content_t *c, unsigned i, sb__part_t *out)
{
    unsigned ntext = c->text ? 1 : 0;
    unsigned natt = (unsigned)cJSON_GetArraySize(c->attachments), ncards = (unsigned)cJSON_GetArraySize(c->cards);
    unsigned total = ntext + natt + ncards;
    if (i >= total)
        return -ERANGE;
    out->more = i + 1 < total;
    if (i < ntext) {
        out->kind = SB_PART_TEXT;
        out->item = NULL;
    } else if (i < ntext + natt) {
        out->kind = SB_PART_ATTACHMENT;
        out->item = cJSON_GetArrayItem(c->attachments, (int)(i - ntext));
    } else {
        out->kind = SB_PART_CARD;
        out->item = cJSON_GetArrayItem(c->cards, (int)(i - ntext - natt));
    }
    return 0;
}

void sb__card_text(sb_buf_t *t, const cJSON *card, bool with_link)
{
    sb_buf_puts(t, sb__str(card, "title"));
    if (sb__str(card, "subtitle")[0])
        sb_buf_printf(t, "\n%s", sb__str(card, "subtitle"));
    if (with_link && sb__str(card, "itemUrl")[0])
        sb_buf_printf(t, "\n%s", sb__str(card, "itemUrl"));
    sb_buf_putc(t, '\0');
}

void sb__button_counts(const cJSON *buttons, int *postbacks, int *links)
{
    *postbacks = *links = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, buttons)
    {
        if (strcmp(sb__str(b, "type"), "url") == 0)
            (*links)++;
        else
            (*postbacks)++;
    }
}

static int check_list(const cJSON *buttons, const char *path, const char *member, size_t max, bool bytes,
                      const char *platform, sb_verr_t *e)
{
    int i = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, buttons)
    {
        const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, member));
        size_t n = v ? (bytes ? strlen(v) : sb_utf8_chars(v, strlen(v))) : 0;
        if (n > max) {
            char f[64];
            snprintf(f, sizeof(f), "%s[%d].%s", path, i, member);
            return sb_verr_set(e, f, "'%s': %s allows at most %zu %s", f, platform, max,
                               bytes ? "bytes" : "characters");
        }
        i++;
    }
    return 0;
}

int sb__buttons_max(const sb_content_t *c, const char *member, size_t max, bool bytes, const char *platform,
                    sb_verr_t *e)
{
    if (check_list(c->buttons, "buttons", member, max, bytes, platform, e) < 0)
        return -EINVAL;
    int k = 0;
    const cJSON *card;
    cJSON_ArrayForEach(card, c->cards)
    {
        char path[32];
        snprintf(path, sizeof(path), "cards[%d].buttons", k++);
        if (check_list(cJSON_GetObjectItemCaseSensitive(card, "buttons"), path, member, max, bytes, platform, e) < 0)
            return -EINVAL;
    }
    return 0;
}
