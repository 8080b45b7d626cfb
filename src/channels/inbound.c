/* The channels' pure side of inbound webhooks (docs/channels.md): the request proofs of Slack
 * and Meta (WhatsApp) and shared-secret tokens, and the processing of the inbound queue, whose
 * entries the job runner hands to sb_inbound_process. The HTTP handlers that parse, verify and
 * answer are the API layer's (src/api/channel_webhooks.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/channels.h"
#include "switchboard/conv.h"
#include "switchboard/crypto.h"
#include "switchboard/log.h"
#include "switchboard/text.h"

#define SLACK_SKEW_S 300

/* ---------- proofs ---------- */

static bool hex_hmac_equal(const char *secret, const void *const *parts, const size_t *lens, size_t nparts,
                           const char *hex, size_t hexlen)
{
    unsigned char mac[32];
    sb_hmac_sha256_parts(secret, strlen(secret), parts, lens, nparts, mac);
    char want[65];
    sb_hex_encode(mac, 32, want);
    return sb_ct_equal(want, 64, hex, hexlen);
}

int sb_slack_signature_ok(const char *secret, const char *sig, size_t siglen, const char *ts, size_t tslen,
                          const char *body, size_t n, int64_t now_s)
{
    uint64_t t;
    if (!secret || !sig || !ts || siglen != 67 || memcmp(sig, "v0=", 3) != 0 ||
        sb_parse_u64(ts, tslen, UINT64_MAX / 2, &t) < 0)
        return -EPERM;
    if ((int64_t)t < now_s - SLACK_SKEW_S || (int64_t)t > now_s + SLACK_SKEW_S)
        return -EPERM;
    const void *parts[] = {"v0:", ts, ":", body};
    const size_t lens[] = {3, tslen, 1, n};
    return hex_hmac_equal(secret, parts, lens, 4, sig + 3, siglen - 3) ? 0 : -EPERM;
}

int sb_hub_signature_ok(const char *secret, const char *sig, size_t siglen, const char *body, size_t n)
{
    if (!secret || !sig || siglen != 71 || memcmp(sig, "sha256=", 7) != 0)
        return -EPERM;
    const void *parts[] = {body};
    const size_t lens[] = {n};
    return hex_hmac_equal(secret, parts, lens, 1, sig + 7, siglen - 7) ? 0 : -EPERM;
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

/* ---------- the queue's side ---------- */

typedef struct process_ctx {
    void (*done)(void *);
    void *data;
    char entry[48];
} process_ctx_t;

static void on_processed(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    process_ctx_t *p = data;
    if (!reply || reply->type == REDIS_REPLY_ERROR)
        sb_log(SB_LOG_WARN, "inbound message not processed; it stays queued", "\"entry\":\"%s\",\"error\":\"%s\"",
               p->entry, reply && reply->str ? reply->str : "no reply");
    else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 && reply->element[0]->str &&
             strcmp(reply->element[0]->str, "NOTOWNER") == 0)
        sb_log(SB_LOG_INFO, "inbound message left to the new holder of the inbound lease", "\"entry\":\"%s\"",
               p->entry);
    p->done(p->data);
    sb_free(p);
}

static const char *jstr(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

void sb_inbound_process(sb_store_t *st, const sb_config_t *cfg, const char *owner, const char *entry, const char *json,
                        size_t len, void (*done)(void *data), void *data)
{
    process_ctx_t *p = sb_calloc(1, sizeof(*p));
    p->done = done;
    p->data = data;
    snprintf(p->entry, sizeof(p->entry), "%s", entry);
    cJSON *o = cJSON_ParseWithLength(json, len);
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from");
    const char *tid = jstr(o, "t"), *ch = jstr(o, "ch"), *cid = jstr(o, "cid"), *ag = jstr(o, "ag"),
               *chat = jstr(o, "chat"), *mid = jstr(o, "mid"), *text = jstr(o, "text"), *uid = jstr(from, "id");
    int rc;
    if (!tid || !sb_uuid_valid(tid, strlen(tid)) || !ch || !cid || !ag || !chat || !mid || !text || !uid) {
        sb_log(SB_LOG_ERROR, "dropping a malformed inbound queue entry", "\"entry\":\"%s\"", entry);
        const char *argv[] = {"XACK", SB_Q_IN, SB_Q_GROUP, entry};
        sb_store_cmd(st, NULL, NULL, 4, argv, NULL);
        const char *argv2[] = {"XDEL", SB_Q_IN, entry};
        rc = sb_store_cmd(st, on_processed, p, 3, argv2, NULL);
    } else {
        sb_event_cx_t cx;
        sb_event_cx_init(&cx, cfg);
        sb_msg_t m;
        sb_msg_init(&m, &cx, "in", text, NULL, mid);
        cJSON *sender = cJSON_CreateObject();
        cJSON_AddStringToObject(sender, "type", "customer");
        cJSON_AddStringToObject(sender, "id", uid);
        const char *name = jstr(from, "name");
        if (name)
            cJSON_AddStringToObject(sender, "name", name);
        char *sj = cJSON_PrintUnformatted(sender);
        cJSON_Delete(sender);
        char conv_id[37];
        sb_uuid4(conv_id);
        const char *svc = jstr(o, "svc"), *th = jstr(o, "th");
        const char *argv[] = {SB_Q_IN, SB_Q_IN_LEASE, cx.json,        entry,        tid,  ch,
                              cid,     chat,          conv_id,        ag,           sj,   m.mtail,
                              m.etail, m.id,          svc ? svc : "", th ? th : "", owner};
        rc = sb_store_eval(st, &sb_script_channel_inbound, 2, SB_ARRAY_SIZE(argv), argv, NULL, on_processed, p);
        cJSON_free(sj);
        sb_msg_free(&m);
        sb_event_cx_free(&cx);
    }
    cJSON_Delete(o);
    if (rc < 0) {
        p->done(p->data);
        sb_free(p);
    }
}
