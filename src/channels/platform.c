/* The table of platforms (platform.h) and what their channel configs share (SPEC 3): the
 * schema check every platform's config_check runs, and the index fields (docs/channels.md).
 * A new platform is a file of its own (src/channels/<type>.c) and one entry below. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "switchboard/alloc.h"
#include "switchboard/common.h"
#include "switchboard/crypto.h"
#include "switchboard/json.h"

static const sb_platform_t *const platforms[] = {
    &sb__platform_apichat,
    &sb__platform_slack,
    &sb__platform_teams,
    &sb__platform_telegram,
    &sb__platform_whatsapp,
};

const sb_platform_t *sb_platform_find(const char *type)
{
    for (size_t i = 0; type && i < SB_ARRAY_SIZE(platforms); i++)
        if (strcmp(platforms[i]->type, type) == 0)
            return platforms[i];
    return NULL;
}

const sb_platform_t *sb_platform_at(size_t i)
{
    return i < SB_ARRAY_SIZE(platforms) ? platforms[i] : NULL;
}

char *sb_content_unfit(const sb_content_t *c)
{
    cJSON *o = NULL;
    for (size_t i = 0; i < SB_ARRAY_SIZE(platforms); i++) {
        sb_verr_t e;
        if (!platforms[i]->content_check || platforms[i]->content_check(c, &e) == 0)
            continue;
        if (!o)
            o = cJSON_CreateObject();
        cJSON *v = cJSON_AddObjectToObject(o, platforms[i]->type);
        cJSON_AddStringToObject(v, "field", e.field);
        cJSON_AddStringToObject(v, "detail", e.detail);
    }
    if (!o)
        return NULL;
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = sb_strdup(s);
    cJSON_free(s);
    return out;
}

/* ---------- channel configs ---------- */

const char *const sb__none[] = {NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static void put(cJSON *cfg, const char *name, const cJSON *v)
{
    cJSON *dup = cJSON_Duplicate(v, 1);
    if (cJSON_GetObjectItemCaseSensitive(cfg, name))
        cJSON_ReplaceItemInObjectCaseSensitive(cfg, name, dup);
    else
        cJSON_AddItemToObject(cfg, name, dup);
}

/* A member that goes into the channel index as it is: a newline would split the index field
 * list, a space or a brace would make a field no request can name. */
static int index_ident_check(const cJSON *cfg, const char *member, sb_verr_t *e)
{
    const char *v = sb_json_str(cfg, member);
    if (v && (strpbrk(v, "{} \r\n") || strlen(v) > SB_IDENT_MAX)) {
        char name[96];
        snprintf(name, sizeof(name), "config.%s", member);
        return sb_verr_set(e, name, "'%s' must be at most 128 characters without spaces or braces", name);
    }
    return 0;
}

int sb__config_merge(cJSON *cfg, const cJSON *in, const sb__config_schema_t *s, sb_verr_t *e)
{
    if (!cJSON_IsObject(in))
        return sb_verr_set(e, "config", "'config' must be an object");
    if (sb_v_only(in, s->members, "config", e) < 0)
        return -EINVAL;
    const cJSON *it;
    cJSON_ArrayForEach(it, in)
    {
        char name[96];
        snprintf(name, sizeof(name), "config.%s", it->string);
        if (in_list(s->url_lists, it->string)) {
            if (!cJSON_IsArray(it))
                return sb_verr_set(e, name, "'%s' must be an array of URLs", name);
            int i = 0;
            const cJSON *u;
            cJSON_ArrayForEach(u, it)
            {
                if (!cJSON_IsString(u) || strlen(u->valuestring) > 2048 || !sb_url_valid(u->valuestring))
                    return sb_verr_set(e, name, "'%s[%d]' must be an http:// or https:// URL", name, i);
                i++;
            }
        } else if (in_list(s->jwks, it->string)) {
            if (!cJSON_IsObject(it) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(it, "keys")))
                return sb_verr_set(e, name, "'%s' must be a JWKS object with a \"keys\" array", name);
        } else if (in_list(s->urls, it->string)) {
            if (!cJSON_IsString(it) || !sb_url_valid(it->valuestring))
                return sb_verr_set(e, name, "'%s' must be an http:// or https:// URL", name);
        } else if (cJSON_IsNull(it) && !(s->ident && strcmp(it->string, s->ident) == 0)) {
            /* null clears an optional member (for example a rotated-out previous secret) */
        } else if (!cJSON_IsString(it) || it->valuestring[0] == '\0' || strlen(it->valuestring) > 4096) {
            return sb_verr_set(e, name, "'%s' must be a non-empty string", name);
        }
        if (cJSON_IsNull(it))
            cJSON_DeleteItemFromObjectCaseSensitive(cfg, it->string);
        else
            put(cfg, it->string, it);
    }
    if (s->ident) {
        if (!sb_json_str(cfg, s->ident)) {
            char name[96];
            snprintf(name, sizeof(name), "config.%s", s->ident);
            return sb_verr_set(e, name, "'%s' is required for a %s channel", name, s->type);
        }
        if (index_ident_check(cfg, s->ident, e) < 0)
            return -EINVAL;
    }
    for (const char *const *m = s->plain_index; m && *m; m++)
        if (index_ident_check(cfg, *m, e) < 0)
            return -EINVAL;
    return 0;
}

void sb__field_add(cJSON *fields, const cJSON *cfg, const char *prefix, const char *member, bool hashed)
{
    const char *v = sb_json_str(cfg, member);
    if (!v)
        return;
    char field[SB_BINDING_FIELD_MAX];
    if (hashed) {
        char h[65];
        sb_sha256_hex(v, strlen(v), h);
        snprintf(field, sizeof(field), "%s:%s", prefix, h);
    } else {
        snprintf(field, sizeof(field), "%s:%s", prefix, v);
    }
    cJSON_AddItemToArray(fields, cJSON_CreateString(field));
}
