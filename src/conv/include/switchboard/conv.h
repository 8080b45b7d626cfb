/* Conversations (docs/conversations.md): (tenant, channel, external chat), their messages and
 * events (src/conv/conv.c). The Lua side lives in src/store/lua/lib/conv.lua and the scripts under src/store/lua/; this is the C half that
 * the widget routes, the native API and the delivery engine share. */
#ifndef SWITCHBOARD_CONV_H
#define SWITCHBOARD_CONV_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "switchboard/config.h"
#include "switchboard/store.h"

/* When and which: the context every emitted event, command call and conversation change
 * carries (in the scripts: `cx`). */
typedef struct sb_event_cx {
    int64_t now;  /* ms since the epoch */
    char ts[20];  /* seed 001's "YYYY-MM-DD HH:MM:SS" (UTC) */
    char rfc[32]; /* RFC 3339 with ms (seed 003 envelopes, createdAt) */
    char eid[33]; /* 128 random bits, hex: the stem of delivery ids */
    char *json;   /* {now, ts, rfc, inst, eid} for the scripts */
} sb_event_cx_t;
void sb_event_cx_init(sb_event_cx_t *cx, const sb_config_t *cfg);
void sb_event_cx_free(sb_event_cx_t *cx);

#define SB_MSG_TEXT_MAX        4096 /* characters */
#define SB_MSG_ATTACHMENTS_MAX 10
#define SB_MSG_BUTTONS_MAX     10
#define SB_MSG_CARDS_MAX       10
#define SB_CARD_BUTTONS_MAX    3
#define SB_BUTTON_TITLE_MAX    80   /* characters */
#define SB_BUTTON_PAYLOAD_MAX  1000 /* characters */
#define SB_CARD_TITLE_MAX      80
#define SB_CARD_SUBTITLE_MAX   400

/* A message's content (content.c, docs/messages.md), validated and normalized: text, buttons
 * ({type: "postback", title, payload} | {type: "url", title, url}), cards ({title, subtitle?,
 * imageUrl?, itemUrl?, buttons}), attachments ({type: image|audio|video|file, url, name?,
 * contentType?}) and, for a customer's click, postback ({title?, payload}). Arrays are NULL
 * when empty; text NULL when none (it points into the parsed body). */
typedef struct sb_content {
    const char *text;
    cJSON *buttons, *cards, *attachments, *postback;
} sb_content_t;
/* What a route accepts besides text and attachments by URL: buttons and cards (what agents and
 * operators send), a postback (a customer's click), attachments by a platform's media id
 * (what the platforms' webhooks bring in). */
enum { SB_CONTENT_RICH = 1u, SB_CONTENT_POSTBACK = 2u, SB_CONTENT_MEDIA_ID = 4u };
/* Validates {text, attachments, buttons?, cards?, postback?} of a message body (those outside
 * allow are refused, and any other member but the route's own, extra: NULL-terminated, may be
 * NULL): 0 with c filled (sb_content_free), or -EINVAL with the field in e. Text is required
 * unless attachments, cards or a postback are given; buttons need text. */
struct sb_verr;
int sb_content_parse(const cJSON *body, unsigned allow, const char *const *extra, sb_content_t *c,
                     struct sb_verr *e);
/* A text-only content (text may be NULL); nothing to free. */
void sb_content_text(sb_content_t *c, const char *text);
/* A borrowed view of a message or send entry's content members (o outlives c; never freed). */
void sb_content_view(sb_content_t *c, const cJSON *o);
void sb_content_free(sb_content_t *c);
/* Adds c's members to o: text (null when none; with_text), attachments (always, [] when none),
 * buttons, cards, postback (when set). */
void sb_content_add(cJSON *o, const sb_content_t *c, bool with_text);
/* Buttons, cards or attachments: more than a platform's plain text. */
bool sb_content_rich(const sb_content_t *c);
/* What a plain-text chat shows (the text, then each attachment's link on a line of its own),
 * and the content for a platform's own rendering (send entries, docs/messages.md; NULL when
 * c is text only): both the caller's (sb_free, cJSON_free). */
char *sb_content_plain(const sb_content_t *c);
char *sb_content_rich_json(const sb_content_t *c);
/* "image", "audio", "video" or "file" by a MIME type (NULL: "file"). */
const char *sb_attachment_type_of(const char *content_type);

/* A message in the pieces the scripts put together: mtail (message members after seq,
 * conversationId and sender) and etail (event data members after seq ... sender). */
typedef struct sb_msg {
    char id[37];
    char *mtail, *etail;
} sb_msg_t;
/* direction "in" or "out"; platform_id (NULL: none) is the message's id on its platform
 * (platformMessageId). */
void sb_msg_init(sb_msg_t *m, const sb_event_cx_t *cx, const char *direction, const sb_content_t *c,
                 const char *platform_id);
/* The same with the message id given (a UUID decided earlier; NULL: a new one). */
void sb_msg_init_as(sb_msg_t *m, const sb_event_cx_t *cx, const char *direction, const sb_content_t *c,
                    const char *platform_id, const char *id);
void sb_msg_free(sb_msg_t *m);
/* The content members of a message (cbody) and of its event data (ebody: with content_type): the
 * parts of mtail and etail a stored proactive message keeps (docs/proactive.md); cJSON_free both. */
void sb_msg_content(const sb_content_t *c, char **cbody, char **ebody);

/* A conversation's HGETALL as its API object. */
cJSON *sb_conv_json(const redisReply *hgetall);

/* Appends an outbound message (agent or operator) to a conversation and emits message_sent;
 * once_key (may be NULL) makes a repeated call with the same key a no-op ('DUP'). unfit (may be
 * NULL): a JSON object {channel type: {field, detail}} of the platforms that cannot show c
 * (sb_content_unfit, channels); the script refuses the message for such a conversation.
 * cb gets the script's reply: {'NOCONV'} | {'DUP'} | {'UNFIT', field, detail} | {'OK', message JSON}. */
int sb_conv_reply(sb_store_t *st, const sb_config_t *cfg, const char *tenant_id, const char *conv_id,
                  const char *sender_json, const sb_content_t *c, const char *unfit, const char *once_key,
                  sb_store_cb cb, void *data);

#endif
