/* Shared definitions: error convention, small string views, helpers every module uses.
 * Error convention: functions return 0 (or a length) on success and a negative errno-style
 * code on failure. */
#ifndef SWITCHBOARD_COMMON_H
#define SWITCHBOARD_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SB_ARRAY_SIZE(a)                   (sizeof(a) / sizeof((a)[0]))
#define SB_MIN(a, b)                       ((a) < (b) ? (a) : (b))
#define SB_MAX(a, b)                       ((a) > (b) ? (a) : (b))
#define SB_UNUSED(x)                       ((void)(x))
#define SB_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A borrowed, not necessarily NUL-terminated, byte range. */
typedef struct sb_str {
    const char *p;
    size_t len;
} sb_str_t;

#define SB_STR_LIT(s) ((sb_str_t){(s), sizeof(s) - 1})

static inline sb_str_t sb_str(const char *s)
{
    sb_str_t r = {s, s ? strlen(s) : 0};
    return r;
}

static inline int sb_str_eq(sb_str_t a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.p, lit, n) == 0;
}

#endif
