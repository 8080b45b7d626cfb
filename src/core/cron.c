/* Cron schedules (cron.h): the 5 fields parsed into bit sets, and the next fire time searched
 * field by field in a zone's wall-clock time, then mapped back to UTC through sb_tz_offset
 * (tz.c). Pure: no I/O, no clock, no allocation. */
#include "switchboard/cron.h"

#include <stdarg.h>
#include <stdio.h>

#include "switchboard/common.h"

#define SEARCH_DAYS (5 * 366) /* "none within 5 years" */

/* ---- Parsing */

typedef struct {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] stands for lo + i */
    int n_names;
} field_t;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
static const field_t fields[5] = {
    {"minute", 0, 59, NULL, 0},          {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},    {"month", 1, 12, month_names, 12},
    {"day-of-week", 0, 7, day_names, 7},
};

/* Messages quote the expression, so they are formatted; one buffer per thread keeps the
 * parser callable from any loop thread. */
static _Thread_local char err_buf[128];

static int fail(const char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
    va_end(ap);
    if (err)
        *err = err_buf;
    return -EINVAL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* The digits p[0..n): their value, or -1 if there are none, -2 if they are not all digits. Big
 * numbers saturate (they are out of any range anyway). */
static int number(const char *p, int n)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return -2;
        x = x < 100000 ? x * 10 + (p[i] - '0') : x;
    }
    return n ? x : -1;
}

/* A number or (month, day of week) a name at *s, in the field's range. */
static int parse_value(const field_t *f, const char **s, const char *end, int *v, const char **err)
{
    const char *p = *s, *q = p;
    while (q < end && is_alnum(*q))
        q++;
    int n = (int)(q - p), x = number(p, n);
    if (x == -1)
        return p == end ? fail(err, "%s field: a value is missing", f->name)
                        : fail(err, "%s field: unexpected '%c'", f->name, *p);
    if (x >= 0 && (x < f->lo || x > f->hi))
        return fail(err, "%s field: %.*s is out of range %d-%d", f->name, SB_MIN(n, 12), p, f->lo, f->hi);
    if (x == -2) {
        for (x = 0; x < f->n_names; x++)
            if (n == 3 && (p[0] | 0x20) == f->names[x][0] && (p[1] | 0x20) == f->names[x][1] &&
                (p[2] | 0x20) == f->names[x][2])
                break;
        if (x == f->n_names)
            return fail(err, "%s field: unexpected '%.*s'", f->name, SB_MIN(n, 12), p);
        x += f->lo;
    }
    *v = x;
    *s = q;
    return 0;
}

/* One field, [s, end): comma-separated items, each '*', a value or a range, with an optional
 * step. Sets the field's bits in *bits. */
