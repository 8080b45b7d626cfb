/* Unit tests for src/core/cron.c and src/core/tz.c: cron expressions accepted and refused with
 * their messages, next fire times in UTC and across daylight saving changes (Europe/Berlin,
 * America/New_York, Australia/Lord_Howe, a footer rule past the file's last transition), the
 * Vixie day rule, zone names refused, TZif files made here (v1, footers with J and n dates,
 * broken ones), and the zone table. Expected instants come from Python's zoneinfo and
 * `TZ=... date` on Debian's tzdata, not from this code. */
/* cmocka.h needs these before it */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "switchboard/cron.h"

#define ZONEINFO "/usr/share/zoneinfo"

/* UTC seconds of a calendar time (libc's timegm: independent of the code under test). */
static int64_t T(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm);
}

static sb_cron_t parse_ok(const char *expr)
{
    sb_cron_t c;
    const char *err = NULL;
    int rc = sb_cron_parse(expr, &c, &err);
    if (rc != 0)
        fail_msg("'%s' refused: %s", expr, err);
    return c;
}

static sb_tz_t *load(const char *name)
{
    sb_tz_t *z = NULL;
    int rc = sb_tz_load(ZONEINFO, name, &z);
    if (rc != 0)
        fail_msg("loading %s: %d", name, rc);
    return z;
}

/* Checks that expr fires at each of want[] in turn, starting after `after`. */
static void fires(const char *expr, const sb_tz_t *z, int64_t after, const int64_t *want, size_t n)
{
    sb_cron_t c = parse_ok(expr);
    for (size_t i = 0; i < n; i++) {
        int64_t next = -1;
        int rc = sb_cron_next(&c, z, after, &next);
        if (rc != 0 || next != want[i])
            fail_msg("'%s' after %lld: rc %d, next %lld, want %lld (step %zu)", expr, (long long)after, rc,
                     (long long)next, (long long)want[i], i);
        after = next;
    }
}

#define FIRES(expr, z, after, ...)                                                                                     \
    do {                                                                                                               \
        const int64_t want_[] = {__VA_ARGS__};                                                                         \
        fires(expr, z, after, want_, sizeof(want_) / sizeof(want_[0]));                                                \
    } while (0)

static void test_parse_accepts(void **state)
{
    (void)state;
    sb_cron_t c = parse_ok("* * * * *");
    assert_true(c.minute == (UINT64_C(1) << 60) - 1);
    assert_int_equal(c.hour, 0xffffff);
    assert_int_equal(c.dom, 0xfffffffe);
    assert_int_equal(c.month, 0x1ffe);
    assert_int_equal(c.dow, 0x7f);
    assert_true(c.dom_star && c.dow_star);

    c = parse_ok("0,30 9-17/2 1,15 JAN-mar mon-FRI");
    assert_true(c.minute == (UINT64_C(1) | UINT64_C(1) << 30));
    assert_int_equal(c.hour, 1 << 9 | 1 << 11 | 1 << 13 | 1 << 15 | 1 << 17);
    assert_int_equal(c.dom, 1 << 1 | 1 << 15);
    assert_int_equal(c.month, 1 << 1 | 1 << 2 | 1 << 3);
    assert_int_equal(c.dow, 0x3e);
    assert_false(c.dom_star || c.dow_star);

    /* 'a/n' runs to the maximum; '*\/1' counts as '*' for the day rule, '*\/2' does not */
    c = parse_ok("5/20 0 */1 * */1");
    assert_true(c.minute == (UINT64_C(1) << 5 | UINT64_C(1) << 25 | UINT64_C(1) << 45));
    assert_int_equal(c.hour, 1);
    assert_true(c.dom_star && c.dow_star);
    c = parse_ok(" \t0\t0  */2  *  0,7 \n");
    assert_int_equal(c.dom, 0xaaaaaaaa); /* 1, 3, ..., 31 */
    assert_int_equal(c.dow, 1);          /* 0 and 7 are both Sunday */
    assert_false(c.dom_star || c.dow_star);

    assert_int_equal(parse_ok("0 0 * * 5-7").dow, 1 << 5 | 1 << 6 | 1);
    assert_int_equal(parse_ok("0 0 * * 1/2").dow, 1 << 1 | 1 << 3 | 1 << 5); /* to Saturday, not to 7 */
    assert_int_equal(parse_ok("0 0 * * Sun,sat").dow, 1 | 1 << 6);
    assert_int_equal(parse_ok("0 0 * * 7/2").dow, 1);
    assert_int_equal(parse_ok("0 0 * * */3").dow, 1 | 1 << 3 | 1 << 6);

    c = parse_ok("59 23 31 dec 6");
    assert_true(c.minute == UINT64_C(1) << 59);
    assert_int_equal(c.hour, 1 << 23);
    assert_true(c.dom == UINT32_C(1) << 31);
    assert_int_equal(c.month, 1 << 12);
    assert_int_equal(c.dow, 1 << 6);

    c = parse_ok("0-59/30 */6 1-31/10 */4 *");
    assert_true(c.minute == (UINT64_C(1) | UINT64_C(1) << 30));
    assert_int_equal(c.hour, 1 | 1 << 6 | 1 << 12 | 1 << 18);
    assert_true(c.dom == (UINT32_C(1) << 1 | UINT32_C(1) << 11 | UINT32_C(1) << 21 | UINT32_C(1) << 31));
    assert_int_equal(c.month, 1 << 1 | 1 << 5 | 1 << 9);
    assert_false(c.dom_star);
    assert_true(c.dow_star);
}

