/* Conversations: the C half (see conv.h). Messages are encoded here, once, with cJSON, and the
 * scripts splice the pieces together with what only Redis knows (seq, conversation id, sender
 * of a widget session), so every byte a client reads was escaped by one encoder. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "switchboard/alloc.h"
#include "switchboard/buf.h"
#include "switchboard/clock.h"
#include "switchboard/conv.h"
#include "switchboard/crypto.h"
#include "switchboard/text.h"
#include "switchboard/validate.h"

/* The members of o, without its braces: "a":1,"b":2 */
static char *members(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    size_t n = strlen(s);
    memmove(s, s + 1, n - 2);
    s[n - 2] = '\0';
    return s;
}

static void add_text(cJSON *o, const char *text)
{
    if (text)
        cJSON_AddStringToObject(o, "text", text);
    else
        cJSON_AddNullToObject(o, "text");
}

void sb_msg_init(sb_msg_t *m, const sb_event_cx_t *cx, const char *direction, const char *text,
                 const cJSON *attachments, const char *platform_id)
{
    sb_uuid4(m->id);
    cJSON *a = attachments ? cJSON_Duplicate(attachments, 1) : cJSON_CreateArray();
    cJSON *mt = cJSON_CreateObject();
    cJSON_AddStringToObject(mt, "id", m->id);
    cJSON_AddStringToObject(mt, "direction", direction);
    add_text(mt, text);
    cJSON_AddItemToObject(mt, "attachments", cJSON_Duplicate(a, 1));
    cJSON_AddStringToObject(mt, "createdAt", cx->rfc);
    if (platform_id)
        cJSON_AddStringToObject(mt, "platformMessageId", platform_id);
    m->mtail = members(mt);
    cJSON_Delete(mt);
    /* seed 001 names for the event's data */
    cJSON *et = cJSON_CreateObject();
    cJSON_AddStringToObject(et, "message_id", m->id);
    cJSON_AddStringToObject(et, "direction", direction);
    add_text(et, text);
    cJSON_AddItemToObject(et, "attachments", a);
    cJSON_AddStringToObject(et, "content_type", text ? "messageText" : "messageAttachment");
    cJSON_AddStringToObject(et, "created_at", cx->rfc);
    if (platform_id)
        cJSON_AddStringToObject(et, "platform_message_id", platform_id);
    m->etail = members(et);
    cJSON_Delete(et);
}

void sb_msg_free(sb_msg_t *m)
{
    cJSON_free(m->mtail);
    cJSON_free(m->etail);
    m->mtail = m->etail = NULL;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
            return false;
    return true;
}

int sb_msg_validate(const cJSON *body, const cJSON **text, const cJSON **attachments, struct sb_verr *e)
{
    *attachments = NULL;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "attachments");
    if (a && !cJSON_IsNull(a)) {
        if (!cJSON_IsArray(a))
            return sb_verr_set(e, "attachments", "'attachments' must be an array");
        int n = cJSON_GetArraySize(a);
        if (n > SB_MSG_ATTACHMENTS_MAX)
            return sb_verr_set(e, "attachments", "at most %d attachments", SB_MSG_ATTACHMENTS_MAX);
        static const char *const allowed[] = {"url", "name", "contentType", NULL};
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, a)
        {
            char path[32];
            snprintf(path, sizeof(path), "attachments[%d]", i++);
            const cJSON *v;
            if (!cJSON_IsObject(it))
                return sb_verr_set(e, path, "'%s' must be an object", path);
            if (sb_v_only(it, allowed, path, e) < 0 || sb_v_url(it, "url", path, true, false, &v, e) < 0 ||
                sb_v_string(it, "name", path, false, 1, 255, &v, e) < 0 ||
                sb_v_string(it, "contentType", path, false, 1, 127, &v, e) < 0)
                return -EINVAL;
        }
        if (n > 0)
            *attachments = a;
    }
    *text = NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "text");
    if (t && cJSON_IsNull(t) && *attachments)
        return 0;
    if (sb_v_string(body, "text", NULL, *attachments == NULL, 1, SIZE_MAX, text, e) < 0)
        return -EINVAL;
    if (*text) {
        const char *s = (*text)->valuestring;
        if (sb_utf8_chars(s, strlen(s)) > SB_MSG_TEXT_MAX)
            return sb_verr_set(e, "text", "'text' is longer than %d characters", SB_MSG_TEXT_MAX);
        if (blank(s)) {
            if (!*attachments)
                return sb_verr_set(e, "text", "'text' is empty");
            *text = NULL;
        }
    }
    return 0;
}

