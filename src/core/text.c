/* Pure text helpers (see text.h). */
#include "switchboard/text.h"

#include <stdio.h>
#include <time.h>

void sb_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static size_t b64(const unsigned char *in, size_t n, char *out, const char *alphabet, bool pad)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = alphabet[v >> 6 & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t sb_base64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t sb_base64url_encode(const unsigned char *in, size_t n, char *out)
{
    return b64(in, n, out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false);
}

size_t sb_base64_encode(const unsigned char *in, size_t n, char *out)
{
    return b64(in, n, out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true);
}

bool sb_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

bool sb_ascii_ieq(const char *a, size_t alen, const char *b)
{
    size_t i = 0;
    for (; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (!y)
            return false;
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
    }
    return b[i] == '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sb_percent_decode(const char *in, size_t n, char *out, size_t outcap, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o >= outcap)
            return -E2BIG;
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -EINVAL;
            int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
            if (h < 0 || l < 0)
                return -EINVAL;
            out[o++] = (char)(h << 4 | l);
            i += 2;
        } else if (c == '+' && plus_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    if (o >= outcap)
        return -E2BIG;
    out[o] = '\0';
    return (int)o;
}

size_t sb_fmt_u64(uint64_t v, char *out)
{
    char tmp[20];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t n = sizeof(tmp) - i;
    memcpy(out, tmp + i, n);
    out[n] = '\0';
    return n;
}

int sb_str_join(char *out, size_t cap, const char *const *parts, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(parts[i]);
        if (l >= cap - len) {
            memcpy(out + len, parts[i], cap - len - 1);
            out[cap - 1] = '\0';
            return -E2BIG;
        }
        memcpy(out + len, parts[i], l);
        len += l;
    }
    out[len] = '\0';
    return (int)len;
}

int sb_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    if (v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

bool sb_uuid_valid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (hexval(s[i]) < 0) {
            return false;
        }
    }
    return true;
}

/* t / unit rounded down, and what is left (0 .. unit - 1): times before 1970 too. */
static void split_time(int64_t t, int64_t unit, int64_t *secs, unsigned *frac)
{
    *secs = t / unit;
    int64_t r = t % unit;
    if (r < 0) {
        r += unit;
        (*secs)--;
    }
    *frac = (unsigned)r;
}

/* v as `width` digits with leading zeros. */
static char *put_digits(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* "YYYY-MM-DDTHH:MM:SS.<frac>Z" with `digits` fractional digits. Years 0..9999 are written
 * here (the date from the day count, proleptic Gregorian: H. Hinnant's civil_from_days),
 * without gmtime_r, strftime or printf: event and message time stamps are made on hot paths.
 * Other years go through the C library. */
static void rfc3339(int64_t secs, unsigned frac, int digits, char out[32])
{
    int64_t days;
    unsigned sod;
    split_time(secs, 86400, &days, &sod);
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = (int64_t)yoe + era * 400 + (month <= 2);
    if (year < 0 || year > 9999) {
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(out + n, 32 - n, ".%0*uZ", digits, frac);
        return;
    }
    char *p = put_digits(out, (unsigned)year, 4);
    *p++ = '-';
    p = put_digits(p, month, 2);
    *p++ = '-';
    p = put_digits(p, day, 2);
    *p++ = 'T';
    p = put_digits(p, sod / 3600, 2);
    *p++ = ':';
    p = put_digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, sod % 60, 2);
    *p++ = '.';
    p = put_digits(p, frac, digits);
    *p++ = 'Z';
    *p = '\0';
}

void sb_time_rfc3339(int64_t unix_ms, char out[32])
{
    int64_t s;
    unsigned f;
    split_time(unix_ms, 1000, &s, &f);
    rfc3339(s, f, 3, out);
}

void sb_time_rfc3339_us(int64_t unix_us, char out[32])
{
    int64_t s;
    unsigned f;
    split_time(unix_us, 1000000, &s, &f);
    rfc3339(s, f, 6, out);
}

bool sb_query_get(sb_str_t query, const char *key, sb_str_t *value)
{
    size_t klen = strlen(key);
    const char *p = query.p, *end = query.p + query.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == klen && memcmp(p, key, klen) == 0) {
            value->p = eq ? eq + 1 : pe;
            value->len = (size_t)(pe - value->p);
            return true;
        }
        p = pe + 1;
    }
    return false;
}

int sb_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+' || c == '-')
            v = 62;
        else if (c == '/' || c == '_')
            v = 63;
        else if (c == '=')
            break;
        else
            return -EINVAL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -E2BIG;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (int)o;
}

size_t sb_utf8_excerpt(const char *s, size_t n, size_t max_chars, char *out)
{
    size_t o = 0, chars = 0, i = 0;
    while (i < n && chars < max_chars) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n || !sb_utf8_valid(s + i, len) || c == 0) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        }
        chars++;
    }
    out[o] = '\0';
    return o;
}

int sb_rfc3339_parse(const char *s, int64_t *unix_ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -EINVAL;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (!digits)
            return -EINVAL;
        while (digits < 3) {
            ms *= 10;
            digits++;
        }
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
        offset = (int64_t)(hh * 60 + mm) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    *unix_ms = ((int64_t)timegm(&tm) - offset) * 1000 + ms;
    return 0;
}

size_t sb_utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

void sb_trim_ows(const char **s, size_t *n)
{
    const char *p = skip_ows(*s, *s + *n), *end = *s + *n;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *s = p;
    *n = (size_t)(end - p);
}

/* A qvalue ("0" ["." 0*3DIGIT] / "1" ["." 0*3"0"]) above zero; a malformed one counts as zero. */
static bool qvalue_positive(const char *p, const char *end)
{
    size_t n = (size_t)(end - p);
    sb_trim_ows(&p, &n);
    end = p + n;
    if (p == end || (*p != '0' && *p != '1'))
        return false;
    bool positive = *p == '1';
    if (++p == end)
        return positive;
    if (*p++ != '.' || end - p > 3)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (*p != '0')
            positive = true;
    }
    return positive;
}

bool sb_accepts_coding(const char *v, size_t n, const char *coding)
{
    int named = -1, star = -1; /* -1: not listed; 0: q=0; 1: acceptable */
    size_t cl = strlen(coding);
    const char *p = v, *end = v + n;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end;
        const char *t = skip_ows(p, ie), *te = t;
        while (te < ie && *te != ';' && *te != ' ' && *te != '\t')
            te++;
        int ok = 1; /* parameters: only q matters */
        for (const char *q = te; q < ie && (q = memchr(q, ';', (size_t)(ie - q))) != NULL;) {
            q = skip_ows(q + 1, ie);
            if (ie - q >= 2 && (*q == 'q' || *q == 'Q') && q[1] == '=') {
                const char *qe = memchr(q, ';', (size_t)(ie - q));
                ok = qvalue_positive(q + 2, qe ? qe : ie);
            }
        }
        size_t tl = (size_t)(te - t);
        if (tl == cl && sb_ascii_ieq(t, tl, coding))
            named = ok;
        else if (tl == 1 && *t == '*')
            star = ok;
        p = comma ? comma + 1 : end;
    }
    return named >= 0 ? named == 1 : star == 1;
}

bool sb_blank(const char *s)
{
    for (; *s; s++)
        if (!(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
            return false;
    return true;
}