static void test_parse_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *msg;
    } bad[] = {
        {"", "expected 5 fields"},
        {"   ", "expected 5 fields"},
        {"* * * *", "expected 5 fields"},
        {"0 * * * * *", "expected 5 fields"},
        {"@daily", "expected 5 fields"},
        {"@hourly * * * *", "minute field: unexpected '@'"},
        {"61 * * * *", "minute field: 61 is out of range 0-59"},
        {"99999999999 * * * *", "minute field: 99999999999 is out of range 0-59"},
        {"-1 * * * *", "minute field: unexpected '-'"},
        {"* 24 * * *", "hour field: 24 is out of range 0-23"},
        {"* * 0 * *", "day-of-month field: 0 is out of range 1-31"},
        {"* * 32 * *", "day-of-month field: 32 is out of range 1-31"},
        {"* * * 13 *", "month field: 13 is out of range 1-12"},
        {"* * * 0 *", "month field: 0 is out of range 1-12"},
        {"* * * * 8", "day-of-week field: 8 is out of range 0-7"},
        {"* * ? * *", "day-of-month field: unexpected '?'"},
        {"* * L * *", "day-of-month field: unexpected 'L'"},
        {"* * 15W * *", "day-of-month field: unexpected '15W'"},
        {"* * * * 5#3", "day-of-week field: unexpected '#'"},
        {"* * * * 5L", "day-of-week field: unexpected '5L'"},
        {"*/0 * * * *", "minute field: a step must be a number 1-59"},
        {"*/60 * * * *", "minute field: a step must be a number 1-59"},
        {"*/x * * * *", "minute field: a step must be a number 1-59"},
        {"1-5/ * * * *", "minute field: a step must be a number 1-59"},
        {"5-1 * * * *", "minute field: range 5-1 runs backwards"},
        {"* * * dec-jan *", "month field: range 12-1 runs backwards"},
        {"1,,2 * * * *", "minute field: empty list item"},
        {"1, * * * *", "minute field: empty list item"},
        {",1 * * * *", "minute field: empty list item"},
        {"1- * * * *", "minute field: a value is missing"},
        {"*5 * * * *", "minute field: unexpected '5'"},
        {"** * * * *", "minute field: unexpected '*'"},
        {"* * * jan-foo *", "month field: unexpected 'foo'"},
        {"* * * * monday", "day-of-week field: unexpected 'monday'"},
        {"jan * * * *", "minute field: unexpected 'jan'"},
        {"* * * sun *", "month field: unexpected 'sun'"},
        {"* * * * jan", "day-of-week field: unexpected 'jan'"},
        {"0 0 *\n* * *", "day-of-month field: unexpected '\n'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_cron_t c;
        const char *err = NULL;
        int rc = sb_cron_parse(bad[i].expr, &c, &err);
        if (rc != -EINVAL || !err || strcmp(err, bad[i].msg) != 0)
            fail_msg("'%s': rc %d, message '%s', want '%s'", bad[i].expr, rc, err ? err : "(none)", bad[i].msg);
    }
    sb_cron_t c;
    assert_int_equal(sb_cron_parse("x", &c, NULL), -EINVAL); /* no message asked */
}

static void test_next_utc(void **state)
{
    (void)state;
    FIRES("* * * * *", NULL, T(2027, 1, 1, 0, 0), T(2027, 1, 1, 0, 1), T(2027, 1, 1, 0, 2));
    FIRES("* * * * *", NULL, T(2027, 1, 1, 0, 0) + 30, T(2027, 1, 1, 0, 1)); /* strictly after, whole minutes */
    FIRES("0 0 * * *", NULL, T(2027, 12, 31, 23, 59) + 59, T(2028, 1, 1, 0, 0), T(2028, 1, 2, 0, 0));
    /* 2027-01-01 is a Friday */
    FIRES("*/15 9-17 * * mon-fri", NULL, T(2027, 1, 1, 17, 50), T(2027, 1, 4, 9, 0), T(2027, 1, 4, 9, 15));
    FIRES("0 12 1 jan,jul *", NULL, T(2027, 1, 1, 12, 0), T(2027, 7, 1, 12, 0), T(2028, 1, 1, 12, 0));
    FIRES("30 4 * * 7", NULL, T(2027, 10, 1, 0, 0), T(2027, 10, 3, 4, 30), T(2027, 10, 10, 4, 30));
    FIRES("59 23 31 * *", NULL, T(2027, 4, 1, 0, 0), T(2027, 5, 31, 23, 59), T(2027, 7, 31, 23, 59));
    FIRES("0 0 1 1 *", NULL, T(1969, 6, 1, 0, 0), 0, T(1971, 1, 1, 0, 0));
    FIRES("0 0 1 1 *", NULL, T(2199, 6, 1, 0, 0), T(2200, 1, 1, 0, 0), T(2201, 1, 1, 0, 0));
    /* the UTC zone, loaded or built in, agrees with NULL */
    FIRES("17 3 * * *", sb_tz_find("UTC"), T(2027, 1, 1, 3, 17), T(2027, 1, 2, 3, 17));
}

