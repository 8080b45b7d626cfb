/* Slack (docs/channels.md): the webhook's payloads (seed 000's flat body, JSON or form-encoded,
 * and the Events API's url_verification and event_callback), the v0 request signature and the
 * legacy verification token, chat.postMessage and its verdict, the channel config
 * {teamId, signingSecret, verificationToken, botToken}. Behind sb_platform_t (platform.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "switchboard/alloc.h"
#include "switchboard/text.h"

#define SLACK_SKEW_S 300

/* ---------- the request proof ---------- */

int sb_slack_signature_ok(const char *secret, const char *sig, size_t siglen, const char *ts, size_t tslen,
                          const char *body, size_t n, int64_t now_s)
{
    uint64_t t;
    if (!secret || !sig || !ts || siglen != 3 + SB_HMAC_HEX_SIZE || memcmp(sig, "v0=", 3) != 0 ||
        sb_parse_u64(ts, tslen, UINT64_MAX / 2, &t) < 0)
        return -EPERM;
    if ((int64_t)t < now_s - SLACK_SKEW_S || (int64_t)t > now_s + SLACK_SKEW_S)
        return -EPERM;
    const void *parts[] = {"v0:", ts, ":", body};
    const size_t lens[] = {3, tslen, 1, n};
    return sb__hex_hmac_equal(secret, parts, lens, 4, sig + 3, siglen - 3) ? 0 : -EPERM;
}

/* ---------- inbound ---------- */

typedef struct slack_proof {
    const char *token; /* the body's verification token (legacy bindings) */
    const char *sig, *ts;
    size_t siglen, tslen;
} slack_proof_t;

/* application/x-www-form-urlencoded -> a JSON object of its string fields (NULL: malformed). */
static cJSON *form_object(const char *s, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (pe > p) {
            const char *ke = eq ? eq : pe;
            char key[64];
            size_t vlen = eq ? (size_t)(pe - eq - 1) : 0;
            char *val = sb_malloc(vlen + 1);
            int kl = sb_percent_decode(p, (size_t)(ke - p), key, sizeof(key), true);
            int vl = sb_percent_decode(eq ? eq + 1 : pe, vlen, val, vlen + 1, true);
            /* the same rules as the JSON parse: UTF-8, no control characters but line breaks
             * and tabs (a NUL would cut the text), every field named once */
            bool bad = kl < 0 || vl < 0 || !sb_utf8_valid(val, (size_t)vl) || memchr(key, 0, (size_t)kl);
            for (int i = 0; !bad && i < vl; i++)
                bad = (unsigned char)val[i] < 0x20 && val[i] != '\n' && val[i] != '\r' && val[i] != '\t';
            if (bad || cJSON_GetObjectItemCaseSensitive(o, key)) {
                sb_free(val);
                cJSON_Delete(o);
                return NULL;
            }
            cJSON_AddStringToObject(o, key, val);
            sb_free(val);
        }
        p = pe + 1;
    }
    return o;
}

static int required(sb_inbound_t *in, const char *field)
{
    return sb__in_fail(in, -EINVAL, field, "'%s' is required", field);
}

/* The Events API's event_callback: one message event, or something acknowledged and not
 * stored (other events, bot messages such as our own replies, edits, joins). */
static int parse_event(sb_inbound_t *in, const cJSON *o)
{
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    if (!cJSON_IsObject(ev))
        return sb__in_fail(in, -EINVAL, "event", "'event' must be an object");
    const char *event_id, *etype, *subtype, *bot;
    if (sb__in_str(in, o, "event_id", "event_id", SB_EVENT_ID_MAX, &event_id) < 0 ||
        sb__in_str(in, ev, "type", "event.type", 64, &etype) < 0 ||
        sb__in_str(in, ev, "subtype", "event.subtype", 64, &subtype) < 0 ||
        sb__in_str(in, ev, "bot_id", "event.bot_id", 64, &bot) < 0)
        return -EINVAL;
    if (!event_id)
        return required(in, "event_id");
    if (!etype || strcmp(etype, "message") != 0 || subtype || bot)
        return 0;
    sb_in_msg_t m = {.event_id = event_id};
    if (sb__in_str(in, ev, "channel", "event.channel", 64, &m.chat) < 0 ||
        sb__in_str(in, ev, "user", "event.user", 64, &m.from) < 0 ||
        sb__in_str(in, ev, "ts", "event.ts", 64, &m.pmid) < 0 ||
        sb__in_str(in, ev, "thread_ts", "event.thread_ts", 64, &m.thread) < 0 ||
        sb__in_text(in, ev, "text", "event.text", &m.text) < 0)
        return -EINVAL;
    if (!m.chat || !m.text)
        return required(in, m.chat ? "event.text" : "event.channel");
    *sb__in_add_msg(in) = m;
    return 0;
}

