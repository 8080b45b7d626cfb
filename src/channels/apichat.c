/* API chat (seed 004, SPEC 5.6; docs/apichat.md): a channel whose platform side is switchboard
 * itself. Inbound: the partner's front end posts its users' messages to the workspace's bot_url
 * (`POST /api/apichat/{code}`, the tenant's API key as the flow key): the seed's six bodies.
 * Outbound: every agent or operator message is POSTed to the workspace's verified webhook with
 * the seed's payload types (text, button_template, generic_template, image, audio, video,
 * file), signed X-Hub-Signature-256 with the verification key. The channel config is {} (the
 * webhook is the partner API's, merged in by send_prepare); one apichat channel per workspace,
 * found by "apichat:<tenant id>". Behind sb_platform_t (platform.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "switchboard/crypto.h"
#include "switchboard/text.h"

#define APICHAT_SENDER_MAX 128
#define APICHAT_KEY_MAX    256

typedef struct ac_proof {
    const char *code; /* the bot code of the path */
    const char *key;  /* the flow key: Authorization: Bearer, or X-API-Key */
    size_t keylen;
    char tid[37]; /* the workspace the key names */
    sb_inbound_t *in;
    sb_inbound_done_fn done;
    void *data;
} ac_proof_t;

/* ---------- inbound: the bot_url's bodies ---------- */

static const char *flow_key(sb_inbound_t *in, size_t *len)
{
    size_t n;
    const char *auth = sb__in_get(in, SB_IN_HEADER, "authorization", &n);
    if (auth && n > 7 && strncasecmp(auth, "Bearer ", 7) == 0) {
        *len = n - 7;
        return auth + 7;
    }
    return sb__in_get(in, SB_IN_HEADER, "x-api-key", len);
}

/* conversation_id (an integer) and sender.id (a string or an integer) identify the chat:
 * "<conversation_id>:<sender id>", the two the webhook payloads name again (conv_id, sender_id). */