static void test_next_leap_day(void **state)
{
    (void)state;
    FIRES("0 0 29 2 *", NULL, T(2027, 3, 1, 0, 0), T(2028, 2, 29, 0, 0), T(2032, 2, 29, 0, 0));
    FIRES("0 0 29 2 *", NULL, T(2099, 3, 1, 0, 0), T(2104, 2, 29, 0, 0)); /* 2100 is no leap year */
    static const char *const never[] = {"0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 feb *"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        sb_cron_t c = parse_ok(never[i]);
        int64_t next = 42;
        assert_int_equal(sb_cron_next(&c, NULL, T(2027, 1, 1, 0, 0), &next), -ENOENT);
    }
}

static void test_vixie_day_rule(void **state)
{
    (void)state;
    /* September 2027: the 13th is a Monday, Fridays are the 3rd, 10th, 17th */
    FIRES("0 9 13 * 5", NULL, T(2027, 9, 1, 0, 0), T(2027, 9, 3, 9, 0), T(2027, 9, 10, 9, 0), T(2027, 9, 13, 9, 0),
          T(2027, 9, 17, 9, 0));
    FIRES("0 9 13 * *", NULL, T(2027, 9, 1, 0, 0), T(2027, 9, 13, 9, 0), T(2027, 10, 13, 9, 0));
    FIRES("0 9 * * 5", NULL, T(2027, 9, 1, 0, 0), T(2027, 9, 3, 9, 0), T(2027, 9, 10, 9, 0));
    /* "*\/10" restricts (1, 11, 21, 31): either field; Mondays are the 6th, 13th, 20th, 27th */
    FIRES("0 9 */10 * mon", NULL, T(2027, 9, 1, 0, 0), T(2027, 9, 1, 9, 0), T(2027, 9, 6, 9, 0), T(2027, 9, 11, 9, 0),
          T(2027, 9, 13, 9, 0), T(2027, 9, 20, 9, 0), T(2027, 9, 21, 9, 0), T(2027, 9, 27, 9, 0));
    /* "*\/1" counts as '*': only Mondays */
    FIRES("0 9 */1 * mon", NULL, T(2027, 9, 1, 0, 0), T(2027, 9, 6, 9, 0), T(2027, 9, 13, 9, 0));
}

/* Europe/Berlin, 2027-03-28: 02:00 CET -> 03:00 CEST at 01:00Z. */
static void test_berlin_spring_forward(void **state)
{
    (void)state;
    sb_tz_t *berlin = load("Europe/Berlin");
    assert_int_equal(sb_tz_offset(berlin, T(2027, 3, 28, 1, 0) - 1), 3600);
    assert_int_equal(sb_tz_offset(berlin, T(2027, 3, 28, 1, 0)), 7200);
    /* 02:30 does not exist that day: the transition instant (03:00 local), then 02:30 CEST */
    FIRES("30 2 * * *", berlin, T(2027, 3, 26, 12, 0), T(2027, 3, 27, 1, 30), T(2027, 3, 28, 1, 0),
          T(2027, 3, 29, 0, 30));
    /* 01:45 CET, 03:00 CEST (02:00, 02:15, 02:30, 02:45 collapse into it), 03:15 CEST */
    FIRES("*/15 * * * *", berlin, T(2027, 3, 28, 0, 30), T(2027, 3, 28, 0, 45), T(2027, 3, 28, 1, 0),
          T(2027, 3, 28, 1, 15));
    FIRES("0,20,40 2 * * *", berlin, T(2027, 3, 27, 23, 0), T(2027, 3, 28, 1, 0), T(2027, 3, 29, 0, 0));
    /* a match at the first wall minute after the gap fires once, not twice */
    FIRES("0 2,3 * * *", berlin, T(2027, 3, 27, 23, 0), T(2027, 3, 28, 1, 0), T(2027, 3, 29, 0, 0),
          T(2027, 3, 29, 1, 0));
    sb_tz_free(berlin);
}

/* Europe/Berlin, 2027-10-31: 03:00 CEST -> 02:00 CET at 01:00Z; 02:00-03:00 local happens twice. */
static void test_berlin_fall_back(void **state)
{
    (void)state;
    sb_tz_t *berlin = load("Europe/Berlin");
    FIRES("30 2 * * *", berlin, T(2027, 10, 30, 12, 0), T(2027, 10, 31, 0, 30), T(2027, 11, 1, 1, 30));
    /* the second pass of 02:00-03:00 (01:00Z-02:00Z) never fires */
    FIRES("*/30 * * * *", berlin, T(2027, 10, 31, 0, 0), T(2027, 10, 31, 0, 30), T(2027, 10, 31, 2, 0),
          T(2027, 10, 31, 2, 30));
    FIRES("30 2 * * *", berlin, T(2027, 10, 31, 1, 10), T(2027, 11, 1, 1, 30));
    sb_tz_free(berlin);
}

/* America/New_York 2027: 02:00 EST -> 03:00 EDT on March 14 (07:00Z), 02:00 EDT -> 01:00 EST
 * on November 7 (06:00Z). */
static void test_new_york(void **state)
{
    (void)state;
    sb_tz_t *ny = load("America/New_York");
    FIRES("30 2 * * *", ny, T(2027, 3, 13, 12, 0), T(2027, 3, 14, 7, 0), T(2027, 3, 15, 6, 30));
    FIRES("30 1 * * *", ny, T(2027, 11, 6, 12, 0), T(2027, 11, 7, 5, 30), T(2027, 11, 8, 6, 30));
    /* 01:00 EDT fires, 01:00 EST (06:00Z) does not, 02:00 EST does */
    FIRES("0 * * * *", ny, T(2027, 11, 7, 4, 30), T(2027, 11, 7, 5, 0), T(2027, 11, 7, 7, 0), T(2027, 11, 7, 8, 0));
    FIRES("0 * * * *", ny, T(2027, 11, 7, 6, 10), T(2027, 11, 7, 7, 0)); /* after, in the second pass */
    sb_tz_free(ny);
}