/* Seed 000's flat body: chat = channel_id, event id = team_id:channel_id:event_ts. */
static int parse_flat(sb_inbound_t *in, const cJSON *o, const char *team)
{
    sb_in_msg_t m = {0};
    const char *ets;
    if (sb__in_str(in, o, "channel_id", "channel_id", 64, &m.chat) < 0 ||
        sb__in_str(in, o, "user_id", "user_id", 64, &m.from) < 0 ||
        sb__in_str(in, o, "event_ts", "event_ts", 64, &ets) < 0 ||
        sb__in_str(in, o, "thread_ts", "thread_ts", 64, &m.thread) < 0 ||
        sb__in_text(in, o, "text", "text", &m.text) < 0)
        return -EINVAL;
    const char *missing = !m.chat ? "channel_id" : !m.text ? "text" : !ets ? "event_ts" : NULL;
    if (missing)
        return required(in, missing);
    m.pmid = ets;
    char *eid = sb__in_alloc(in, SB_EVENT_ID_MAX);
    snprintf(eid, SB_EVENT_ID_MAX, "%s:%s:%s", team ? team : "", m.chat, ets);
    m.event_id = eid;
    *sb__in_add_msg(in) = m;
    return 0;
}

static int parse_body(sb_inbound_t *in, const cJSON *o, const char **team)
{
    slack_proof_t *pr = in->proof;
    const char *type;
    if (sb__in_str(in, o, "team_id", "team_id", 64, team) < 0 ||
        sb__in_str(in, o, "token", "token", 256, &pr->token) < 0 || sb__in_str(in, o, "type", "type", 64, &type) < 0)
        return -EINVAL;
    if (type && strcmp(type, "url_verification") == 0) {
        if (sb__in_str(in, o, "challenge", "challenge", 256, &in->challenge) < 0)
            return -EINVAL;
        return in->challenge ? 0 : required(in, "challenge");
    }
    if (type && strcmp(type, "event_callback") == 0)
        return parse_event(in, o);
    if (type)
        return 0; /* app_rate_limited and other envelopes: nothing to store */
    return parse_flat(in, o, *team);
}

static int slack_parse(sb_inbound_t *in)
{
    slack_proof_t *pr = sb__in_alloc(in, sizeof(*pr));
    memset(pr, 0, sizeof(*pr));
    in->proof = pr;
    size_t ctlen;
    const char *ct = sb__in_get(in, SB_IN_HEADER, "content-type", &ctlen);
    cJSON *o;
    if (ct && ctlen >= 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        o = form_object(in->req.body, in->req.len);
        if (!o)
            return sb__in_fail(in, -EINVAL, NULL, "the body is not a valid form");
    } else if (!(o = sb__in_json_object(in))) {
        return -EINVAL;
    }
    const char *team = NULL;
    int rc = parse_body(in, o, &team);
    cJSON_Delete(o);
    if (rc < 0)
        return rc;
    if (!team)
        team = sb__in_get(in, SB_IN_QUERY, "teamId", NULL);
    /* at most 64 bytes, as in a body; no identity: no binding can be found */
    if (!team || !team[0] || strlen(team) > 64 || strpbrk(team, "{} \r\n"))
        return -EPERM;
    pr->sig = sb__in_get(in, SB_IN_HEADER, "x-slack-signature", &pr->siglen);
    pr->ts = sb__in_get(in, SB_IN_HEADER, "x-slack-request-timestamp", &pr->tslen);
    char field[SB_BINDING_FIELD_MAX];
    snprintf(field, sizeof(field), "slack:%s", team);
    sb__in_field(in, field);
    return 0;
}

