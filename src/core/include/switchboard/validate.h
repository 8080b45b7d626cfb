/* Pure checks of decoded JSON (src/core/validate.c): each returns 0 when the field is absent
 * (and not required) or valid, -EINVAL with the field and a sentence in sb_verr_t otherwise. */
#ifndef SWITCHBOARD_VALIDATE_H
#define SWITCHBOARD_VALIDATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sb_verr {
    char field[96];
    char detail[224];
} sb_verr_t;

int sb_verr_set(sb_verr_t *e, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* path prefixes the field name ("config.botToken"). Strings must be valid UTF-8 (the body's
 * parse checked it). */
int sb_v_string(const cJSON *obj, const char *field, const char *path, bool required, size_t minlen, size_t maxlen,
                const cJSON **out, sb_verr_t *e);
int sb_v_bool(const cJSON *obj, const char *field, const char *path, const cJSON **out, sb_verr_t *e);
int sb_v_url(const cJSON *obj, const char *field, const char *path, bool required, bool nullable, const cJSON **out,
             sb_verr_t *e);
int sb_v_uuid(const cJSON *obj, const char *field, const char *path, bool required, bool nullable, const cJSON **out,
              sb_verr_t *e);
bool sb_url_valid(const char *s);
bool sb_origin_valid(const char *s);
/* "<prefix><uuid>_<43 base64url chars>": tenant API keys (sbk_) and partner keys (sbp_), the id
 * they belong to in clear and 32 random bytes (only the SHA-256 of the whole key is stored).
 * True with the id. */
bool sb_prefixed_key_id(const char *key, size_t len, const char prefix[5], char id[37]);
#define SB_PREFIXED_KEY_SIZE (4 + 36 + 1 + 43 + 1)
/* A new such key for id (32 bytes of the CSPRNG) and the SHA-256 hex of it, what is stored. */
void sb_prefixed_key_new(const char prefix[5], const char *id, char key[SB_PREFIXED_KEY_SIZE], char hash[65]);
/* Refuses members not in allowed (NULL-terminated); path prefixes the field name. */
int sb_v_only(const cJSON *obj, const char *const *allowed, const char *path, sb_verr_t *e);

#endif
