/* Growable byte buffer with a declared maximum size: appends beyond `max` fail with -E2BIG
 * instead of growing without bound. */
#ifndef SWITCHBOARD_BUF_H
#define SWITCHBOARD_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sb_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
} sb_buf_t;

void sb_buf_init(sb_buf_t *b, size_t max);
void sb_buf_free(sb_buf_t *b);
void sb_buf_reset(sb_buf_t *b);
int sb_buf_reserve(sb_buf_t *b, size_t extra);
int sb_buf_append(sb_buf_t *b, const void *p, size_t n);
int sb_buf_puts(sb_buf_t *b, const char *s);
int sb_buf_putc(sb_buf_t *b, char c);
int sb_buf_printf(sb_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sb_buf_vprintf(sb_buf_t *b, const char *fmt, va_list ap);
int sb_buf_put_u64(sb_buf_t *b, unsigned long long v);
/* Appends s as the inside of a JSON string (quotes not included), escaping as needed. */
int sb_buf_json_escape(sb_buf_t *b, const char *s, size_t n);
/* Drops the first n bytes. */
void sb_buf_consume(sb_buf_t *b, size_t n);

#endif
