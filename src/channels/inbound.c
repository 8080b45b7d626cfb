/* What every platform's inbound side shares (docs/channels.md): reading a payload into the
 * request's memory with errors that name the field, shared-secret tokens, the verification
 * step that records a binding, the queue items and the one script that claims each event id
 * and queues the new messages, and the processing of the inbound queue, whose entries the job
 * runner hands to sb_inbound_process. The platforms' parsers and proofs are their own files
 * (slack.c, teams.c, telegram.c, whatsapp.c); the HTTP routes are the API layer's
 * (src/api/channel_webhooks.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "switchboard/alloc.h"
#include "switchboard/conv.h"
#include "switchboard/crypto.h"
#include "switchboard/json.h"
#include "switchboard/log.h"
#include "switchboard/text.h"

#define ITEM_MAX (256 * 1024) /* a queue item: ids, a name, one text of <= 4096 characters, escaped, media */

/* ---------- reading a payload ---------- */

void *sb__in_alloc(sb_inbound_t *in, size_t n)
{
    return in->req.alloc(in->req.ctx, n);
}

const char *sb__in_strdup(sb_inbound_t *in, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *d = sb__in_alloc(in, n + 1);
    memcpy(d, s, n + 1);
    return d;
}

const char *sb__in_get(sb_inbound_t *in, int kind, const char *name, size_t *len)
{
    size_t n = 0;
    const char *v = in->req.get(in->req.ctx, kind, name, &n);
    if (len)
        *len = v ? n : 0;
    return v;
}

int sb__in_fail(sb_inbound_t *in, int code, const char *field, const char *fmt, ...)
{
    snprintf(in->err.field, sizeof(in->err.field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in->err.detail, sizeof(in->err.detail), fmt, ap);
    va_end(ap);
    return code;
}

cJSON *sb__in_json_object(sb_inbound_t *in)
{
    char err[SB_JSON_ERR_MAX];
    cJSON *o = sb_json_parse(in->req.body, in->req.len, err);
    if (!o) {
        sb__in_fail(in, -EINVAL, NULL, "the body %s", err);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        sb__in_fail(in, -EINVAL, NULL, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

int sb__in_str(sb_inbound_t *in, const cJSON *o, const char *name, const char *field, size_t max, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > max)
        return sb__in_fail(in, -EINVAL, field, "'%s' must be a string of at most %zu bytes", field, max);
    *out = sb__in_strdup(in, v->valuestring);
    return 0;
}

int sb__in_str_ref(sb_inbound_t *in, const cJSON *o, const char *name, const char *field, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v))
        return sb__in_fail(in, -EINVAL, field, "'%s' must be a string", field);
    *out = v->valuestring;
    return 0;
}

int sb__in_opt_str(sb_inbound_t *in, const cJSON *o, const char *path, const char *name, size_t max, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v)) {
        char f[96];
        snprintf(f, sizeof(f), "%s.%s", path, name);
        return sb__in_fail(in, -EINVAL, f, "'%s' must be a string", f);
    }
    if (v->valuestring[0] && strlen(v->valuestring) <= max)
        *out = v->valuestring;
    return 0;
}

void sb__in_content(sb_inbound_t *in, sb_in_msg_t *m, cJSON *c)
{
    char *s = cJSON_PrintUnformatted(c);
    m->content = sb__in_strdup(in, s);
    cJSON_free(s);
    cJSON_Delete(c);
}

int sb__in_text(sb_inbound_t *in, const cJSON *o, const char *name, const char *field, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsString(v) || sb_blank(v->valuestring) ||
        sb_utf8_chars(v->valuestring, strlen(v->valuestring)) > SB_MSG_TEXT_MAX)
        return sb__in_fail(in, -EINVAL, field, "'%s' must be a non-empty string of at most %d characters", field,
                           SB_MSG_TEXT_MAX);
    *out = sb__in_strdup(in, v->valuestring);
    return 0;
}

bool sb__json_int(const cJSON *v, long long *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -9007199254740992.0 && v->valuedouble <= 9007199254740992.0))
        return false;
    *out = (long long)v->valuedouble;
    return (double)*out == v->valuedouble;
}

sb_in_msg_t *sb__in_add_msg(sb_inbound_t *in)
{
    /* the capacities are 1, 2, 4, ...: the array is full when its count is a power of two */
    if (in->nmsgs == 0 || (in->nmsgs & (in->nmsgs - 1)) == 0) {
        size_t cap = in->nmsgs ? 2 * in->nmsgs : 1;
        sb_in_msg_t *grown = sb__in_alloc(in, cap * sizeof(*grown));
        if (in->nmsgs)
            memcpy(grown, in->msgs, in->nmsgs * sizeof(*grown));
        in->msgs = grown;
    }
    sb_in_msg_t *m = &in->msgs[in->nmsgs++];
    memset(m, 0, sizeof(*m));
    return m;
}