static int parse_body(sb_inbound_t *in, const cJSON *o, sb_in_msg_t *m)
{
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(o, "conversation_id");
    const cJSON *sender = cJSON_GetObjectItemCaseSensitive(o, "sender");
    long long cid;
    if (!sb__json_int(conv, &cid) || cid < 0)
        return sb__in_fail(in, -EINVAL, "conversation_id", "'conversation_id' must be a non-negative integer");
    if (!cJSON_IsObject(sender))
        return sb__in_fail(in, -EINVAL, "sender", "'sender' must be an object");
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(sender, "id");
    char idbuf[APICHAT_SENDER_MAX + 1];
    long long n;
    if (sb__json_int(sid, &n))
        snprintf(idbuf, sizeof(idbuf), "%lld", n);
    else if (cJSON_IsString(sid) && sid->valuestring[0] && strlen(sid->valuestring) <= APICHAT_SENDER_MAX &&
             !strpbrk(sid->valuestring, " \r\n{}"))
        snprintf(idbuf, sizeof(idbuf), "%s", sid->valuestring);
    else
        return sb__in_fail(in, -EINVAL, "sender.id",
                           "'sender.id' must be a string of 1..%d characters without spaces, or an integer",
                           APICHAT_SENDER_MAX);
    const char *type = NULL, *event = NULL, *mtype = NULL;
    if (sb__in_str(in, o, "event", "event", 32, &event) < 0 ||
        sb__in_str(in, o, "message_type", "message_type", 32, &mtype) < 0 ||
        sb__in_str(in, sender, "type", "sender.type", 32, &type) < 0 ||
        sb__in_str(in, sender, "name", "sender.name", 200, &m->name) < 0 ||
        sb__in_str(in, sender, "email", "sender.email", 254, &m->email) < 0 ||
        sb__in_str(in, sender, "phone_number", "sender.phone_number", 32, &m->phone) < 0)
        return -EINVAL;
    if (!event || (strcmp(event, "message_created") != 0 && strcmp(event, "message_postback") != 0))
        return sb__in_fail(in, -EINVAL, "event", "'event' must be \"message_created\" or \"message_postback\"");
    if (mtype && strcmp(mtype, "incoming") != 0)
        return sb__in_fail(in, -EINVAL, "message_type", "'message_type' must be \"incoming\"");
    if (m->name && !m->name[0])
        m->name = NULL;
    if (m->email && !m->email[0])
        m->email = NULL;
    if (m->phone && !m->phone[0])
        m->phone = NULL;
    char chat[48 + APICHAT_SENDER_MAX];
    snprintf(chat, sizeof(chat), "%lld:%s", cid, idbuf);
    m->chat = sb__in_strdup(in, chat);
    m->from = sb__in_strdup(in, idbuf);

    const cJSON *content = cJSON_GetObjectItemCaseSensitive(o, "content");
    if (content && !cJSON_IsString(content) && !cJSON_IsNull(content))
        return sb__in_fail(in, -EINVAL, "content", "'content' must be a string");
    cJSON *rc = cJSON_CreateObject();
    int status = 0;
    if (strcmp(event, "message_postback") == 0) {
        const cJSON *sv = cJSON_GetObjectItemCaseSensitive(o, "submitted_values");
        const cJSON *first = cJSON_GetArrayItem(sv, 0);
        const char *title = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "title"));
        const char *payload = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "payload"));
        if (!cJSON_IsArray(sv) || cJSON_GetArraySize(sv) < 1 || !cJSON_IsObject(first))
            status =
                sb__in_fail(in, -EINVAL, "submitted_values", "'submitted_values' must be an array of {title, payload}");
        else if (!payload || sb_blank(payload) || sb_utf8_chars(payload, strlen(payload)) > SB_BUTTON_PAYLOAD_MAX)
            status = sb__in_fail(in, -EINVAL, "submitted_values[0].payload",
                                 "'submitted_values[0].payload' must be a non-empty string of at most %d characters",
                                 SB_BUTTON_PAYLOAD_MAX);
        else if ((cJSON_GetObjectItemCaseSensitive(first, "title") && !title) ||
                 (title && sb_utf8_chars(title, strlen(title)) > SB_BUTTON_TITLE_MAX))
            status = sb__in_fail(in, -EINVAL, "submitted_values[0].title",
                                 "'submitted_values[0].title' must be a string of at most %d characters",
                                 SB_BUTTON_TITLE_MAX);
        /* the model's limits (docs/messages.md) checked here: a click the queue's side would
         * find out of bounds would be dropped after the 200 */
        if (status == 0) {
            cJSON *pb = cJSON_AddObjectToObject(rc, "postback");
            if (title && !sb_blank(title)) /* "" or blank: no title */
                cJSON_AddStringToObject(pb, "title", title);
            cJSON_AddStringToObject(pb, "payload", payload);
        }
    }
    const cJSON *atts = cJSON_GetObjectItemCaseSensitive(o, "attachments");
    if (status == 0 && atts && !cJSON_IsNull(atts)) {
        if (!cJSON_IsArray(atts) || cJSON_GetArraySize(atts) > SB_MSG_ATTACHMENTS_MAX) {
            status = sb__in_fail(in, -EINVAL, "attachments", "'attachments' must be an array of at most %d",
                                 SB_MSG_ATTACHMENTS_MAX);
        } else {
            cJSON *out = cJSON_AddArrayToObject(rc, "attachments");
            int i = 0;
            const cJSON *a;
            cJSON_ArrayForEach(a, atts)
            {
                char f[48];
                const char *ft = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "file_type"));
                const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "data_url"));
                if (!ft || (strcmp(ft, "image") != 0 && strcmp(ft, "audio") != 0 && strcmp(ft, "video") != 0 &&
                            strcmp(ft, "file") != 0)) {
                    snprintf(f, sizeof(f), "attachments[%d].file_type", i);
                    status = sb__in_fail(in, -EINVAL, f, "'%s' must be \"image\", \"audio\", \"video\" or \"file\"", f);
                    break;
                }
                if (!url || strlen(url) > 2048 || !sb_url_valid(url)) {
                    snprintf(f, sizeof(f), "attachments[%d].data_url", i);
                    status = sb__in_fail(in, -EINVAL, f, "'%s' must be an absolute http:// or https:// URL", f);
                    break;
                }
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "type", ft);
                cJSON_AddStringToObject(x, "url", url);
                cJSON_AddItemToArray(out, x);
                i++;
            }
        }
    }
    if (status == 0 && sb__in_text(in, o, "content", "content", &m->text) < 0) {
        /* "" (the seed's media bodies), blank or null: no text */
        if (cJSON_IsNull(content) ||
            (cJSON_IsString(content) &&
             sb_utf8_chars(content->valuestring, strlen(content->valuestring)) <= SB_MSG_TEXT_MAX)) {
            m->text = NULL;
            in->err.field[0] = in->err.detail[0] = '\0';
        } else {
            status = -EINVAL;
        }
    }
    if (status == 0 && rc->child)
        sb__in_content(in, m, rc);
    else
        cJSON_Delete(rc);
    if (status == 0 && !m->text && !m->content)
        status = sb__in_fail(in, -EINVAL, "content", "the message has no content, attachment or submitted value");
    return status;
}

