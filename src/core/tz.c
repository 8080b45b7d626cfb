/* Time zones (tz.h): our own reader of TZif files (RFC 8536) and evaluator of their POSIX TZ
 * footer rule, the process-wide table of zones filled once at start, and the calendar
 * arithmetic (cron.c's too). Owns the reading of the zone directory; calls only the allocator.
 * No libc time zone function: they read the process-global TZ and are not thread-safe. */
#include "switchboard/tz.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "switchboard/alloc.h"
#include "switchboard/common.h"

#define TZ_NAME_MAX  64
#define TZ_FILE_MAX  (256 * 1024) /* the largest zone file is ~4 KiB (Debian's "fat" ones) */
#define TZ_WALK_DEEP 4            /* America/Argentina/Buenos_Aires is 3 deep */

/* ---- The calendar (tz.h; cron.c uses it too) */

int64_t sb__days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

void sb__civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097, doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* One end of daylight time in a POSIX TZ rule: Jn (1..365, Feb 29 never counted), n (0..365,
 * counted) or Mm.w.d (month m, week w 1..5 where 5 is the last, weekday d, Sunday 0). */
typedef struct {
    char kind;    /* 'J', 'n' or 'M' */
    int m, w, d;  /* J and n: the day number in d */
    int32_t time; /* local time of the change, -167h..167h (RFC 8536 3.3.1) */
} tz_date_t;

typedef struct {
    int32_t std, dst; /* seconds east of UTC */
    bool has_dst;
    tz_date_t start, end; /* start: into dst (given in std time); end: back (given in dst time) */
} tz_rule_t;

struct sb_tz {
    char name[TZ_NAME_MAX + 1];
    size_t n;           /* transitions */
    const int64_t *at;  /* transition instants, strictly ascending */
    const int32_t *off; /* off[i]: offset in effect from at[i] */
    int32_t off0;       /* before the first transition: time type 0 */
    bool has_rule;      /* the footer, for instants after at[n - 1] (all of them if n is 0) */
    tz_rule_t rule;
    int64_t data[]; /* at[n], then off[n] */
};

static const sb_tz_t utc_zone = {.name = "UTC"};

static int64_t floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

/* ---- POSIX TZ strings: "CET-1CEST,M3.5.0,M10.5.0/3", "<+03>-3", "<-02>2<-01>,M3.5.0/-1,..." */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Up to 3 digits, at most max; NULL if none or too big. */
static const char *tz_num(const char *s, int max, int *out)
{
    int v = 0, nd = 0;
    while (is_digit(*s) && nd < 3) {
        v = v * 10 + (*s++ - '0');
        nd++;
    }
    if (!nd || v > max)
        return NULL;
    *out = v;
    return s;
}

/* A zone abbreviation: 3+ letters, or <...> quoting letters, digits, '+' and '-'. */
static const char *tz_abbr(const char *s)
{
    const char *q = s;
    if (*s == '<') {
        for (q = s + 1; is_alpha(*q) || is_digit(*q) || *q == '+' || *q == '-'; q++)
            ;
        return *q == '>' && q - s > 3 ? q + 1 : NULL;
    }
    while (is_alpha(*q))
        q++;
    return q - s >= 3 ? q : NULL;
}

/* [+-]hh[:mm[:ss]] in seconds, hours at most max_h. */
static const char *tz_hms(const char *s, int max_h, int32_t *out)
{
    int sign = *s == '-' ? -1 : 1, h, m = 0, sec = 0;
    if (*s == '+' || *s == '-')
        s++;
    if (!(s = tz_num(s, max_h, &h)))
        return NULL;
    if (*s == ':' && !(s = tz_num(s + 1, 59, &m)))
        return NULL;
    if (*s == ':' && !(s = tz_num(s + 1, 59, &sec)))
        return NULL;
    *out = sign * (h * 3600 + m * 60 + sec);
    return s;
}