static int parse_field(const field_t *f, const char *s, const char *end, uint64_t *bits, bool *star, const char **err)
{
    *bits = 0;
    *star = (end - s == 1 && *s == '*') || (end - s == 3 && !memcmp(s, "*/1", 3));
    /* '*' and 'a/n' run to Saturday: a 7 there would add Sunday to "1/2". */
    int max = f->hi == 7 ? 6 : f->hi;
    for (;;) {
        int a, b, step = 1, rc;
        if (s == end || *s == ',')
            return fail(err, "%s field: empty list item", f->name);
        if (*s == '*') {
            a = f->lo;
            b = max;
            s++;
        } else {
            if ((rc = parse_value(f, &s, end, &a, err)) < 0)
                return rc;
            b = s < end && *s == '/' ? SB_MAX(a, max) : a;
            if (s < end && *s == '-') {
                s++;
                if ((rc = parse_value(f, &s, end, &b, err)) < 0)
                    return rc;
                if (b < a)
                    return fail(err, "%s field: range %d-%d runs backwards", f->name, a, b);
            }
        }
        if (s < end && *s == '/') {
            const char *p = ++s;
            while (s < end && is_alnum(*s))
                s++;
            step = number(p, (int)(s - p));
            if (step < 1 || step > f->hi)
                return fail(err, "%s field: a step must be a number 1-%d", f->name, f->hi);
        }
        if (s < end && *s != ',')
            return fail(err, "%s field: unexpected '%c'", f->name, *s);
        for (int v = a; v <= b; v += step)
            *bits |= UINT64_C(1) << (f->hi == 7 && v == 7 ? 0 : v);
        if (s == end)
            return 0;
        s++; /* the ',' */
    }
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_white(char c)
{
    return is_space(c) || c == '\r' || c == '\n';
}

int sb_cron_parse(const char *expr, sb_cron_t *out, const char **err)
{
    const char *s = expr, *e = expr + strlen(expr), *start[5], *end[5];
    while (s < e && is_white(*s))
        s++;
    while (e > s && is_white(e[-1]))
        e--;
    int n = 0;
    while (s < e) {
        if (n == 5)
            return fail(err, "expected 5 fields");
        start[n] = s;
        while (s < e && !is_space(*s))
            s++;
        end[n++] = s;
        while (s < e && is_space(*s))
            s++;
    }
    if (n != 5)
        return fail(err, "expected 5 fields");
    uint64_t bits[5];
    bool star[5];
    for (int i = 0; i < 5; i++) {
        int rc = parse_field(&fields[i], start[i], end[i], &bits[i], &star[i], err);
        if (rc < 0)
            return rc;
    }
    *out = (sb_cron_t){.minute = bits[0],
                       .hour = (uint32_t)bits[1],
                       .dom = (uint32_t)bits[2],
                       .month = (uint16_t)bits[3],
                       .dow = (uint8_t)bits[4],
                       .dom_star = star[2],
                       .dow_star = star[4]};
    return 0;
}

/* ---- The next fire time */

static int64_t floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

static int32_t offset(const sb_tz_t *z, int64_t utc)
{
    return z ? sb_tz_offset(z, utc) : 0;
}

/* Vixie cron: with both day fields restricted either may match; with one '*' only the other. */
static bool day_ok(const sb_cron_t *c, int64_t days, int dom)
{
    int wday = (int)(days + 4 - floordiv(days + 4, 7) * 7); /* 1970-01-01 was a Thursday */
    bool by_dom = c->dom >> dom & 1, by_dow = c->dow >> wday & 1;
    if (c->dom_star)
        return by_dow;
    if (c->dow_star)
        return by_dom;
    return by_dom || by_dow;
}

/* The first wall time >= *w (whole minutes, seconds since the epoch as if local time were UTC)
 * matching c, field by field; false if past limit. */
static bool next_match(const sb_cron_t *c, int64_t *w, int64_t limit)
{
    int64_t days = floordiv(*w, 86400), y;
    int mins = (int)((*w - days * 86400) / 60), h = mins / 60, mi = mins % 60, m, d;
    sb__civil_from_days(days, &y, &m, &d);
    while (days * 86400 <= limit) {
        if (!(c->month >> m & 1)) { /* to the 1st of the next month */
            days = m == 12 ? sb__days_from_civil(y + 1, 1, 1) : sb__days_from_civil(y, m + 1, 1);
            goto new_day;
        }
        uint32_t hours = c->hour & (UINT32_C(0xffffff) << h) & 0xffffff;
        if (!day_ok(c, days, d) || !hours) {
            days++;
            goto new_day;
        }
        if (__builtin_ctz(hours) != h) {
            h = __builtin_ctz(hours);
            mi = 0;
        }
        uint64_t minutes = c->minute & (~UINT64_C(0) << mi) & ((UINT64_C(1) << 60) - 1);
        if (minutes) {
            *w = days * 86400 + h * 3600 + __builtin_ctzll(minutes) * 60;
            return true;
        }
        mi = 0;
        if (++h < 24)
            continue;
        days++;
    new_day:
        sb__civil_from_days(days, &y, &m, &d);
        h = mi = 0;
    }
    return false;
}

/* The UTC instant that wall time w stands for: one, the earlier of two (clocks went back), or
 * the end of the gap w fell into (clocks went forward). The offsets a day either side bound
 * the instant: zones stay within 24h of UTC and change at most once in two days. */
static int64_t from_wall(const sb_tz_t *z, int64_t w)
{
    int64_t a = w - offset(z, w - 86400), b = w - offset(z, w + 86400);
    bool a_ok = a + offset(z, a) == w, b_ok = b + offset(z, b) == w;
    if (a_ok && b_ok)
        return SB_MIN(a, b);
    if (a_ok || b_ok)
        return a_ok ? a : b;
    int64_t lo = SB_MIN(a, b), hi = SB_MAX(a, b); /* the change is in (lo, hi] */
    int32_t before = offset(z, lo);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (offset(z, mid) == before)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

int sb_cron_next(const sb_cron_t *c, const sb_tz_t *z, int64_t after, int64_t *next)
{
    if (after < -(INT64_C(1) << 52) || after > INT64_C(1) << 52) /* past any calendar we serve */
        return -ENOENT;
    int64_t w = floordiv(after + offset(z, after), 60) * 60 + 60, limit = w + SEARCH_DAYS * INT64_C(86400);
    while (next_match(c, &w, limit)) {
        int64_t u = from_wall(z, w);
        if (u > after) { /* not so on the second pass of a repeated hour: its first pass is past */
            *next = u;
            return 0;
        }
        w += 60;
    }
    return -ENOENT;
}
