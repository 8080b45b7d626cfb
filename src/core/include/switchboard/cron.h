/* Time zones and cron schedules (src/core/tz.c, src/core/cron.c). Zones are read from the
 * system's TZif files by our own parser: no libc time zone call (setenv TZ + localtime is
 * process-global and not thread-safe). Cron expressions are parsed once and evaluated in a
 * zone's local wall-clock time. No clock: callers pass `after`. */
#ifndef SWITCHBOARD_CRON_H
#define SWITCHBOARD_CRON_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sb_tz sb_tz_t; /* a parsed zone: immutable, shared by all threads */

/* Reads and parses one zone file (TZif v1/v2/v3: the 64-bit section when present, and the
 * POSIX TZ footer rule for instants after the last transition). Blocking file I/O: call only
 * before the loop threads start or off them.
 * name: an IANA name like "Europe/Istanbul" or "UTC"; refused (-EINVAL) if empty, longer than
 * 64, starting with '/', containing "..", or any char outside [A-Za-z0-9/_+-].
 * -ENOENT if no such zone (a directory is no zone; "UTC" falls back to a built-in zone),
 * -EINVAL if not a valid TZif file (also refused: leap second records, as in the right/ tree,
 * whose times are not POSIX seconds; a footer naming daylight time without its rules). dir NULL: $TZDIR or
 * /usr/share/zoneinfo. */
int sb_tz_load(const char *dir, const char *name, sb_tz_t **out);
void sb_tz_free(sb_tz_t *z);
/* Seconds east of UTC in effect at utc (seconds since the epoch). */
int32_t sb_tz_offset(const sb_tz_t *z, int64_t utc);

/* The process-wide zone table: sb_tz_preload walks the zone directory once (skipping the
 * posix/ and right/ trees, "localtime", "posixrules", non-TZif files) and keeps every zone by
 * name; call it from main before threads start (a second call replaces the table). Returns
 * the number of zones loaded (>= 0) or negative errno (-ENOENT: no such directory).
 * sb_tz_find looks a name up afterwards (thread-safe, no locking needed after preload; NULL if
 * unknown). "UTC" is always found even with an empty/missing directory (a built-in zone).
 * sb_tz_unload frees the table (at exit). */
int sb_tz_preload(const char *dir);
const sb_tz_t *sb_tz_find(const char *name);
void sb_tz_unload(void);

/* A parsed 5-field cron expression: minute hour day-of-month month day-of-week. Fields: '*',
 * numbers, lists 'a,b', ranges 'a-b', steps '*\/n' and 'a-b/n' and 'a/n' (a to max), month
 * names jan..dec and day names sun..sat (case-insensitive), day of week 0-7 (0 and 7 Sunday).
 * Fields separated by one or more spaces/tabs; surrounding white space allowed; nothing else
 * (no @macros, no seconds field, no '?', 'L', 'W', '#'). A step runs 1 to the field's maximum;
 * a range must not run backwards; in the day of week '*' and 'a/n' end at 6 (Saturday), so
 * "1/2" is Monday, Wednesday, Friday ("5-7" still names Sunday). */
typedef struct sb_cron {
    uint64_t minute;         /* bit m set: minute m (0..59) */
    uint32_t hour;           /* bits 0..23 */
    uint32_t dom;            /* bits 1..31 */
    uint16_t month;          /* bits 1..12 */
    uint8_t dow;             /* bits 0..6, Sunday 0 */
    bool dom_star, dow_star; /* the field was '*' (or '*\/1'): Vixie cron's day rule */
} sb_cron_t;

/* 0, or -EINVAL with *err set to an English message naming what is wrong (e.g. "minute field:
 * 61 is out of range 0-59", "expected 5 fields"). The message quotes the expression, so it lives
 * in a thread-local buffer: valid until this thread's next call. err may be NULL. */
int sb_cron_parse(const char *expr, sb_cron_t *out, const char **err);

/* The first fire time strictly after `after` (UTC seconds), in zone z (NULL = UTC): 0 with
 * *next set, or -ENOENT if none within 5 years (e.g. "0 0 30 2 *"). The search runs in local
 * wall-clock time: a wall time skipped when clocks go forward fires at the transition instant
 * (several matches inside one gap fire once); a wall time repeated when clocks go back fires
 * only on its first pass. Microseconds, no allocation. An `after` beyond +-2^52 s: -ENOENT. */
int sb_cron_next(const sb_cron_t *c, const sb_tz_t *z, int64_t after, int64_t *next);

/* Internal to the core layer, shared by tz.c and cron.c (defined in cron.c): the proleptic
 * Gregorian calendar (H. Hinnant's days_from_civil / civil_from_days). Days since 1970-01-01. */
int64_t sb__days_from_civil(int64_t y, int m, int d);
void sb__civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