/* Australia/Lord_Howe 2027: +11 -> +10:30 on April 4 at 02:00 local (15:00Z the 3rd), +10:30 ->
 * +11 on October 3 at 02:00 local (15:30Z the 2nd): half-hour changes. */
static void test_lord_howe(void **state)
{
    (void)state;
    sb_tz_t *lh = load("Australia/Lord_Howe");
    FIRES("15 2 * * *", lh, T(2027, 10, 1, 12, 0), T(2027, 10, 1, 15, 45), T(2027, 10, 2, 15, 30),
          T(2027, 10, 3, 15, 15));
    FIRES("45 1 * * *", lh, T(2027, 4, 2, 12, 0), T(2027, 4, 2, 14, 45), T(2027, 4, 3, 14, 45), T(2027, 4, 4, 15, 15));
    sb_tz_free(lh);
}

/* Debian's zone files list transitions up to 2037; 2045 comes from the footer
 * "CET-1CEST,M3.5.0,M10.5.0/3": March 26 and October 29, 01:00Z. */
static void test_footer_rule(void **state)
{
    (void)state;
    sb_tz_t *berlin = load("Europe/Berlin");
    FIRES("30 2 * * *", berlin, T(2045, 3, 25, 12, 0), T(2045, 3, 26, 1, 0), T(2045, 3, 27, 0, 30));
    FIRES("30 2 * * *", berlin, T(2045, 10, 28, 12, 0), T(2045, 10, 29, 0, 30), T(2045, 10, 30, 1, 30));
    sb_tz_free(berlin);
}

/* Offsets at instants around transitions, 1970 to 2200, from Python's zoneinfo: table years,
 * footers with negative (America/Nuuk) and past-24h (Asia/Jerusalem, America/Santiago) change
 * times, negative DST (Europe/Dublin), southern hemispheres, 45-minute offsets, LMT. */