int sb__in_field(sb_inbound_t *in, const char *field)
{
    for (size_t i = 0; i < in->nfields; i++)
        if (strcmp(in->fields[i], field) == 0)
            return (int)i;
    if (in->nfields == SB_INBOUND_MAX_BINDINGS)
        return -1;
    in->fields[in->nfields] = sb__in_strdup(in, field);
    return (int)in->nfields++;
}

bool sb__ident_ok(const char *s)
{
    return s && s[0] && strlen(s) <= SB_IDENT_MAX && !strpbrk(s, "{} \r\n");
}

/* ---------- proofs ---------- */

bool sb__hex_hmac_equal(const char *secret, const void *const *parts, const size_t *lens, size_t nparts,
                        const char *hex, size_t hexlen)
{
    if (!secret)
        return false;
    unsigned char mac[32];
    sb_hmac_sha256_parts(secret, strlen(secret), parts, lens, nparts, mac);
    char want[SB_HMAC_HEX_SIZE + 1];
    sb_hex_encode(mac, 32, want);
    return sb_ct_equal(want, SB_HMAC_HEX_SIZE, hex, hexlen);
}

/* Shared-secret tokens (Telegram's secret token, Slack's legacy verification token, WhatsApp's
 * verify token) are compared as SHA-256 digests: equal lengths, so the time taken tells
 * nothing, not even the secret's length. */
bool sb_token_equal(const char *secret, const char *given)
{
    if (!secret || !given)
        return false;
    unsigned char a[32], b[32];
    sb_sha256(secret, strlen(secret), a);
    sb_sha256(given, strlen(given), b);
    return sb_ct_equal(a, 32, b, 32);
}

bool sb__token_either(const sb_binding_t *b, const char *name, const char *given)
{
    return sb_token_equal(sb_binding_secret(b, name, false), given) ||
           sb_token_equal(sb_binding_secret(b, name, true), given);
}

bool sb__binding_is(const sb_binding_t *b, const char *type)
{
    return b && b->found && strcmp(b->type, type) == 0;
}

/* ---------- verification ---------- */

void sb_inbound_init(sb_inbound_t *in, const sb_platform_t *p, const sb_in_source_t *src, bool handshake)
{
    memset(in, 0, sizeof(*in));
    in->platform = p;
    in->req = *src;
    if (!in->req.body)
        in->req.body = "";
    in->handshake = handshake;
}

static void on_verified(void *data, int status)
{
    sb_inbound_t *in = data;
    in->bound[in->_i].verified = status == 0;
    in->_done(in->_data, status);
}