static const char *tz_date(const char *s, tz_date_t *d)
{
    d->kind = *s == 'M' || *s == 'J' ? *s++ : 'n';
    d->time = 7200; /* 02:00 unless told */
    if (d->kind == 'M') {
        if (!(s = tz_num(s, 12, &d->m)) || *s != '.' || !(s = tz_num(s + 1, 5, &d->w)) || *s != '.' ||
            !(s = tz_num(s + 1, 6, &d->d)) || d->m < 1 || d->w < 1)
            return NULL;
    } else if (!(s = tz_num(s, 365, &d->d)) || (d->kind == 'J' && d->d < 1)) {
        return NULL;
    }
    if (*s == '/')
        s = tz_hms(s + 1, 167, &d->time);
    return s;
}

static int tz_rule_parse(const char *s, tz_rule_t *r)
{
    int32_t v;
    if (!(s = tz_abbr(s)) || !(s = tz_hms(s, 24, &v)))
        return -EINVAL;
    r->std = r->dst = -v; /* POSIX counts hours west */
    r->has_dst = false;
    if (!*s)
        return 0;
    if (!(s = tz_abbr(s)))
        return -EINVAL;
    r->dst = r->std + 3600;
    if (*s && *s != ',') {
        if (!(s = tz_hms(s, 24, &v)))
            return -EINVAL;
        r->dst = -v;
    }
    /* A daylight name without rules means "implementation-defined" dates: no TZif file has one. */
    if (*s != ',' || !(s = tz_date(s + 1, &r->start)) || *s != ',' || !(s = tz_date(s + 1, &r->end)) || *s)
        return -EINVAL;
    r->has_dst = true;
    return 0;
}

/* The day (since the epoch) on which the rule date d falls in year y. */
static int64_t rule_day(const tz_date_t *d, int64_t y)
{
    int64_t jan1 = sb__days_from_civil(y, 1, 1);
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d->kind == 'J')
        return jan1 + d->d - 1 + (leap && d->d >= 60);
    if (d->kind == 'n')
        return jan1 + d->d;
    int64_t first = sb__days_from_civil(y, d->m, 1);
    int64_t day = first + ((d->d - (first + 4) % 7) % 7 + 14) % 7 + (d->w - 1) * 7; /* 1970-01-01: Thursday */
    int64_t next = d->m == 12 ? sb__days_from_civil(y + 1, 1, 1) : sb__days_from_civil(y, d->m + 1, 1);
    while (day >= next) /* week 5: the last one */
        day -= 7;
    return day;
}

/* Whichever change of the years around utc came last decides, so changes at times past 24h
 * or below 0 (RFC 8536 3.3.1) and all-year daylight time ("...,0/0,J365/25") need no case. */
static int32_t rule_offset(const tz_rule_t *r, int64_t utc)
{
    if (!r->has_dst)
        return r->std;
    int64_t y, best = INT64_MIN;
    int m, d;
    bool dst = false;
    sb__civil_from_days(floordiv(SB_MAX(SB_MIN(utc, INT64_C(1) << 52), -(INT64_C(1) << 52)), 86400), &y, &m, &d);
    for (int64_t yy = y - 1; yy <= y + 1; yy++) {
        int64_t start = rule_day(&r->start, yy) * 86400 + r->start.time - r->std;
        int64_t end = rule_day(&r->end, yy) * 86400 + r->end.time - r->dst;
        if (start <= utc && start >= best) { /* a start wins a tie with last year's end: all-year DST */
            best = start;
            dst = true;
        }
        if (end <= utc && end > best) {
            best = end;
            dst = false;
        }
    }
    return dst ? r->dst : r->std;
}