static const struct {
    const char *zone;
    struct {
        int64_t utc;
        int32_t off;
    } at[26]; /* up to a {0, 0} */
} offsets[] = {
    // clang-format off
    {"Europe/Berlin", {{17280000, 3600}, {481078799, 3600}, {481078800, 7200}, {496803599, 7200}, {496803600, 3600},
        {1806195599, 3600}, {1806195600, 7200}, {1824944399, 7200}, {1824944400, 3600}, {2374102799, 3600},
        {2374102800, 7200}, {2392851599, 7200}, {2392851600, 3600}, {4109878799, 3600}, {4109878800, 7200},
        {4128627599, 7200}, {4128627600, 3600}, {7265725199, 3600}, {7265725200, 7200}, {7283869199, 7200},
        {7283869200, 3600}, {-5000000000, 3208}}},
    {"America/New_York", {{9961199, -18000}, {9961200, -14400}, {25682399, -14400}, {25682400, -18000},
        {483519599, -18000}, {483519600, -14400}, {499240799, -14400}, {499240800, -18000}, {1805007599, -18000},
        {1805007600, -14400}, {1825567199, -14400}, {1825567200, -18000}, {2372914799, -18000}, {2372914800, -14400},
        {2393474399, -14400}, {2393474400, -18000}, {4108690799, -18000}, {4108690800, -14400}, {4129250399, -14400},
        {4129250400, -18000}, {7263932399, -18000}, {7263932400, -14400}, {7284491999, -14400}, {7284492000, -18000},
        {-3000000000, -17762}}},
    {"Australia/Lord_Howe", {{17280000, 36000}, {478621799, 41400}, {478621800, 37800}, {499188599, 37800},
        {499188600, 39600}, {1806764399, 39600}, {1806764400, 37800}, {1822490999, 37800}, {1822491000, 39600},
        {2374671599, 39600}, {2374671600, 37800}, {2390398199, 37800}, {2390398200, 39600}, {4110447599, 39600},
        {4110447600, 37800}, {4126174199, 37800}, {4126174200, 39600}, {7266293999, 39600}, {7266294000, 37800},
        {7282020599, 37800}, {7282020600, 39600}, {-3000000000, 38180}}},
    {"Europe/Istanbul", {{17280000, 7200}, {482799599, 7200}, {482799600, 10800}, {496709999, 10800},
        {496710000, 7200}, {1816041600, 10800}, {2384121600, 10800}, {4119724800, 10800}, {7275398400, 10800}}},
    {"America/Nuuk", {{17280000, -10800}, {481078799, -10800}, {481078800, -7200}, {496803599, -7200},
        {496803600, -10800}, {1806195599, -7200}, {1806195600, -3600}, {1824944399, -3600}, {1824944400, -7200},
        {2374102799, -7200}, {2374102800, -3600}, {2392851599, -3600}, {2392851600, -7200}, {4109878799, -7200},
        {4109878800, -3600}, {4128627599, -3600}, {4128627600, -7200}, {7265725199, -7200}, {7265725200, -3600},
        {7283869199, -3600}, {7283869200, -7200}}},
    {"Asia/Jerusalem", {{17280000, 7200}, {482277599, 7200}, {482277600, 10800}, {494369999, 10800},
        {494370000, 7200}, {1806019199, 7200}, {1806019200, 10800}, {1824937199, 10800}, {1824937200, 7200},
        {2373926399, 7200}, {2373926400, 10800}, {2392844399, 10800}, {2392844400, 7200}, {4109702399, 7200},
        {4109702400, 10800}, {4128620399, 10800}, {4128620400, 7200}, {7265548799, 7200}, {7265548800, 10800},
        {7283861999, 10800}, {7283862000, 7200}}},
    {"Europe/Dublin", {{17280000, 3600}, {481078799, 0}, {481078800, 3600}, {499222799, 3600}, {499222800, 0},
        {1806195599, 0}, {1806195600, 3600}, {1824944399, 3600}, {1824944400, 0}, {2374102799, 0}, {2374102800, 3600},
        {2392851599, 3600}, {2392851600, 0}, {4109878799, 0}, {4109878800, 3600}, {4128627599, 3600}, {4128627600, 0},
        {7265725199, 0}, {7265725200, 3600}, {7283869199, 3600}, {7283869200, 0}, {-1, 3600}}},
    {"Antarctica/Troll", {{17280000, 0}, {490665600, 0}, {1806195599, 0}, {1806195600, 7200}, {1824944399, 7200},
        {1824944400, 0}, {2374102799, 0}, {2374102800, 7200}, {2392851599, 7200}, {2392851600, 0}, {4109878799, 0},
        {4109878800, 7200}, {4128627599, 7200}, {4128627600, 0}, {7265725199, 0}, {7265725200, 7200},
        {7283869199, 7200}, {7283869200, 0}}},
    {"Africa/Casablanca", {{17280000, 0}, {504917999, 3600}, {504918000, 0}, {1801965599, 3600}, {1801965600, 0},
        {1804989599, 0}, {1804989600, 3600}, {2383178399, 3600}, {2383178400, 0}, {2386807199, 0}, {2386807200, 3600},
        {4119724800, 3600}, {7275398400, 3600}}},
    {"America/Sao_Paulo", {{17280000, -10800}, {499748399, -10800}, {499748400, -7200}, {1816041600, -10800},
        {2384121600, -10800}, {4119724800, -10800}, {7275398400, -10800}, {0, -10800}}},
    {"Pacific/Chatham", {{17280000, 45900}, {478619999, 49500}, {478620000, 45900}, {499183199, 45900},
        {499183200, 49500}, {1806760799, 49500}, {1806760800, 45900}, {1821880799, 45900}, {1821880800, 49500},
        {2374667999, 49500}, {2374668000, 45900}, {2389787999, 45900}, {2389788000, 49500}, {4110443999, 49500},
        {4110444000, 45900}, {4125563999, 45900}, {4125564000, 49500}, {7266290399, 49500}, {7266290400, 45900},
        {7281410399, 45900}, {7281410400, 49500}}},
    {"Asia/Tehran", {{17280000, 12600}, {490665600, 12600}, {1816041600, 12600}, {2384121600, 12600},
        {4119724800, 12600}, {7275398400, 12600}}},
    {"America/Santiago", {{7527599, -10800}, {7527600, -14400}, {24465599, -14400}, {24465600, -10800},
        {479271599, -10800}, {479271600, -14400}, {498023999, -14400}, {498024000, -10800}, {1806807599, -10800},
        {1806807600, -14400}, {1820116799, -14400}, {1820116800, -10800}, {2374714799, -10800}, {2374714800, -14400},
        {2388023999, -14400}, {2388024000, -10800}, {4110490799, -10800}, {4110490800, -14400}, {4123799999, -14400},
        {4123800000, -10800}, {7266337199, -10800}, {7266337200, -14400}, {7279646399, -14400}, {7279646400, -10800}}},
    {"Australia/Sydney", {{17280000, 36000}, {478627199, 39600}, {478627200, 36000}, {499190399, 36000},
        {499190400, 39600}, {1806767999, 39600}, {1806768000, 36000}, {1822492799, 36000}, {1822492800, 39600},
        {2374675199, 39600}, {2374675200, 36000}, {2390399999, 36000}, {2390400000, 39600}, {4110451199, 39600},
        {4110451200, 36000}, {4126175999, 36000}, {4126176000, 39600}, {7266297599, 39600}, {7266297600, 36000},
        {7282022399, 36000}, {7282022400, 39600}}},
    {"Etc/GMT+5", {{17280000, -18000}, {490665600, -18000}, {1816041600, -18000}, {2384121600, -18000},
        {4119724800, -18000}, {7275398400, -18000}}},
    {"Pacific/Kiritimati", {{17280000, -38400}, {490665600, -36000}, {1816041600, 50400}, {2384121600, 50400},
        {4119724800, 50400}, {7275398400, 50400}}},
    {"Asia/Kolkata", {{17280000, 19800}, {490665600, 19800}, {1816041600, 19800}, {2384121600, 19800},
        {4119724800, 19800}, {7275398400, 19800}, {-4000000000, 21208}}},
    {"America/St_Johns", {{9955799, -12600}, {9955800, -9000}, {25676999, -9000}, {25677000, -12600},
        {483514199, -12600}, {483514200, -9000}, {499235399, -9000}, {499235400, -12600}, {1805002199, -12600},
        {1805002200, -9000}, {1825561799, -9000}, {1825561800, -12600}, {2372909399, -12600}, {2372909400, -9000},
        {2393468999, -9000}, {2393469000, -12600}, {4108685399, -12600}, {4108685400, -9000}, {4129244999, -9000},
        {4129245000, -12600}, {7263926999, -12600}, {7263927000, -9000}, {7284486599, -9000}, {7284486600, -12600}}},
    // clang-format on
};