static int ac_parse(sb_inbound_t *in)
{
    ac_proof_t *pr = sb__in_alloc(in, sizeof(*pr));
    memset(pr, 0, sizeof(*pr));
    in->proof = pr;
    pr->code = sb__in_get(in, SB_IN_PARAM, "code", NULL);
    pr->key = flow_key(in, &pr->keylen);
    /* The flow key is a tenant API key ("sbk_<tenant id>_..."): it names the workspace whose
     * apichat channel is looked up; the proof (the key itself, the code) is checked in verify. */
    if (!pr->code || !pr->key || pr->keylen > APICHAT_KEY_MAX ||
        !sb_prefixed_key_id(pr->key, pr->keylen, "sbk_", pr->tid))
        return sb__in_fail(in, -EPERM, NULL, "the flow key (Authorization: Bearer <tenant API key>) is required");
    cJSON *o = sb__in_json_object(in);
    if (!o)
        return -EINVAL;
    sb_in_msg_t m = {0};
    int rc = parse_body(in, o, &m);
    cJSON_Delete(o);
    if (rc < 0)
        return rc;
    /* The seed's front end sends no message id: a retry is recognised by an Idempotency-Key
     * header (else every POST is a new message, docs/apichat.md). */
    size_t ilen;
    const char *idem = sb__in_get(in, SB_IN_HEADER, "idempotency-key", &ilen);
    char eid[SB_EVENT_ID_MAX];
    if (idem && ilen > 0) { /* any length: the claim holds its digest */
        char h[65];
        sb_sha256_hex(idem, ilen, h);
        snprintf(eid, sizeof(eid), "%s:%s", m.chat, h);
    } else {
        char u[37];
        sb_uuid4(u);
        snprintf(eid, sizeof(eid), "%s:%s", m.chat, u);
    }
    m.event_id = sb__in_strdup(in, eid);
    *sb__in_add_msg(in) = m;
    char field[64];
    snprintf(field, sizeof(field), "apichat:%s", pr->tid);
    sb__in_field(in, field);
    return 0;
}

/* A verdict of lib/apichat.lua other than OK as a refusal. */
static int judged(sb_inbound_t *in, const char *v)
{
    if (strcmp(v, "NOCODE") == 0)
        return sb__in_fail(in, -ENOENT, NULL, "no verified API chat webhook has this bot_url");
    if (strcmp(v, "SUSPENDED") == 0)
        return sb__in_fail(in, -EACCES, NULL, "this workspace is suspended");
    return -EPERM;
}

/* apichat_auth's verdict, for a workspace without an apichat channel: once the key and the code
 * hold, that is the 404. */
static void on_auth(sb_store_t *st, redisReply *reply, void *data)
{
    SB_UNUSED(st);
    ac_proof_t *pr = data;
    sb_inbound_t *in = pr->in;
    const char *v = reply && (reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_STRING) ? reply->str
                                                                                                       : NULL;
    int status;
    if (!v)
        status = sb__in_fail(in, -EAGAIN, NULL, "the store is unavailable");
    else if (strcmp(v, "OK") == 0)
        status = sb__in_fail(in, -ENOENT, NULL, "the workspace has no apichat channel");
    else
        status = judged(in, v);
    pr->done(pr->data, status);
}

static const char *in_strdup_key(sb_inbound_t *in, const char *tid, const char *what)
{
    char k[SB_KEY_MAX];
    sb_key_tenant(k, tid, what);
    return sb__in_strdup(in, k);
}

/* The proof is in the store (the workspace's keys, its webhook): with the channel found, it is
 * judged by the script that queues the message (apichat_accept: one round trip, and a removed
 * webhook stops the next message); without, by apichat_auth alone, for the right refusal. */
static int ac_verify(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                     sb_inbound_done_fn done, void *data)
{
    SB_UNUSED(i);
    ac_proof_t *pr = in->proof;
    if (!env->store)
        return -EAGAIN;
    char k_idx[SB_KEY_MAX], hash[65];
    sb_key_global(k_idx, "idx", "apichat");
    sb_sha256_hex(pr->key, pr->keylen, hash);
    sb_in_defer_t *d = &in->defer;
    d->keys[0] = sb__in_strdup(in, k_idx);
    d->keys[1] = in_strdup_key(in, pr->tid, "apikeys:byhash");
    d->keys[2] = in_strdup_key(in, pr->tid, "tenant");
    d->keys[3] = in_strdup_key(in, pr->tid, "apichat");
    d->args[0] = pr->code;
    d->args[1] = sb__in_strdup(in, hash);
    d->args[2] = pr->tid;
    d->nkeys = 4;
    d->nargs = 3;
    if (sb__binding_is(b, "apichat")) { /* found by "apichat:<the key's workspace>" */
        d->script = &sb_script_apichat_accept;
        d->verdict = judged;
        return 0;
    }
    pr->in = in;
    pr->done = done;
    pr->data = data;
    const char *argv[] = {d->keys[0], d->keys[1], d->keys[2], d->keys[3], d->args[0], d->args[1], d->args[2]};
    if (sb_store_eval(env->store, &sb_script_apichat_auth, 4, SB_ARRAY_SIZE(argv), argv, NULL, on_auth, pr) < 0)
        return -EAGAIN;
    return SB_INBOUND_PENDING;
}

