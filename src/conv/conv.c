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

/* The members of o, without its braces: "a":1,"b":2 */
static char *members(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    size_t n = strlen(s);
    memmove(s, s + 1, n - 2);
    s[n - 2] = '\0';
    return s;
}

static const char *content_type(const sb_content_t *c)
{
    return c->postback ? "messagePostback" : c->text ? "messageText" : "messageAttachment";
}

void sb_msg_content(const sb_content_t *c, char **cbody, char **ebody)
{
    cJSON *o = cJSON_CreateObject();
    sb_content_add(o, c, true);
    *cbody = members(o);
    cJSON_AddStringToObject(o, "content_type", content_type(c));
    *ebody = members(o);
    cJSON_Delete(o);
}

void sb_msg_init(sb_msg_t *m, const sb_event_cx_t *cx, const char *direction, const sb_content_t *c,
                 const char *platform_id)
{
    sb_msg_init_as(m, cx, direction, c, platform_id, NULL);
}

void sb_msg_init_as(sb_msg_t *m, const sb_event_cx_t *cx, const char *direction, const sb_content_t *c,
                    const char *platform_id, const char *id)
{
    if (id)
        snprintf(m->id, sizeof(m->id), "%s", id);
    else
        sb_uuid4(m->id);
    cJSON *mt = cJSON_CreateObject();
    cJSON_AddStringToObject(mt, "id", m->id);
    cJSON_AddStringToObject(mt, "direction", direction);
    sb_content_add(mt, c, true);
    cJSON_AddStringToObject(mt, "createdAt", cx->rfc);
    if (platform_id)
        cJSON_AddStringToObject(mt, "platformMessageId", platform_id);
    m->mtail = members(mt);
    cJSON_Delete(mt);
    /* seed 001 names for the event's data */
    cJSON *et = cJSON_CreateObject();
    cJSON_AddStringToObject(et, "message_id", m->id);
    cJSON_AddStringToObject(et, "direction", direction);
    sb_content_add(et, c, true);
    cJSON_AddStringToObject(et, "content_type", content_type(c));
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

char *sb_content_plain(const sb_content_t *c)
{
    sb_buf_t tx;
    sb_buf_init(&tx, 64 * 1024); /* 4096 characters and 10 URLs */
    sb_buf_puts(&tx, c->text ? c->text : "");
    const cJSON *at;
    cJSON_ArrayForEach(at, c->attachments)
    {
        sb_buf_puts(&tx, tx.len ? "\n" : "");
        sb_buf_puts(&tx, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(at, "url")));
    }
    sb_buf_putc(&tx, '\0');
    return (char *)tx.data; /* the buffer's bytes are the caller's now */
}

char *sb_content_rich_json(const sb_content_t *c)
{
    if (!sb_content_rich(c))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    sb_content_add(o, c, true);
    char *rich = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return rich;
}

int sb_conv_reply(sb_store_t *st, const sb_config_t *cfg, const char *tenant_id, const char *conv_id,
                  const char *sender_json, const sb_content_t *c, const char *unfit, const char *once_key,
                  sb_store_cb cb, void *data)
{
    sb_event_cx_t cx;
    sb_event_cx_init(&cx, cfg);
    sb_msg_t m;
    sb_msg_init(&m, &cx, "out", c, NULL);
    char *tx = sb_content_plain(c);
    char *rich = sb_content_rich_json(c);
    const char *argv[] = {cx.json, tenant_id, conv_id, m.id, sender_json, m.mtail, m.etail, once_key ? once_key : "",
                          tx, rich ? rich : "", unfit ? unfit : ""};
    int rc = sb_store_eval(st, &sb_script_conv_reply, 0, SB_ARRAY_SIZE(argv), argv, NULL, cb, data);
    cJSON_free(rich);
    sb_free(tx);
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