static void test_offsets(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        sb_tz_t *z = load(offsets[i].zone);
        for (size_t j = 0; j < 26 && (offsets[i].at[j].utc || offsets[i].at[j].off); j++)
            if (sb_tz_offset(z, offsets[i].at[j].utc) != offsets[i].at[j].off)
                fail_msg("%s at %lld: %d, want %d", offsets[i].zone, (long long)offsets[i].at[j].utc,
                         sb_tz_offset(z, offsets[i].at[j].utc), offsets[i].at[j].off);
        sb_tz_free(z);
    }
}

/* ---- Zone files made here */

typedef struct {
    unsigned char b[1024];
    size_t n;
} blob_t;

static void put(blob_t *b, const void *p, size_t n)
{
    if (n)
        memcpy(b->b + b->n, p, n);
    b->n += n;
}

static void put_be(blob_t *b, int64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        b->b[b->n++] = (unsigned char)((uint64_t)v >> (8 * i));
}

static void put_header(blob_t *b, char version, uint32_t leap, uint32_t n, uint32_t ntypes)
{
    put(b, "TZif", 4);
    put(b, &version, 1);
    put(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
    const uint32_t cnt[6] = {0, 0, leap, n, ntypes, 4};
    for (int i = 0; i < 6; i++)
        put_be(b, cnt[i], 4);
}

/* A zone file: transitions at[i] to type idx[i], types of offsets offs[] (abbreviation "ABC"),
 * leap second records. Version 0: a v1 file (32-bit times, no footer); '2' and '3': a minimal v1
 * block, then the 64-bit data and the footer. */
static blob_t tzif(char version, const int64_t *at, const uint8_t *idx, uint32_t n, const int32_t *offs,
                   uint32_t ntypes, uint32_t leap, const char *footer)
{
    blob_t b = {.n = 0};
    int tsize = 4;
    if (version) {
        put_header(&b, version, 0, 0, 1);
        put(&b, "\0\0\0\0\0\0ABC", 10);
        tsize = 8;
    }
    put_header(&b, version, leap, n, ntypes);
    for (uint32_t i = 0; i < n; i++)
        put_be(&b, at[i], tsize);
    put(&b, idx, n);
    for (uint32_t i = 0; i < ntypes; i++) {
        put_be(&b, offs[i], 4);
        put(&b, "\0\0", 2);
    }
    put(&b, "ABC", 4);
    for (uint32_t i = 0; i < leap; i++) {
        put_be(&b, 78796800, tsize);
        put_be(&b, 1, 4);
    }
    if (version) {
        put(&b, "\n", 1);
        put(&b, footer, strlen(footer));
        put(&b, "\n", 1);
    }
    return b;
}

static char tmp_dir[256];
static char made[32][320];
static size_t n_made;

static void make_dir(const char *rel)
{
    snprintf(made[n_made], sizeof(made[0]), "%s/%s", tmp_dir, rel);
    assert_int_equal(mkdir(made[n_made++], 0700), 0);
}

static void write_zone(const char *rel, const void *p, size_t n)
{
    snprintf(made[n_made], sizeof(made[0]), "%s/%s", tmp_dir, rel);
    FILE *f = fopen(made[n_made++], "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int make_tmp(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof(tmp_dir), "%s/sb-tz-test-XXXXXX", t && *t ? t : "/tmp");
    n_made = 0;
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_tmp(void **state)
{
    (void)state;
    while (n_made) /* files and folders, the last made first */
        remove(made[--n_made]);
    return rmdir(tmp_dir);
}

static int32_t offset_in(const char *rel, int64_t utc)
{
    sb_tz_t *z = NULL;
    int rc = sb_tz_load(tmp_dir, rel, &z);
    if (rc != 0)
        fail_msg("loading %s: %d", rel, rc);
    int32_t off = sb_tz_offset(z, utc);
    sb_tz_free(z);
    return off;
}

static int load_rc(const char *dir, const char *name)
{
    sb_tz_t *z = (sb_tz_t *)&z; /* not NULL: a failed load must set it */
    int rc = sb_tz_load(dir, name, &z);
    if (rc == 0)
        sb_tz_free(z);
    else if (z != NULL)
        fail_msg("sb_tz_load(%s) failed (%d) but set a zone", name, rc);
    return rc;
}

static void test_tzif_files(void **state)
{
    (void)state;
    /* v1: 32-bit times, no footer: the last type stays */
    static const int64_t at1[] = {1000000000, 1100000000};
    static const uint8_t idx1[] = {1, 0};
    static const int32_t offs1[] = {3600, 7200};
    blob_t b = tzif(0, at1, idx1, 2, offs1, 2, 0, NULL);
    write_zone("v1", b.b, b.n);
    assert_int_equal(offset_in("v1", 0), 3600);
    assert_int_equal(offset_in("v1", 999999999), 3600);
    assert_int_equal(offset_in("v1", 1000000000), 7200);
    assert_int_equal(offset_in("v1", 1099999999), 7200);
    assert_int_equal(offset_in("v1", 1100000000), 3600);
    assert_int_equal(offset_in("v1", 4000000000), 3600);

    /* No transitions, only a footer with the Jn (Feb 29 never counted) and n (counted, from 0)
     * forms: J60 is March 1, day 300 is October 28 (27 in leap years). Checked with glibc's
     * `TZ='XXX-1YYY,J60/2,300/3' date`; Python's zoneinfo counts n from 1. */
    static const int32_t std1[] = {3600};
    b = tzif('2', NULL, NULL, 0, std1, 1, 0, "XXX-1YYY,J60/2,300/3");
    write_zone("jn", b.b, b.n);
    const struct {
        int64_t utc;
        int32_t off;
    } jn[] = {
        {T(2027, 3, 1, 1, 0) - 1, 3600},   {T(2027, 3, 1, 1, 0), 7200},     {T(2027, 10, 28, 1, 0) - 1, 7200},
        {T(2027, 10, 28, 1, 0), 3600},     {T(2028, 3, 1, 1, 0) - 1, 3600}, {T(2028, 3, 1, 1, 0), 7200},
        {T(2028, 10, 27, 1, 0) - 1, 7200}, {T(2028, 10, 27, 1, 0), 3600},
    };
    for (size_t i = 0; i < sizeof(jn) / sizeof(jn[0]); i++)
        if (offset_in("jn", jn[i].utc) != jn[i].off)
            fail_msg("jn at %lld: %d, want %d", (long long)jn[i].utc, offset_in("jn", jn[i].utc), jn[i].off);

    /* v3's daylight time all year (RFC 8536 3.3.1) */
    static const int32_t est[] = {-18000};
    b = tzif('3', NULL, NULL, 0, est, 1, 0, "EST5EDT,0/0,J365/25");
    write_zone("allyear", b.b, b.n);
    assert_int_equal(offset_in("allyear", T(2027, 1, 1, 0, 0)), -14400);
    assert_int_equal(offset_in("allyear", T(2027, 7, 1, 0, 0)), -14400);
    assert_int_equal(offset_in("allyear", T(2028, 12, 31, 23, 0)), -14400);
    assert_int_equal(offset_in("allyear", T(2028, 1, 1, 5, 0)), -14400); /* one year's end, the next's start */
    assert_int_equal(offset_in("allyear", T(2100, 2, 28, 12, 0)), -14400);

    /* the footer takes over after the last transition */
    static const int64_t at2[] = {1000000000};
    static const uint8_t idx2[] = {1};
    static const int32_t offs2[] = {0, 19800};
    b = tzif('2', at2, idx2, 1, offs2, 2, 0, "<+06>-6");
    write_zone("after", b.b, b.n);
    assert_int_equal(offset_in("after", 999999999), 0);
    assert_int_equal(offset_in("after", 1000000001), 21600);

    /* broken files */
    write_zone("text", "not a zone\n", 11);
    write_zone("empty", "", 0);
    assert_int_equal(load_rc(tmp_dir, "text"), -EINVAL);
    assert_int_equal(load_rc(tmp_dir, "empty"), -EINVAL);
    b = tzif('2', at2, idx2, 1, offs2, 2, 0, "<+06>-6");
    write_zone("truncated", b.b, b.n - 1); /* the footer's closing line break */
    write_zone("truncated2", b.b, 60);
    b.b[4] = '1';
    write_zone("version1", b.b, b.n);
    b = tzif('2', at2, idx2, 1, offs2, 2, 0, "<+06>");
    write_zone("footer", b.b, b.n);
    b = tzif('2', at2, idx2, 1, offs2, 2, 0, "CET-1CEST");
    write_zone("footer2", b.b, b.n);
    static const uint8_t idx_bad[] = {2};
    b = tzif('2', at2, idx_bad, 1, offs2, 2, 0, "");
    write_zone("index", b.b, b.n);
    static const int64_t at_bad[] = {1100000000, 1000000000};
    b = tzif('2', at_bad, idx1, 2, offs1, 2, 0, "");
    write_zone("order", b.b, b.n);
    b = tzif('2', at2, idx2, 1, offs2, 2, 1, "");
    write_zone("leap", b.b, b.n);
    static const char *const broken[] = {"truncated", "truncated2", "version1", "footer",
                                         "footer2",   "index",      "order",    "leap"};
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++)
        if (load_rc(tmp_dir, broken[i]) != -EINVAL)
            fail_msg("%s: %d, want -EINVAL", broken[i], load_rc(tmp_dir, broken[i]));
    /* the same file with the footer intact and no leap records loads */
    b = tzif('2', at2, idx2, 1, offs2, 2, 0, "");
    write_zone("good", b.b, b.n);
    assert_int_equal(offset_in("good", 2000000000), 19800);

    /* $TZDIR when dir is NULL; "UTC" without a file is the built-in zone */
    setenv("TZDIR", tmp_dir, 1);
    assert_int_equal(load_rc(NULL, "good"), 0);
    assert_int_equal(load_rc(NULL, "Europe/Berlin"), -ENOENT);
    unsetenv("TZDIR");
    assert_int_equal(offset_in("UTC", 1800000000), 0);
}

static void test_tz_names(void **state)
{
    (void)state;
    assert_int_equal(load_rc(ZONEINFO, "../etc/passwd"), -EINVAL);
    assert_int_equal(load_rc(ZONEINFO, "Europe/../../etc/passwd"), -EINVAL);
    assert_int_equal(load_rc(ZONEINFO, "/etc/x"), -EINVAL);
    assert_int_equal(load_rc(ZONEINFO, ""), -EINVAL);
    assert_int_equal(load_rc(ZONEINFO, "Europe/Ber lin"), -EINVAL);
    assert_int_equal(load_rc(ZONEINFO, "zone.tab"), -EINVAL); /* '.' is outside the set */
    assert_int_equal(load_rc(ZONEINFO, "Europe/Berlin\n"), -EINVAL);
    char long_name[80];
    memset(long_name, 'A', 65);
    long_name[65] = '\0';
    assert_int_equal(load_rc(ZONEINFO, long_name), -EINVAL);
    long_name[64] = '\0'; /* 64 is allowed, and names no zone */
    assert_int_equal(load_rc(ZONEINFO, long_name), -ENOENT);
    assert_int_equal(load_rc(ZONEINFO, "Mars/Olympus"), -ENOENT);
    assert_int_equal(load_rc(ZONEINFO, "Europe"), -ENOENT); /* a folder */
    assert_int_equal(load_rc(ZONEINFO, "Europe/Berlin/x"), -ENOENT);
    assert_int_equal(load_rc("/nonexistent-sb-zoneinfo", "Europe/Berlin"), -ENOENT);
    assert_int_equal(load_rc(ZONEINFO, "iso3166"), -ENOENT);
    assert_int_equal(load_rc(ZONEINFO, "Etc/GMT+5"), 0);
    assert_int_equal(load_rc(ZONEINFO, "America/Argentina/Buenos_Aires"), 0);
}

static void test_tz_table(void **state)
{
    (void)state;
    int n = sb_tz_preload(ZONEINFO);
    if (n <= 300)
        fail_msg("sb_tz_preload: %d zones", n);
    const sb_tz_t *ist = sb_tz_find("Europe/Istanbul");
    assert_non_null(ist);
    assert_int_equal(sb_tz_offset(ist, T(2027, 1, 1, 0, 0)), 10800);
    assert_non_null(sb_tz_find("America/Argentina/Buenos_Aires"));
    assert_non_null(sb_tz_find("Etc/GMT-14"));
    const sb_tz_t *utc = sb_tz_find("UTC");
    assert_non_null(utc);
    assert_int_equal(sb_tz_offset(utc, T(2027, 7, 1, 0, 0)), 0);
    static const char *const absent[] = {
        "posix/Europe/Berlin", "right/UTC",    "localtime", "posixrules", "zone.tab",       "tzdata",
        "leapseconds",         "Mars/Olympus", "Europe",    "",           "europe/istanbul"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        if (sb_tz_find(absent[i]))
            fail_msg("'%s' found", absent[i]);

    /* a folder of our own: only the real zone counts */
    static const int32_t offs[] = {7200};
    blob_t b = tzif('2', NULL, NULL, 0, offs, 1, 0, "<+02>-2");
    make_dir("Test");
    write_zone("Test/Zone", b.b, b.n);
    make_dir("posix");
    write_zone("posix/Zone", b.b, b.n);
    write_zone("localtime", b.b, b.n);
    write_zone("zone.tab", b.b, b.n);
    write_zone("Bad", "# not a zone\n", 13);
    assert_int_equal(sb_tz_preload(tmp_dir), 1);
    assert_non_null(sb_tz_find("Test/Zone"));
    assert_int_equal(sb_tz_offset(sb_tz_find("Test/Zone"), 0), 7200);
    assert_null(sb_tz_find("Europe/Istanbul"));
    assert_null(sb_tz_find("posix/Zone"));
    assert_non_null(sb_tz_find("UTC")); /* built in */

    setenv("TZDIR", tmp_dir, 1);
    assert_int_equal(sb_tz_preload(NULL), 1);
    unsetenv("TZDIR");

    assert_int_equal(sb_tz_preload("/nonexistent-sb-zoneinfo"), -ENOENT);
    assert_null(sb_tz_find("Test/Zone"));
    assert_non_null(sb_tz_find("UTC"));
    sb_tz_unload();
    assert_non_null(sb_tz_find("UTC"));
    assert_null(sb_tz_find("Europe/Istanbul"));
    sb_tz_unload(); /* twice is harmless */
}

/* Field-wise search: the worst cases (nothing for 5 years, a gap to map back) take microseconds. */
static void test_speed(void **state)
{
    (void)state;
    sb_tz_t *berlin = load("Europe/Berlin");
    sb_cron_t never = parse_ok("0 0 30 2 *"), gap = parse_ok("30 2 * * *");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t next;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(sb_cron_next(&never, berlin, T(2027, 1, 1, 0, 0) + i * 60, &next), -ENOENT);
        assert_int_equal(sb_cron_next(&gap, berlin, T(2027, 3, 27, 12, 0) + i, &next), 0);
        assert_true(next == T(2027, 3, 28, 1, 0));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (s > 2.0) /* ~1 ms expected; generous for sanitizers and slow CI */
        fail_msg("2000 searches took %.3f s", s);
    sb_tz_free(berlin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_next_utc),
        cmocka_unit_test(test_next_leap_day),
        cmocka_unit_test(test_vixie_day_rule),
        cmocka_unit_test(test_berlin_spring_forward),
        cmocka_unit_test(test_berlin_fall_back),
        cmocka_unit_test(test_new_york),
        cmocka_unit_test(test_lord_howe),
        cmocka_unit_test(test_footer_rule),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test_setup_teardown(test_tzif_files, make_tmp, remove_tmp),
        cmocka_unit_test(test_tz_names),
        cmocka_unit_test_setup_teardown(test_tz_table, make_tmp, remove_tmp),
        cmocka_unit_test(test_speed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