static void copy_id(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

int sb_inbound_verify(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                      sb_inbound_done_fn done, void *data)
{
    if (i >= in->nfields)
        return -EPERM;
    if (!in->bound) { /* one small array per request, in its memory */
        in->bound = sb__in_alloc(in, in->nfields * sizeof(*in->bound));
        memset(in->bound, 0, in->nfields * sizeof(*in->bound));
    }
    sb_in_bound_t *x = &in->bound[i];
    memset(x, 0, sizeof(*x));
    if (b) { /* the ids only: the binding itself is the cache's, and may leave it meanwhile */
        copy_id(x->tid, sizeof(x->tid), b->tid);
        copy_id(x->cid, sizeof(x->cid), b->cid);
        copy_id(x->agent, sizeof(x->agent), b->agent);
        copy_id(x->type, sizeof(x->type), b->type);
    }
    in->_done = done;
    in->_data = data;
    in->_i = i;
    int rc = in->platform->verify(in, i, b, env, on_verified, in);
    if (rc != SB_INBOUND_PENDING)
        x->verified = rc == 0;
    return rc;
}

bool sb_inbound_verified(const sb_inbound_t *in)
{
    for (size_t i = 0; in->bound && i < in->nfields; i++)
        if (in->bound[i].verified)
            return true;
    return false;
}

/* ---------- into the queue ---------- */

static void put_member(sb_buf_t *o, const char *name, const char *v)
{
    sb_buf_puts(o, name);
    sb_buf_putc(o, '"');
    sb_buf_json_escape(o, v, strlen(v));
    sb_buf_putc(o, '"');
}

/* The queue item of one message (docs/channels.md), written into o (reset first): the ids and
 * strings are escaped as they are appended, no JSON tree is built on the way in. */
static void item_json(sb_buf_t *o, const sb_in_bound_t *b, const sb_in_msg_t *m)
{
    sb_buf_reset(o);
    put_member(o, "{\"k\":\"in\",\"t\":", b->tid);
    put_member(o, ",\"ch\":", b->type);
    put_member(o, ",\"cid\":", b->cid);
    put_member(o, ",\"ag\":", b->agent);
    put_member(o, ",\"chat\":", m->chat);
    put_member(o, ",\"mid\":", m->pmid ? m->pmid : m->event_id);
    put_member(o, ",\"from\":{\"id\":", m->from ? m->from : "");
    if (m->name)
        put_member(o, ",\"name\":", m->name);
    if (m->email)
        put_member(o, ",\"email\":", m->email);
    if (m->phone)
        put_member(o, ",\"phone\":", m->phone);
    sb_buf_putc(o, '}');
    if (m->text)
        put_member(o, ",\"text\":", m->text);
    if (m->content) /* already JSON (the platform's parse built it) */
        sb_buf_printf(o, ",\"rc\":%s", m->content);
    if (m->svc)
        put_member(o, ",\"svc\":", m->svc);
    if (m->thread)
        put_member(o, ",\"th\":", m->thread);
    sb_buf_putc(o, '}');
}

int sb_inbound_accept(sb_store_t *st, sb_inbound_t *in, sb_store_cb cb, void *data)
{
    size_t n = 0;
    for (size_t i = 0; in->bound && i < in->nmsgs; i++)
        n += in->bound[in->msgs[i].binding].verified;
    if (n == 0)
        return 0;
    /* a deferred proof's keys, the stream, its arguments, the ttl, the pairs: in the request's
     * memory (the store copies what it sends) */
    const sb_in_defer_t *d = &in->defer;
    const sb_script_t *script = d->script ? d->script : &sb_script_inbound_accept;
    size_t nk = d->script ? d->nkeys : 0, na = d->script ? d->nargs : 0;
    size_t argc = nk + 1 + na + 1 + 2 * n;
    const char **argv = sb__in_alloc(in, argc * sizeof(char *));
    char *ttl = sb__in_alloc(in, 16);
    snprintf(ttl, 16, "%u", in->platform->claim_ttl_s);
    size_t k = 0;
    for (size_t i = 0; i < nk; i++)
        argv[k++] = d->keys[i];
    argv[k++] = SB_Q_IN;
    for (size_t i = 0; i < na; i++)
        argv[k++] = d->args[i];
    argv[k++] = ttl;
    sb_buf_t item;
    sb_buf_init(&item, ITEM_MAX);
    for (size_t i = 0; i < in->nmsgs; i++) {
        const sb_in_msg_t *m = &in->msgs[i];
        const sb_in_bound_t *b = &in->bound[m->binding];
        if (!b->verified)
            continue;
        size_t cap = SB_KEY_MAX + SB_EVENT_ID_MAX + 64;
        char *claim = sb__in_alloc(in, cap);
        sb_key_seen(claim, cap, b->tid, b->cid, m->event_id);
        item_json(&item, b, m);
        char *copy = sb__in_alloc(in, item.len + 1);
        memcpy(copy, item.data, item.len);
        copy[item.len] = '\0';
        argv[k++] = claim;
        argv[k++] = copy;
    }
    sb_buf_free(&item);
    if (sb_store_eval(st, script, (int)nk + 1, (int)argc, argv, NULL, cb, data) < 0)
        return -EAGAIN;
    return (int)n;
}

int sb_inbound_accepted(sb_inbound_t *in, const redisReply *reply)
{
    if (reply->type == REDIS_REPLY_INTEGER)
        return 0;
    if (in->defer.verdict && (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING))
        return in->defer.verdict(in, reply->str);
    return sb__in_fail(in, -EAGAIN, NULL, "the store gave an answer it should not");
}

/* ---------- the queue's side ---------- */

sb_inbound_job_t *sb_inbound_job_new(const char *entry, void (*done)(void *), void *data)
{
    sb_inbound_job_t *j = sb_calloc(1, sizeof(*j));
    j->done = done;
    j->data = data;
    snprintf(j->entry, sizeof(j->entry), "%s", entry);
    return j;
}

void sb_inbound_job_end(sb_inbound_job_t *j)
{
    j->done(j->data);
    sb_free(j);
}

static void on_dropped(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    SB_UNUSED(reply);
    sb_inbound_job_end(data);
}

void sb_inbound_job_drop(sb_store_t *st, sb_inbound_job_t *j, const char *what)
{
    sb_log(SB_LOG_ERROR, what, "\"entry\":\"%s\"", j->entry);
    const char *ack[] = {"XACK", SB_Q_IN, SB_Q_GROUP, j->entry};
    sb_store_cmd(st, NULL, NULL, 4, ack, NULL);
    const char *del[] = {"XDEL", SB_Q_IN, j->entry};
    if (sb_store_cmd(st, on_dropped, j, 3, del, NULL) < 0)
        sb_inbound_job_end(j);
}

static void on_processed(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    sb_inbound_job_t *p = data;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        sb_log(SB_LOG_WARN, "inbound message not processed; it stays queued", "\"entry\":\"%s\",\"error\":\"%s\"",
               p->entry, reply && reply->str ? reply->str : "no reply");
    else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 && reply->element[0]->str &&
             strcmp(reply->element[0]->str, "NOTOWNER") == 0)
        sb_log(SB_LOG_INFO, "inbound message left to the new holder of the inbound lease", "\"entry\":\"%s\"",
               p->entry);
    sb_inbound_job_end(p);
}

