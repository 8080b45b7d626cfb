/* Bounded growable buffers (see buf.h). */
#include "switchboard/buf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/text.h"

void sb_buf_init(sb_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sb_buf_free(sb_buf_t *b)
{
    sb_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void sb_buf_reset(sb_buf_t *b)
{
    b->len = 0;
}

int sb_buf_reserve(sb_buf_t *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return -E2BIG;
    size_t need = b->len + extra;
    if (need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need + 1)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->data = sb_realloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int sb_buf_append(sb_buf_t *b, const void *p, size_t n)
{
    int rc = sb_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int sb_buf_puts(sb_buf_t *b, const char *s)
{
    return sb_buf_append(b, s, strlen(s));
}

int sb_buf_putc(sb_buf_t *b, char c)
{
    return sb_buf_append(b, &c, 1);
}

int sb_buf_vprintf(sb_buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, cp);
    va_end(cp);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(small))
        return sb_buf_append(b, small, (size_t)n);
    int rc = sb_buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int sb_buf_printf(sb_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sb_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int sb_buf_put_u64(sb_buf_t *b, unsigned long long v)
{
    char tmp[24];
    return sb_buf_append(b, tmp, sb_fmt_u64(v, tmp));
}

int sb_buf_json_escape(sb_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        int rc = sb_buf_append(b, s + start, i - start);
        if (rc < 0)
            return rc;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if ((rc = sb_buf_append(b, esc, elen)) < 0)
            return rc;
        start = i + 1;
    }
    return sb_buf_append(b, s + start, n - start);
}

void sb_buf_consume(sb_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}
