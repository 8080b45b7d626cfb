/* Conversations (docs/conversations.md): (tenant, channel, external chat), their messages and
 * events (src/conv/conv.c). The Lua side lives in src/store/lua/lib/conv.lua and the scripts under src/store/lua/; this is the C half that
 * the widget routes, the native API and the delivery engine share. */
#ifndef SWITCHBOARD_CONV_H
#define SWITCHBOARD_CONV_H

#include <cjson/cJSON.h>
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

/* A message in the pieces the scripts put together: mtail (message members after seq,
 * conversationId and sender) and etail (event data members after seq ... sender). */
typedef struct sb_msg {
    char id[37];
    char *mtail, *etail;
} sb_msg_t;
/* direction "in" or "out"; text and attachments (a validated array) may be NULL; platform_id
 * (NULL: none) is the message's id on its platform (platformMessageId). */
void sb_msg_init(sb_msg_t *m, const sb_event_cx_t *cx, const char *direction, const char *text,
                 const cJSON *attachments, const char *platform_id);
void sb_msg_free(sb_msg_t *m);

/* Validates {text, attachments} of a message body; 0 or -EINVAL with the field in e. */
struct sb_verr;
int sb_msg_validate(const cJSON *body, const cJSON **text, const cJSON **attachments, struct sb_verr *e);

/* A conversation's HGETALL as its API object. */
cJSON *sb_conv_json(const redisReply *hgetall);

/* Appends an outbound message (agent or operator) to a conversation and emits message_sent;
 * once_key (may be NULL) makes a repeated call with the same key a no-op ('DUP').
 * cb gets the script's reply: {'NOCONV'} | {'DUP'} | {'OK', message JSON}. */
int sb_conv_reply(sb_store_t *st, const sb_config_t *cfg, const char *tenant_id, const char *conv_id,
                  const char *sender_json, const char *text, const cJSON *attachments, const char *once_key,
                  sb_store_cb cb, void *data);

#endif