void sb_inbound_process(sb_store_t *st, const sb_config_t *cfg, const char *owner, const char *entry, const char *json,
                        size_t len, void (*done)(void *data), void *data)
{
    sb_inbound_job_t *p = sb_inbound_job_new(entry, done, data);
    cJSON *o = cJSON_ParseWithLength(json, len);
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from");
    const char *tid = sb_json_str(o, "t"), *ch = sb_json_str(o, "ch"), *cid = sb_json_str(o, "cid"),
               *ag = sb_json_str(o, "ag"), *chat = sb_json_str(o, "chat"), *mid = sb_json_str(o, "mid"),
               *text = sb_json_str(o, "text"), *uid = sb_json_str(from, "id");
    int rc = 0;
    /* the media and click of the message (docs/messages.md), checked like any content: what
     * fails the model is dropped with a log line, the text is kept */
    cJSON *rc_o = cJSON_GetObjectItemCaseSensitive(o, "rc");
    sb_content_t content;
    bool rich = false;
    if (cJSON_IsObject(rc_o)) {
        if (text && !cJSON_GetObjectItemCaseSensitive(rc_o, "text"))
            cJSON_AddStringToObject(rc_o, "text", text);
        sb_verr_t e;
        rich = sb_content_parse(rc_o, SB_CONTENT_POSTBACK | SB_CONTENT_MEDIA_ID, NULL, &content, &e) == 0;
        if (!rich)
            sb_log(SB_LOG_WARN, "inbound media left out", "\"entry\":\"%s\",\"field\":\"%s\"", entry, e.field);
    }
    if (!rich)
        sb_content_text(&content, text);
    if (!tid || !sb_uuid_valid(tid, strlen(tid)) || !ch || !cid || !ag || !chat || !mid || (!content.text && !rich) ||
        !uid) {
        sb_inbound_job_drop(st, p, "dropping a malformed inbound queue entry");
    } else {
        sb_event_cx_t cx;
        sb_event_cx_init(&cx, cfg);
        sb_msg_t m;
        sb_msg_init(&m, &cx, "in", &content, mid);
        cJSON *sender = cJSON_CreateObject();
        cJSON_AddStringToObject(sender, "type", "customer");
        cJSON_AddStringToObject(sender, "id", uid);
        static const char *const contact[] = {"name", "email", "phone"};
        for (size_t k = 0; k < SB_ARRAY_SIZE(contact); k++) {
            const char *v = sb_json_str(from, contact[k]);
            if (v)
                cJSON_AddStringToObject(sender, contact[k], v);
        }
        char *sj = cJSON_PrintUnformatted(sender);
        cJSON_Delete(sender);
        char conv_id[37];
        sb_uuid4(conv_id);
        const char *svc = sb_json_str(o, "svc"), *th = sb_json_str(o, "th");
        const char *argv[] = {SB_Q_IN, SB_Q_IN_LEASE, cx.json,        entry,        tid,  ch,
                              cid,     chat,          conv_id,        ag,           sj,   m.mtail,
                              m.etail, m.id,          svc ? svc : "", th ? th : "", owner};
        rc = sb_store_eval(st, &sb_script_channel_inbound, 2, SB_ARRAY_SIZE(argv), argv, NULL, on_processed, p);
        cJSON_free(sj);
        sb_msg_free(&m);
        sb_event_cx_free(&cx);
    }
    if (rich)
        sb_content_free(&content);
    cJSON_Delete(o);
    if (rc < 0)
        sb_inbound_job_end(p);
}
