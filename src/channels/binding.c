/* Channel bindings for the inbound webhooks (docs/channels.md): found through the global index
 * by one script, kept --binding-cache-ms in a cache of which each loop has its own (the app
 * layer makes one per loop; nothing here is shared between threads), unknown fields too, so a
 * flood of made-up identities costs one script per field and second, not one per request. The
 * caller hands in the loop's cache and store; a store failure is its callback's to answer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/channels.h"
#include "switchboard/hash.h"
#include "switchboard/text.h"

#define SLOTS 1024 /* direct-mapped */

struct sb_bindings {
    sb_binding_t slot[SLOTS];
};

sb_bindings_t *sb_bindings_new(void)
{
    return sb_calloc(1, sizeof(sb_bindings_t));
}

void sb_bindings_free(sb_bindings_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < SLOTS; i++)
        cJSON_Delete(b->slot[i].rec);
    sb_free(b);
}

static sb_binding_t *slot_of(sb_bindings_t *b, const char *field)
{
    return &b->slot[sb_fnv1a_str(field) % SLOTS];
}

static void copy_id(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

/* Fills s from the script's {tenant id, channel id, channel JSON} (or nothing). */
static void fill(sb_binding_t *s, const char *field, const redisReply *r, uint64_t expires)
{
    cJSON_Delete(s->rec);
    memset(s, 0, sizeof(*s));
    copy_id(s->field, sizeof(s->field), field);
    s->expires = expires;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !r->element[2]->str)
        return;
    cJSON *rec = cJSON_ParseWithLength(r->element[2]->str, r->element[2]->len);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(rec, "config");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "type"));
    if (!cJSON_IsObject(cfg) || !type || !r->element[0]->str || !r->element[1]->str) {
        cJSON_Delete(rec);
        return;
    }
    s->rec = rec;
    s->cfg = cfg;
    s->found = true;
    copy_id(s->tid, sizeof(s->tid), r->element[0]->str);
    copy_id(s->cid, sizeof(s->cid), r->element[1]->str);
    copy_id(s->type, sizeof(s->type), type);
    copy_id(s->agent, sizeof(s->agent), cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "agentId")));
}

static void on_found(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_binding_find_t *f = data;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        f->cb(f->data, -EAGAIN, NULL);
        return;
    }
    sb_binding_t *s = slot_of(f->bs, f->field);
    fill(s, f->field, reply, uv_now(f->loop) + f->ttl_ms);
    f->cb(f->data, 0, s->found ? s : NULL);
}

void sb_binding_find(sb_binding_find_t *f, sb_bindings_t *bs, sb_store_t *st, uv_loop_t *loop, uint64_t ttl_ms,
                     const char *field, sb_binding_cb cb, void *data)
{
    sb_binding_t *s = slot_of(bs, field);
    if (s->expires > uv_now(loop) && strcmp(s->field, field) == 0) {
        cb(data, 0, s->found ? s : NULL);
        return;
    }
    size_t n = strlen(field);
    if (n >= SB_BINDING_FIELD_MAX)
        n = 0; /* longer than any index field: found by no one */
    f->bs = bs;
    f->loop = loop;
    f->ttl_ms = ttl_ms;
    f->cb = cb;
    f->data = data;
    memcpy(f->field, field, n);
    f->field[n] = '\0';
    char k_idx[SB_KEY_MAX];
    sb_key_global(k_idx, "idx", "channels");
    const char *argv[] = {k_idx, f->field};
    if (sb_store_eval(st, &sb_script_binding_get, 1, 2, argv, NULL, on_found, f) < 0)
        cb(data, -EAGAIN, NULL);
}

const char *sb_binding_secret(const sb_binding_t *b, const char *name, bool previous)
{
    char key[64];
    snprintf(key, sizeof(key), "%s%s", name, previous ? "Previous" : "");
    const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b->cfg, key));
    return v && v[0] ? v : NULL;
}