cJSON *sb_conv_json(const redisReply *h)
{
    cJSON *o = cJSON_CreateObject();
    static const char *const order[] = {"id",        "channel",   "channelId",     "chatId",   "status", "seq",
                                        "createdAt", "updatedAt", "lastMessageAt", "closedAt", "agentId"};
    for (size_t k = 0; k < SB_ARRAY_SIZE(order); k++) {
        const redisReply *v = NULL;
        for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
            if (h->element[i]->str && strcmp(h->element[i]->str, order[k]) == 0)
                v = h->element[i + 1];
        if (strcmp(order[k], "seq") == 0) {
            uint64_t n = 0;
            if (v && v->str)
                sb_parse_u64(v->str, v->len, UINT64_MAX, &n);
            cJSON_AddNumberToObject(o, "seq", (double)n);
        } else if (v && v->str && v->len) {
            cJSON_AddStringToObject(o, order[k], v->str);
        } else {
            cJSON_AddNullToObject(o, order[k]);
        }
    }
    return o;
}

int sb_conv_reply(sb_store_t *st, const sb_config_t *cfg, const char *tenant_id, const char *conv_id,
                  const char *sender_json, const char *text, const cJSON *attachments, const char *once_key,
                  sb_store_cb cb, void *data)
{
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, cfg);
    sb_msg_t m;
    sb_msg_init(&m, &cx, "out", text, attachments, NULL);
    /* what a platform chat shows: the text, then each attachment's link on a line of its own */
    sb_buf_t tx;
    sb_buf_init(&tx, 64 * 1024); /* 4096 characters and 10 URLs */
    sb_buf_puts(&tx, text ? text : "");
    const cJSON *at;
    cJSON_ArrayForEach(at, attachments)
    {
        sb_buf_puts(&tx, tx.len ? "\n" : "");
        sb_buf_puts(&tx, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(at, "url")));
    }
    sb_buf_putc(&tx, '\0');
    const char *argv[] = {cx.json, tenant_id, conv_id, m.id, sender_json, m.mtail, m.etail, once_key ? once_key : "",
                          tx.data};
    int rc = sb_store_eval(st, &sb_script_conv_reply, 0, SB_ARRAY_SIZE(argv), argv, NULL, cb, data);
    sb_buf_free(&tx);
    sb_msg_free(&m);
    sb_event_cx_free(&cx);
    return rc;
}

void sb_event_cx_init(sb_event_cx_t *cx, const sb_config_t *cfg)
{
    cx->now = sb_now_ms();
    sb_time_rfc3339(cx->now, cx->rfc);
    time_t sec = (time_t)(cx->now / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(cx->ts, sizeof(cx->ts), "%Y-%m-%d %H:%M:%S", &tm);
    unsigned char raw[16];
    sb_random_bytes(raw, sizeof(raw));
    sb_hex_encode(raw, sizeof(raw), cx->eid);
    const char *inst = cfg->instance_id ? cfg->instance_id : "";
    sb_buf_t b;
    sb_buf_init(&b, (size_t)-1 / 2);
    sb_buf_printf(&b, "{\"now\":%lld,\"ts\":\"%s\",\"rfc\":\"%s\",\"eid\":\"%s\",\"inst\":\"", (long long)cx->now,
                  cx->ts, cx->rfc, cx->eid);
    sb_buf_json_escape(&b, inst, strlen(inst));
    sb_buf_puts(&b, "\"}");
    cx->json = b.data; /* owned: freed by sb_event_cx_free */
}

void sb_event_cx_free(sb_event_cx_t *cx)
{
    sb_free(cx->json);
    cx->json = NULL;
}