/* ---------- outbound: the seed's webhook payloads ---------- */

static void head(cJSON *o, const sb_send_t *s, const char *type)
{
    /* chat: "<conversation_id>:<sender id>" (parse_body). conv_id goes out as the digits it
     * came in as: a double printed by cJSON would turn 10^15 into 1e+15. */
    const char *colon = strchr(s->chat, ':');
    char conv[24];
    size_t n = colon ? (size_t)(colon - s->chat) : 0;
    snprintf(conv, sizeof(conv), "%.*s", (int)(n < sizeof(conv) ? n : 0), s->chat);
    uint64_t cid = 0;
    if (sb_parse_u64(conv, strlen(conv), UINT64_MAX, &cid) < 0)
        cid = 0;
    snprintf(conv, sizeof(conv), "%llu", (unsigned long long)cid);
    cJSON_AddStringToObject(o, "sender_id", colon ? colon + 1 : s->chat);
    cJSON_AddRawToObject(o, "conv_id", conv);
    if (type)
        cJSON_AddStringToObject(o, "type", type);
}

static cJSON *ac_buttons(const cJSON *buttons)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, buttons)
    {
        cJSON *o = cJSON_CreateObject();
        bool link = strcmp(sb__str(b, "type"), "url") == 0;
        cJSON_AddStringToObject(o, "type", link ? "web_url" : "postback");
        cJSON_AddStringToObject(o, "title", sb__str(b, "title"));
        cJSON_AddStringToObject(o, link ? "url" : "payload", sb__str(b, link ? "url" : "payload"));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static void outgoing(cJSON *o)
{
    cJSON_AddStringToObject(o, "message_type", "outgoing");
    cJSON_AddFalseToObject(o, "private");
}

/* The parts: the text (a button_template with its buttons, unless the cards carry it), each
 * attachment by its type, then every card in one generic_template (a carousel). */
static int ac_part(const sb_send_t *s, cJSON *o, bool *more)
{
    const sb_content_t *c = s->content;
    sb_content_t plain;
    if (!c) {
        sb_content_text(&plain, s->text);
        c = &plain;
    }
    bool cards = c->cards != NULL;
    bool text_part = c->text && (c->buttons || !cards);
    unsigned natt = (unsigned)cJSON_GetArraySize(c->attachments);
    unsigned total = (text_part ? 1 : 0) + natt + (cards ? 1 : 0), i = s->part;
    if (i >= total)
        return -ERANGE;
    *more = i + 1 < total;
    if (text_part && i == 0) {
        head(o, s, "text");
        cJSON_AddStringToObject(o, "text", c->text);
        outgoing(o);
        if (c->buttons) {
            cJSON_AddStringToObject(o, "content_type", "button_template");
            cJSON *ca = cJSON_AddObjectToObject(o, "content_attributes");
            cJSON_AddStringToObject(ca, "text", c->text);
            cJSON_AddItemToObject(ca, "buttons", ac_buttons(c->buttons));
        }
        return 0;
    }
    i -= text_part ? 1 : 0;
    if (i < natt) {
        const cJSON *a = cJSON_GetArrayItem(c->attachments, (int)i);
        head(o, s, NULL);
        cJSON_AddStringToObject(o, "url", sb__str(a, "url"));
        cJSON_AddStringToObject(o, "type", sb__str(a, "type"));
        outgoing(o);
        return 0;
    }
    head(o, s, "text");
    cJSON_AddStringToObject(o, "text", text_part || !c->text ? "" : c->text);
    outgoing(o);
    cJSON_AddStringToObject(o, "content_type", "generic_template");
    cJSON *ca = cJSON_AddObjectToObject(o, "content_attributes");
    cJSON_AddStringToObject(ca, "ratio", "horizontal");
    cJSON *items = cJSON_AddArrayToObject(ca, "items");
    const cJSON *card;
    cJSON_ArrayForEach(card, c->cards)
    {
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "title", sb__str(card, "title"));
        if (sb__str(card, "imageUrl")[0])
            cJSON_AddStringToObject(it, "image_url", sb__str(card, "imageUrl"));
        else
            cJSON_AddNullToObject(it, "image_url");
        if (sb__str(card, "itemUrl")[0])
            cJSON_AddStringToObject(it, "item_url", sb__str(card, "itemUrl"));
        else
            cJSON_AddNullToObject(it, "item_url");
        cJSON_AddStringToObject(it, "subtitle", sb__str(card, "subtitle"));
        cJSON_AddNullToObject(it, "default_action");
        cJSON_AddItemToObject(it, "buttons", ac_buttons(cJSON_GetObjectItemCaseSensitive(card, "buttons")));
        cJSON_AddItemToArray(items, it);
    }
    return 0;
}

