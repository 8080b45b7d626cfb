/* Shared by the platform files of src/channels/ (slack.c, teams.c, telegram.c, whatsapp.c) and
 * nothing else: reading a payload into the request's memory with errors that name the field
 * (inbound.c), the channel config schema and index fields (platform.c), pieces of a send
 * request (outbound.c). Each platform's table entry is declared here for platform.c. */
#ifndef SB_CHANNELS_INTERNAL_H
#define SB_CHANNELS_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "switchboard/buf.h"
#include "switchboard/platform.h"
#include "switchboard/validate.h"

extern const sb_platform_t sb__platform_apichat, sb__platform_slack, sb__platform_teams, sb__platform_telegram,
    sb__platform_whatsapp;

#define SB_CLAIM_TTL_S   86400 /* event ids are remembered 24 h (SPEC 5) */
#define SB_EVENT_ID_MAX  200
#define SB_IDENT_MAX     128 /* a platform identity in an index field */
#define SB_HMAC_HEX_SIZE 64

/* ---------- inbound.c: a payload into the request's memory ---------- */

void *sb__in_alloc(sb_inbound_t *in, size_t n);
/* A copy of s in the request's memory; NULL stays NULL. */
const char *sb__in_strdup(sb_inbound_t *in, const char *s);
/* A header, query or path parameter (sb_in_source_t.get). */
const char *sb__in_get(sb_inbound_t *in, int kind, const char *name, size_t *len);
/* Sets in->err (field NULL: none) and returns code. */
int sb__in_fail(sb_inbound_t *in, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The body through the validated parse (json.h) as one object; NULL with -EINVAL set. */
cJSON *sb__in_json_object(sb_inbound_t *in);
/* A string member: *out NULL when absent; -EINVAL when present and not a string, or longer
 * than max bytes. field names it in the error ("event.channel"). */
int sb__in_str(sb_inbound_t *in, const cJSON *o, const char *name, const char *field, size_t max, const char **out);
/* A string member of o: *out NULL when absent, else pointing into o; -EINVAL naming field when
 * it is not a string. */
int sb__in_str_ref(sb_inbound_t *in, const cJSON *o, const char *name, const char *field, const char **out);
/* A string member the content may do without (media names, MIME types): *out NULL when absent,
 * empty or longer than max bytes; -EINVAL naming "<path>.<name>" when it is not a string. *out
 * points into o. */
int sb__in_opt_str(sb_inbound_t *in, const cJSON *o, const char *path, const char *name, size_t max, const char **out);
/* The content object c ({attachments?, postback?}, docs/messages.md) as m's content, in the
 * request's memory; c is freed. */
void sb__in_content(sb_inbound_t *in, sb_in_msg_t *m, cJSON *c);
/* A message text: *out NULL when absent; -EINVAL when not a non-blank string of at most
 * SB_MSG_TEXT_MAX characters. */
int sb__in_text(sb_inbound_t *in, const cJSON *o, const char *name, const char *field, const char **out);
/* A JSON number that is an integer a double holds exactly (|v| <= 2^53): true with *out.
 * Checked before any cast, so 1e300 or NaN from the network is just "not an integer". */
bool sb__json_int(const cJSON *v, long long *out);
/* One more message (zeroed), the array grown by doubling (most payloads carry one). */
sb_in_msg_t *sb__in_add_msg(sb_inbound_t *in);
/* The index of field among in->fields, added when new; -1 when SB_INBOUND_MAX_BINDINGS are
 * there already. */
int sb__in_field(sb_inbound_t *in, const char *field);
/* A platform identity that may go into an index field as it is: 1..SB_IDENT_MAX bytes, no
 * space, brace or line break. */
bool sb__ident_ok(const char *s);
/* hex == hex HMAC-SHA256(secret, the parts), in constant time; false for a NULL secret. */
bool sb__hex_hmac_equal(const char *secret, const void *const *parts, const size_t *lens, size_t nparts,
                        const char *hex, size_t hexlen);
/* sb_token_equal against a binding's secret and its rotation twin. */
bool sb__token_either(const sb_binding_t *b, const char *name, const char *given);
/* b is a found binding of this type. */
bool sb__binding_is(const sb_binding_t *b, const char *type);

/* ---------- render.c: a message's content in the platforms' requests ---------- */

/* The requests of a content sent one piece at a time (Telegram, WhatsApp): the text with its
 * buttons first, then each attachment, then each card. */
enum { SB_PART_TEXT, SB_PART_ATTACHMENT, SB_PART_CARD };
typedef struct sb__part {
    int kind;
    const cJSON *item; /* the attachment or card (NULL for the text) */
    bool more;         /* another part follows */
} sb__part_t;
/* Part i of c: 0, or -ERANGE past the last. */
int sb__content_part(const sb_content_t *c, unsigned i, sb__part_t *out);
/* The string member name of o ("" when absent). */
const char *sb__str(const cJSON *o, const char *name);
/* A card as plain lines, NUL-terminated into t: its title, its subtitle, and (with_link) its
 * itemUrl, each present one on a line of its own. */
void sb__card_text(sb_buf_t *t, const cJSON *card, bool with_link);
/* Counts of c's buttons by type. */
void sb__button_counts(const cJSON *buttons, int *postbacks, int *links);
/* A limit a platform puts on a string member of each button (of the message and of its cards):
 * 0, or -EINVAL naming the first one over max characters (bytes: count bytes). */
int sb__buttons_max(const sb_content_t *c, const char *member, size_t max, bool bytes, const char *platform,
                    sb_verr_t *e);

/* ---------- platform.c: the channel config (SPEC 3) ---------- */

typedef struct sb__config_schema {
    const char *type;
    const char *ident;              /* required, unique across tenants, indexed as it is */
    const char *const *members;     /* every member allowed */
    const char *const *url_lists;   /* arrays of http(s) URLs */
    const char *const *jwks;        /* JWKS objects {"keys": [...]} */
    const char *const *urls;        /* one http(s) URL */
    const char *const *plain_index; /* optional members indexed as they are (checked like ident) */
} sb__config_schema_t;

extern const char *const sb__none[];

/* Validates `in` against the schema and merges it into cfg (config_check's work): members of
 * the schema only, strings non-empty, null clears an optional member, ident present after the
 * merge, indexed members usable in an index field. */
int sb__config_merge(cJSON *cfg, const cJSON *in, const sb__config_schema_t *s, sb_verr_t *e);
/* Appends "<prefix>:<value>" (hashed: the SHA-256 hex of the value) when cfg has the member. */
void sb__field_add(cJSON *fields, const cJSON *cfg, const char *prefix, const char *member, bool hashed);

/* ---------- outbound.c: pieces of a send ---------- */

/* A non-empty string member of a channel config, else NULL. */
const char *sb__cfg_str(const cJSON *cfg, const char *name);
/* Percent-encodes everything but RFC 3986's unreserved characters (a path segment, a form value). */
void sb__put_escaped(sb_buf_t *b, const char *s);
/* An id (a non-empty string, or a non-negative integer) into out. */
void sb__put_id(const cJSON *v, char *out, size_t cap);
/* "the channel has no <name> to send with": -EINVAL. */
int sb__send_missing(char *err, size_t errlen, const char *name);

#endif
