/* Telegram (docs/channels.md): the webhook's Update, the X-Telegram-Bot-Api-Secret-Token proof
 * (the binding found by the bot id of the path, or by the token itself), sendMessage and its
 * verdict, the channel config {botId, botToken, secretToken}. Behind sb_platform_t (platform.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "switchboard/crypto.h"

typedef struct tg_proof {
    const char *secret;    /* the header's secret token */
    const char *update_id; /* the event id is <the binding's botId>:<update_id> */
} tg_proof_t;

/* An id that may be a JSON number (Telegram's) or a string, as a string. */
static const char *id_member(sb_inbound_t *in, const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    char buf[32];
    long long n;
    if (sb__json_int(v, &n)) {
        snprintf(buf, sizeof(buf), "%lld", n);
        return sb__in_strdup(in, buf);
    }
    if (cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) <= SB_EVENT_ID_MAX)
        return sb__in_strdup(in, v->valuestring);
    return NULL;
}

/* {update_id, message: {message_id, chat: {id}, from: {id, username}, text}}. Updates without a
 * message (edits, callback queries, channel posts) and messages without text (photos,
 * stickers) are acknowledged and not stored. */
static int parse_update(sb_inbound_t *in, const cJSON *o)
{
    tg_proof_t *pr = in->proof;
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(o, "update_id");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
    long long update_id;
    if (!sb__json_int(uid, &update_id) || update_id < 0)
        return sb__in_fail(in, -EINVAL, "update_id", "'update_id' must be a non-negative integer");
    if (msg && !cJSON_IsObject(msg))
        return sb__in_fail(in, -EINVAL, "message", "'message' must be an object");
    char id[32];
    snprintf(id, sizeof(id), "%lld", update_id);
    pr->update_id = sb__in_strdup(in, id);
    if (!msg)
        return 0;
    const cJSON *chat = cJSON_GetObjectItemCaseSensitive(msg, "chat");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(msg, "from");
    sb_in_msg_t m = {0};
    m.chat = cJSON_IsObject(chat) ? id_member(in, chat, "id") : NULL;
    m.from = cJSON_IsObject(from) ? id_member(in, from, "id") : NULL;
    m.pmid = id_member(in, msg, "message_id");
    if (!m.chat)
        return sb__in_fail(in, -EINVAL, "message.chat.id", "'message.chat.id' must be an integer");
    if (cJSON_IsObject(from) && sb__in_str(in, from, "username", "message.from.username", 64, &m.name) < 0)
        return -EINVAL;
    if (sb__in_text(in, msg, "text", "message.text", &m.text) < 0)
        return -EINVAL;
    if (m.text)
        *sb__in_add_msg(in) = m;
    return 0;
}

static int tg_parse(sb_inbound_t *in)
{
    tg_proof_t *pr = sb__in_alloc(in, sizeof(*pr));
    memset(pr, 0, sizeof(*pr));
    in->proof = pr;
    cJSON *o = sb__in_json_object(in);
    if (!o)
        return -EINVAL;
    int rc = parse_update(in, o);
    cJSON_Delete(o);
    if (rc < 0)
        return rc;
    size_t slen;
    pr->secret = sb__in_get(in, SB_IN_HEADER, "x-telegram-bot-api-secret-token", &slen);
    if (!pr->secret || slen == 0 || slen > 256)
        return -EPERM;
    /* /api/webhooks/telegram/{botId} names the bot; /api/webhooks/telegram finds it by the token */
    char field[SB_BINDING_FIELD_MAX];
    const char *bot = sb__in_get(in, SB_IN_PARAM, "botId", NULL);
    if (bot) {
        if (strlen(bot) > SB_IDENT_MAX || strpbrk(bot, "{} \r\n"))
            return -EPERM;
        snprintf(field, sizeof(field), "telegram:%s", bot);
    } else {
        char h[65];
        sb_sha256_hex(pr->secret, slen, h);
        snprintf(field, sizeof(field), "tgsecret:%s", h);
    }
    sb__in_field(in, field);
    return 0;
}