int32_t sb_tz_offset(const sb_tz_t *z, int64_t utc)
{
    if (z->n == 0)
        return z->has_rule ? rule_offset(&z->rule, utc) : z->off0;
    if (utc < z->at[0])
        return z->off0;
    if (utc > z->at[z->n - 1] && z->has_rule)
        return rule_offset(&z->rule, utc);
    size_t lo = 0, hi = z->n; /* the last at[i] <= utc is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= utc)
            lo = mid;
        else
            hi = mid;
    }
    return z->off[lo];
}

/* ---- TZif files */

static int64_t be(const unsigned char *p, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return bytes == 4 ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
}

/* Reads the header at p: cnt gets isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt and
 * *size the length of the data block after it (times of tsize bytes). False if it does not fit. */
static bool tzif_header(const unsigned char *p, size_t len, size_t tsize, uint64_t cnt[6], size_t *size)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    for (int i = 0; i < 6; i++)
        cnt[i] = (uint64_t)be(p + 20 + 4 * i, 4) & 0xffffffffu;
    uint64_t n = cnt[3] * (tsize + 1) + cnt[4] * 6 + cnt[5] + cnt[2] * (tsize + 4) + cnt[1] + cnt[0];
    *size = (size_t)n;
    return n <= len - 44;
}

static int tzif_parse(const unsigned char *p, size_t len, sb_tz_t **out)
{
    uint64_t cnt[6];
    size_t tsize = 4, size;
    if (!tzif_header(p, len, 4, cnt, &size) || (p[4] != 0 && (p[4] < '2' || p[4] > '4')))
        return -EINVAL;
    if (p[4]) { /* version 2+: skip the 32-bit data for the 64-bit one and its footer */
        p += 44 + size;
        len -= 44 + size;
        tsize = 8;
        if (!tzif_header(p, len, 8, cnt, &size))
            return -EINVAL;
    }
    size_t n = cnt[3], ntypes = cnt[4];
    /* Leap second records (the right/ tree) would make the times TAI-like, not POSIX seconds. */
    if (ntypes == 0 || cnt[2] != 0 || (cnt[1] && cnt[1] != ntypes) || (cnt[0] && cnt[0] != ntypes))
        return -EINVAL;
    const unsigned char *times = p + 44, *idx = times + n * tsize, *types = idx + n;
    for (size_t i = 0; i < ntypes; i++) {
        int64_t o = be(types + 6 * i, 4);
        if (o < -89999 || o > 93599 || types[6 * i + 4] > 1 || types[6 * i + 5] >= cnt[5])
            return -EINVAL;
    }
    tz_rule_t rule = {0};
    bool has_rule = false;
    if (tsize == 8) { /* the footer: "\n" TZ string "\n" */
        const unsigned char *f = p + 44 + size, *end = p + len;
        const unsigned char *nl = f < end && *f == '\n' ? memchr(f + 1, '\n', (size_t)(end - f - 1)) : NULL;
        char tz[128];
        if (!nl || (size_t)(nl - f - 1) >= sizeof(tz))
            return -EINVAL;
        memcpy(tz, f + 1, (size_t)(nl - f - 1));
        tz[nl - f - 1] = '\0';
        if (tz[0] && tz_rule_parse(tz, &rule) < 0)
            return -EINVAL;
        has_rule = tz[0] != '\0';
    }
    sb_tz_t *z = sb_calloc(1, sizeof(*z) + n * (sizeof(int64_t) + sizeof(int32_t)));
    int64_t *at = z->data;
    int32_t *off = (int32_t *)(at + n);
    for (size_t i = 0; i < n; i++) {
        at[i] = be(times + i * tsize, tsize);
        if (idx[i] >= ntypes || (i && at[i] <= at[i - 1])) {
            sb_free(z);
            return -EINVAL;
        }
        off[i] = (int32_t)be(types + 6 * idx[i], 4);
    }
    z->n = n;
    z->at = at;
    z->off = off;
    z->off0 = (int32_t)be(types, 4);
    z->has_rule = has_rule;
    z->rule = rule;
    *out = z;
    return 0;
}

