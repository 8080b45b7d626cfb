/* Time zones (src/core/tz.c). Zones are read from the system's TZif files by our own parser: no
 * libc time zone call (setenv TZ + localtime is process-global and not thread-safe). */
#ifndef SWITCHBOARD_TZ_H
#define SWITCHBOARD_TZ_H

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

/* Internal to the core layer, for tz.c and cron.c (defined in tz.c): the proleptic Gregorian
 * calendar (H. Hinnant's days_from_civil / civil_from_days). Days since 1970-01-01. */
int64_t sb__days_from_civil(int64_t y, int m, int d);
void sb__civil_from_days(int64_t days, int64_t *y, int *m, int *d);

#endif
