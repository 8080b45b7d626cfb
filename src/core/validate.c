/* Pure checks of decoded JSON (validate.h): typed fields that name the bad one, URLs and
 * origins. No I/O, no request, no answer: callers turn an sb_verr_t into one. */
#include "switchboard/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/crypto.h"
#include "switchboard/text.h"

int sb_verr_set(sb_verr_t *e, const char *field, const char *fmt, ...)
{
    snprintf(e->field, sizeof(e->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static void join(char *out, size_t n, const char *path, const char *field)
{
    if (path && *path)
        snprintf(out, n, "%s.%s", path, field);
    else
        snprintf(out, n, "%s", field);
}

int sb_v_string(const cJSON *obj, const char *field, const char *path, bool required, size_t minlen, size_t maxlen,
                const cJSON **out, sb_verr_t *e)
{
    char name[96];
    join(name, sizeof(name), path, field);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = NULL;
    if (!v) {
        if (required)
            return sb_verr_set(e, name, "'%s' is required", name);
        return 0;
    }
    if (!cJSON_IsString(v))
        return sb_verr_set(e, name, "'%s' must be a string", name);
    size_t len = strlen(v->valuestring);
    if (len < minlen)
        return sb_verr_set(e, name, minlen == 1 ? "'%s' must not be empty" : "'%s' is too short", name);
    if (len > maxlen)
        return sb_verr_set(e, name, "'%s' is longer than %zu bytes", name, maxlen);
    *out = v;
    return 0;
}

int sb_v_bool(const cJSON *obj, const char *field, const char *path, const cJSON **out, sb_verr_t *e)
{
    char name[96];
    join(name, sizeof(name), path, field);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = NULL;
    if (!v)
        return 0;
    if (!cJSON_IsBool(v))
        return sb_verr_set(e, name, "'%s' must be true or false", name);
    *out = v;
    return 0;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
}

/* Checks "host[:port]" or "[v6][:port]" in s[0..n). */
static bool authority_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    size_t i = 0;
    if (s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        if (!rb || rb == s + 1)
            return false;
        for (const char *p = s + 1; p < rb; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == ':' ||
                  *p == '.'))
                return false;
        i = (size_t)(rb - s) + 1;
    } else {
        while (i < n && host_char(s[i]))
            i++;
        if (i == 0)
            return false;
    }
    if (i == n)
        return true;
    if (s[i] != ':')
        return false;
    uint64_t port;
    return sb_parse_u64(s + i + 1, n - i - 1, 65535, &port) == 0 && port > 0;
}

static size_t scheme_len(const char *s)
{
    if (strncmp(s, "https://", 8) == 0)
        return 8;
    if (strncmp(s, "http://", 7) == 0)
        return 7;
    return 0;
}

bool sb_url_valid(const char *s)
{
    size_t sl = scheme_len(s);
    if (!sl)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    const char *a = s + sl;
    size_t n = strcspn(a, "/?#");
    if (memchr(a, '@', n)) /* no credentials in URLs: they would end up in logs */
        return false;
    return authority_valid(a, n);
}

bool sb_origin_valid(const char *s)
{
    size_t sl = scheme_len(s);
    if (!sl)
        return false;
    const char *a = s + sl;
    size_t n = strlen(a);
    return strcspn(a, "/?#@") == n && authority_valid(a, n);
}

int sb_v_url(const cJSON *obj, const char *field, const char *path, bool required, bool nullable, const cJSON **out,
             sb_verr_t *e)
{
    char name[96];
    join(name, sizeof(name), path, field);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = NULL;
    if (!v || (nullable && cJSON_IsNull(v))) {
        if (required)
            return sb_verr_set(e, name, "'%s' is required", name);
        *out = v;
        return 0;
    }
    if (!cJSON_IsString(v))
        return sb_verr_set(e, name, "'%s' must be a string", name);
    if (strlen(v->valuestring) > 2048 || !sb_url_valid(v->valuestring))
        return sb_verr_set(e, name, "'%s' must be an absolute http:// or https:// URL", name);
    *out = v;
    return 0;
}

int sb_v_uuid(const cJSON *obj, const char *field, const char *path, bool required, bool nullable, const cJSON **out,
              sb_verr_t *e)
{
    char name[96];
    join(name, sizeof(name), path, field);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    *out = NULL;
    if (!v || (nullable && cJSON_IsNull(v))) {
        if (required)
            return sb_verr_set(e, name, "'%s' is required", name);
        *out = v;
        return 0;
    }
    if (!cJSON_IsString(v) || !sb_uuid_valid(v->valuestring, strlen(v->valuestring)))
        return sb_verr_set(e, name, "'%s' must be a UUID string", name);
    *out = v;
    return 0;
}

int sb_v_only(const cJSON *obj, const char *const *allowed, const char *path, sb_verr_t *e)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, it->string) == 0)
                ok = true;
        if (!ok) {
            char name[96];
            join(name, sizeof(name), path, it->string);
            return sb_verr_set(e, name, "unknown field '%s'", name);
        }
    }
    return 0;
}

bool sb_prefixed_key_id(const char *key, size_t len, const char prefix[5], char id[37])
{
    /* prefix (4) + 36 (uuid) + _ + 43 (32 random bytes, base64url) */
    if (len != 4 + 36 + 1 + 43 || memcmp(key, prefix, 4) != 0 || key[40] != '_')
        return false;
    if (!sb_uuid_valid(key + 4, 36))
        return false;
    for (size_t i = 41; i < len; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    memcpy(id, key + 4, 36);
    id[36] = '\0';
    return true;
}

void sb_prefixed_key_new(const char prefix[5], const char *id, char key[SB_PREFIXED_KEY_SIZE], char hash[65])
{
    char secret[48];
    sb_random_token(secret, 32);
    snprintf(key, SB_PREFIXED_KEY_SIZE, "%.4s%.36s_%.43s", prefix, id, secret);
    sb_sha256_hex(key, strlen(key), hash);
}