/* A binding with a signing secret requires the signature; one without (legacy) the body's
 * token equal to its verification token. */
static int slack_verify(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                        sb_inbound_done_fn done, void *data)
{
    SB_UNUSED(i);
    SB_UNUSED(done);
    SB_UNUSED(data);
    const slack_proof_t *pr = in->proof;
    if (!sb__binding_is(b, "slack"))
        return -EPERM;
    const char *s0 = sb_binding_secret(b, "signingSecret", false), *s1 = sb_binding_secret(b, "signingSecret", true);
    if (!s0 && !s1)
        return sb__token_either(b, "verificationToken", pr->token) ? 0 : -EPERM;
    const char *body = in->req.body;
    size_t n = in->req.len;
    return sb_slack_signature_ok(s0, pr->sig, pr->siglen, pr->ts, pr->tslen, body, n, env->now_s) == 0 ||
                   sb_slack_signature_ok(s1, pr->sig, pr->siglen, pr->ts, pr->tslen, body, n, env->now_s) == 0
               ? 0
               : -EPERM;
}

/* ---------- outbound: chat.postMessage ---------- */

static int slack_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                            sb_send_draft_t *d, char *err, size_t errlen)
{
    SB_UNUSED(bearer);
    const char *token = sb__cfg_str(chcfg, "botToken");
    if (!token)
        return sb__send_missing(err, errlen, "botToken");
    sb_buf_printf(&d->url, "%s/chat.postMessage", cfg->slack_api_base);
    sb_buf_printf(&d->headers, "Authorization: Bearer %s\r\n", token);
    cJSON_AddStringToObject(d->body, "channel", s->chat);
    cJSON_AddStringToObject(d->body, "text", s->text);
    if (s->thread && s->thread[0])
        cJSON_AddStringToObject(d->body, "thread_ts", s->thread);
    return 0;
}

/* Slack answers 200 with {"ok":false,"error":"..."} for most failures; a few are worth a retry. */
static int slack_send_result(const cJSON *o, char *pmid, size_t pmidlen, char *err, size_t errlen)
{
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
        sb__put_id(cJSON_GetObjectItemCaseSensitive(o, "ts"), pmid, pmidlen);
        return SB_SEND_ACCEPTED;
    }
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
    snprintf(err, errlen, "slack: %s", e ? e : "no \"ok\":true in the answer");
    static const char *const retried[] = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                                          "request_timeout"};
    for (size_t i = 0; e && i < SB_ARRAY_SIZE(retried); i++)
        if (strcmp(e, retried[i]) == 0)
            return SB_SEND_RETRY;
    return SB_SEND_REFUSED;
}

/* ---------- the channel config ---------- */

static const char *const members[] = {
    "teamId", "signingSecret", "signingSecretPrevious", "verificationToken", "verificationTokenPrevious", "botToken",
    NULL};
static const char *const secrets[] = {
    "signingSecret", "signingSecretPrevious", "verificationToken", "verificationTokenPrevious", "botToken", NULL};
static const sb__config_schema_t schema = {"slack", "teamId", members, sb__none, sb__none, sb__none, sb__none};

static int slack_config_check(cJSON *cfg, const cJSON *in, sb_verr_t *e)
{
    return sb__config_merge(cfg, in, &schema, e);
}

static void slack_binding_fields(const cJSON *cfg, cJSON *fields)
{
    sb__field_add(fields, cfg, "slack", "teamId", false);
}

const sb_platform_t sb__platform_slack = {
    .type = "slack",
    .claim_ttl_s = SB_CLAIM_TTL_S,
    .parse = slack_parse,
    .verify = slack_verify,
    .send_build = slack_send_build,
    .send_result = slack_send_result,
    .secrets = secrets,
    .config_check = slack_config_check,
    .binding_fields = slack_binding_fields,
};