static int ac_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                         sb_send_draft_t *d, char *err, size_t errlen)
{
    SB_UNUSED(cfg);
    SB_UNUSED(bearer);
    const char *url = sb__cfg_str(chcfg, "webhookUrl");
    const char *status = sb__cfg_str(chcfg, "webhookStatus");
    if (!url || !status || strcmp(status, "verified") != 0 || !sb__cfg_str(chcfg, "webhookKey")) {
        snprintf(err, errlen, "the workspace has no verified API chat webhook");
        return -EINVAL;
    }
    sb_buf_puts(&d->url, url);
    const char *ns = sb__cfg_str(chcfg, "flowNs");
    sb_buf_printf(&d->headers, "x-flow-ns: %s\r\nx-action: messages\r\n", ns ? ns : "");
    if (ac_part(s, d->body, &d->more) < 0) {
        snprintf(err, errlen, "the message has no part %u", s->part);
        return -EINVAL;
    }
    return 0;
}

/* X-Hub-Signature-256 over the exact bytes sent, keyed by the verification key string as the
 * partner gave it (the seed's PHP check: hash_hmac('sha256', $payload, $verification_key)). */
static void ac_send_sign(const cJSON *chcfg, const char *body, size_t len, sb_buf_t *headers)
{
    const char *key = sb__cfg_str(chcfg, "webhookKey");
    unsigned char mac[32];
    char hex[65];
    sb_hmac_sha256(key, strlen(key), body, len, mac);
    sb_hex_encode(mac, sizeof(mac), hex);
    sb_buf_printf(headers, "X-Hub-Signature-256: sha256=%s\r\n", hex);
}

/* A 2xx is accepted; a JSON answer's "id" (or "message_id") is the platform id. */
static int ac_send_result(const cJSON *o, char *pmid, size_t pmidlen, char *err, size_t errlen)
{
    SB_UNUSED(err);
    SB_UNUSED(errlen);
    sb__put_id(cJSON_GetObjectItemCaseSensitive(o, "message_id"), pmid, pmidlen);
    if (!pmid[0])
        sb__put_id(cJSON_GetObjectItemCaseSensitive(o, "id"), pmid, pmidlen);
    return SB_SEND_ACCEPTED;
}

/* ---------- the channel config ---------- */

/* {} or {"sendLimits": {...}} (docs/channels.md "Platform send limits": API chat has no row of its
 * own, so a partner whose webhook takes more than the defaults raises them here); the webhook
 * itself is the partner API's. */
static const sb__config_schema_t schema = {"apichat", NULL, sb__none, sb__none, sb__none, sb__none, sb__none};

static int ac_config_check(cJSON *cfg, const cJSON *in, sb_verr_t *e)
{
    return sb_send_limits_merge(cfg, in, &schema, e); /* the schema and "sendLimits" */
}

/* One apichat channel per workspace, found by its tenant: "apichat:<tenant id>". */
static void ac_binding_fields(const cJSON *cfg, const char *tenant_id, cJSON *fields)
{
    SB_UNUSED(cfg);
    if (!tenant_id)
        return;
    char f[64];
    snprintf(f, sizeof(f), "apichat:%.40s", tenant_id);
    cJSON_AddItemToArray(fields, cJSON_CreateString(f));
}

const sb_platform_t sb__platform_apichat = {
    .type = "apichat",
    .claim_ttl_s = SB_CLAIM_TTL_S,
    .parse = ac_parse,
    .verify = ac_verify,
    .send_build = ac_send_build,
    .send_sign = ac_send_sign,
    .send_result = ac_send_result,
    .secrets = sb__none,
    .config_check = ac_config_check,
    .binding_fields = ac_binding_fields,
};