static int read_file(const char *path, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOTDIR ? -ENOENT : -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0)
        rc = -errno;
    else if (S_ISDIR(st.st_mode)) /* "Europe" names no zone */
        rc = -ENOENT;
    else if (!S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX)
        rc = -EINVAL;
    if (rc < 0)
        goto out;
    *buf = sb_malloc((size_t)st.st_size + 1);
    *len = 0;
    while (*len < (size_t)st.st_size) {
        ssize_t r = read(fd, *buf + *len, (size_t)st.st_size - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : -EINVAL;
            sb_free(*buf);
            goto out;
        }
        *len += (size_t)r;
    }
out:
    close(fd);
    return rc;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (!is_alpha(*p) && !is_digit(*p) && !strchr("/_+-", *p))
            return false;
    return true;
}

int sb_tz_load(const char *dir, const char *name, sb_tz_t **out)
{
    *out = NULL;
    if (!name_ok(name))
        return -EINVAL;
    if (!dir) {
        dir = getenv("TZDIR");
        if (!dir || !*dir)
            dir = "/usr/share/zoneinfo";
    }
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return -ENAMETOOLONG;
    unsigned char *buf;
    size_t len = 0;
    int rc = read_file(path, &buf, &len);
    if (rc == -ENOENT && strcmp(name, "UTC") == 0) {
        *out = sb_malloc(sizeof(**out));
        **out = utc_zone;
        return 0;
    }
    if (rc < 0)
        return rc;
    rc = tzif_parse(buf, len, out);
    sb_free(buf);
    if (rc == 0)
        snprintf((*out)->name, sizeof((*out)->name), "%s", name);
    return rc;
}

void sb_tz_free(sb_tz_t *z)
{
    sb_free(z);
}

/* ---- The process-wide table: written by sb_tz_preload before the threads start, then only read. */

static sb_tz_t **table;
static size_t table_n, table_cap;

static void walk(const char *root, const char *rel, int depth)
{
    char path[4096], child[TZ_NAME_MAX + 2];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (s[0] == '.' || (!*rel && (!strcmp(s, "posix") || !strcmp(s, "right") || !strcmp(s, "localtime") ||
                                      !strcmp(s, "posixrules"))))
            continue;
        if ((size_t)snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", s) > TZ_NAME_MAX || !name_ok(child))
            continue; /* "zone1970.tab", "tzdata.zi": no zone has a '.' */
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", root, child);
        if (stat(path, &st) < 0)
            continue;
        sb_tz_t *z;
        if (S_ISDIR(st.st_mode)) {
            if (depth < TZ_WALK_DEEP)
                walk(root, child, depth + 1);
        } else if (sb_tz_load(root, child, &z) == 0) {
            if (table_n == table_cap) {
                table_cap = table_cap ? 2 * table_cap : 512;
                table = sb_realloc(table, table_cap * sizeof(*table));
            }
            table[table_n++] = z;
        }
    }
    closedir(d);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(sb_tz_t *const *)a)->name, (*(sb_tz_t *const *)b)->name);
}

int sb_tz_preload(const char *dir)
{
    sb_tz_unload();
    if (!dir) {
        dir = getenv("TZDIR");
        if (!dir || !*dir)
            dir = "/usr/share/zoneinfo";
    }
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    walk(dir, "", 0);
    if (table_n)
        qsort(table, table_n, sizeof(*table), by_name);
    return (int)table_n;
}

const sb_tz_t *sb_tz_find(const char *name)
{
    size_t lo = 0, hi = table_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, table[mid]->name);
        if (c == 0)
            return table[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return strcmp(name, "UTC") == 0 ? &utc_zone : NULL;
}

void sb_tz_unload(void)
{
    for (size_t i = 0; i < table_n; i++)
        sb_tz_free(table[i]);
    sb_free(table);
    table = NULL;
    table_n = table_cap = 0;
}
