/* WhatsApp Cloud API (docs/channels.md): the webhook's payload (every message of every change
 * of every entry; statuses acknowledged), Meta's X-Hub-Signature-256 proof checked per phone
 * number the payload names, the GET subscription check (hub.verify_token, hub.challenge), the
 * Graph API's /<phoneNumberId>/messages and its verdict, the channel config {phoneNumberId,
 * wabaId, appSecret, verifyToken, accessToken, displayPhone}. Behind sb_platform_t (platform.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
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

/* One message of a change: text messages are stored, other types (media, reactions, ...)
 * acknowledged. */
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
    if (!type || strcmp(type, "text") != 0)
        return 0;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "text");
    if (!cJSON_IsObject(t))
        return sb__in_fail(in, -EINVAL, "messages.text", "'messages.text' must be an object");
    if (sb__in_text(in, t, "body", "messages.text.body", &x.text) < 0)
        return -EINVAL;
    if (!x.text)
        return sb__in_fail(in, -EINVAL, "messages.text.body", "'messages.text.body' is required");
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
    cJSON_AddStringToObject(d->body, "type", "text");
    cJSON *t = cJSON_AddObjectToObject(d->body, "text");
    cJSON_AddStringToObject(t, "body", s->text);
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
    return sb__config_merge(cfg, in, &schema, e);
}

/* The phone number, the hashed verify tokens (the GET names no number) and the account (a
 * change without metadata names only its entry's). */
static void wa_binding_fields(const cJSON *cfg, cJSON *fields)
{
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
    .send_result = wa_send_result,
    .secrets = secrets,
    .config_check = wa_config_check,
    .binding_fields = wa_binding_fields,
};
