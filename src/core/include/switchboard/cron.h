/* Cron schedules (src/core/cron.c), with the time zones they are evaluated in (tz.h). Cron
 * expressions are parsed once and evaluated in a zone's local wall-clock time. No clock: callers
 * pass `after`. */
#ifndef SWITCHBOARD_CRON_H
#define SWITCHBOARD_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "switchboard/tz.h"

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

#endif