static int tg_verify(sb_inbound_t *in, size_t i, const sb_binding_t *b, const sb_inbound_env_t *env,
                     sb_inbound_done_fn done, void *data)
{
    SB_UNUSED(i);
    SB_UNUSED(env);
    SB_UNUSED(done);
    SB_UNUSED(data);
    const tg_proof_t *pr = in->proof;
    if (!sb__binding_is(b, "telegram") || !sb__token_either(b, "secretToken", pr->secret))
        return -EPERM;
    /* update ids count per bot: the bot's id makes them unique */
    const char *bot = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b->cfg, "botId"));
    for (size_t k = 0; k < in->nmsgs; k++) {
        char *eid = sb__in_alloc(in, SB_EVENT_ID_MAX);
        snprintf(eid, SB_EVENT_ID_MAX, "%s:%s", bot ? bot : "", pr->update_id);
        in->msgs[k].event_id = eid;
    }
    return 0;
}

/* ---------- outbound: sendMessage ---------- */

static int tg_send_build(const sb_config_t *cfg, const sb_send_t *s, const cJSON *chcfg, const char *bearer,
                         sb_send_draft_t *d, char *err, size_t errlen)
{
    SB_UNUSED(bearer);
    /* The token is part of the URL: only the request carries it; every record shows <token>.
     * Telegram's tokens are "<bot id>:<letters, digits, - and _>", nothing to escape. */
    const char *token = sb__cfg_str(chcfg, "botToken");
    if (!token)
        return sb__send_missing(err, errlen, "botToken");
    if (strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_-") != strlen(token)) {
        snprintf(err, errlen, "the channel's botToken is not a Telegram bot token");
        return -EINVAL;
    }
    sb_buf_printf(&d->url, "%s/bot%s/sendMessage", cfg->telegram_api_base, token);
    sb_buf_printf(&d->shown, "%s/bot<token>/sendMessage", cfg->telegram_api_base);
    cJSON_AddStringToObject(d->body, "chat_id", s->chat);
    cJSON_AddStringToObject(d->body, "text", s->text);
    return 0;
}

static int tg_send_result(const cJSON *o, char *pmid, size_t pmidlen, char *err, size_t errlen)
{
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
        snprintf(err, errlen, "telegram: no \"ok\":true in the answer");
        return SB_SEND_REFUSED;
    }
    sb__put_id(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "result"), "message_id"), pmid,
               pmidlen);
    return SB_SEND_ACCEPTED;
}

/* ---------- the channel config ---------- */

static const char *const members[] = {"botId", "botToken", "secretToken", "secretTokenPrevious", NULL};
static const char *const secrets[] = {"botToken", "secretToken", "secretTokenPrevious", NULL};
static const sb__config_schema_t schema = {"telegram", "botId", members, sb__none, sb__none, sb__none, sb__none};

static int tg_config_check(cJSON *cfg, const cJSON *in, sb_verr_t *e)
{
    return sb__config_merge(cfg, in, &schema, e);
}

/* The bot id, and the hashed secret tokens (POST /api/webhooks/telegram names no bot). */
static void tg_binding_fields(const cJSON *cfg, cJSON *fields)
{
    sb__field_add(fields, cfg, "telegram", "botId", false);
    sb__field_add(fields, cfg, "tgsecret", "secretToken", true);
    sb__field_add(fields, cfg, "tgsecret", "secretTokenPrevious", true);
}

const sb_platform_t sb__platform_telegram = {
    .type = "telegram",
    .claim_ttl_s = SB_CLAIM_TTL_S,
    .parse = tg_parse,
    .verify = tg_verify,
    .send_build = tg_send_build,
    .send_result = tg_send_result,
    .secrets = secrets,
    .config_check = tg_config_check,
    .binding_fields = tg_binding_fields,
};
