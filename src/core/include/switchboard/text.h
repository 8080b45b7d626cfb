/* Pure text helpers: encodings, validation, parsing. No allocation, no I/O. */
#ifndef SWITCHBOARD_TEXT_H
#define SWITCHBOARD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "switchboard/common.h"

/* Lower-case hex of n bytes into out (2n chars + NUL). */
void sb_hex_encode(const unsigned char *in, size_t n, char *out);
/* base64url without padding; out needs sb_base64url_len(n) + 1 bytes. */
size_t sb_base64url_len(size_t n);
size_t sb_base64url_encode(const unsigned char *in, size_t n, char *out);
/* Standard base64 with padding; out needs 4 * ((n + 2) / 3) + 1 bytes. */
size_t sb_base64_encode(const unsigned char *in, size_t n, char *out);

/* Standard or URL-safe base64, padding optional. Returns the decoded length or a negative code. */
int sb_base64_decode(const char *in, size_t n, unsigned char *out, size_t cap);

bool sb_utf8_valid(const char *s, size_t n);
/* Code points of valid UTF-8. */
size_t sb_utf8_chars(const char *s, size_t n);
bool sb_ascii_ieq(const char *a, size_t alen, const char *b);
/* Only spaces, tabs and line breaks (or nothing): a text that says nothing. */
bool sb_blank(const char *s);
/* Drops the optional whitespace (spaces and tabs) around an HTTP header field's part. */
void sb_trim_ows(const char **s, size_t *n);
/* Whether an Accept-Encoding value admits the content coding (RFC 9110 12.5.3): listed with a
 * q above 0, or not listed and "*" is (a malformed q counts as 0; "identity" is not asked). */
bool sb_accepts_coding(const char *v, size_t n, const char *coding);
/* Decodes %XX escapes (and '+' as space when plus_space). Returns the decoded length or -EINVAL. */
int sb_percent_decode(const char *in, size_t n, char *out, size_t outcap, bool plus_space);
/* v in decimal and a NUL into out (room for 21 bytes); returns the digit count. No printf: it
 * is on every hot path that formats a number. */
size_t sb_fmt_u64(uint64_t v, char *out);
/* Strict decimal: digits only, no sign, no overflow past max. */
int sb_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
/* The n strings one after the other into out (cap bytes, NUL-terminated): their length, or
 * -E2BIG when they do not fit (out then holds what fits, like snprintf). No printf. */
int sb_str_join(char *out, size_t cap, const char *const *parts, size_t n);
/* UUID in canonical 8-4-4-4-12 lower/upper hex form. */
bool sb_uuid_valid(const char *s, size_t n);
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-21T10:00:00.123Z; out needs 25 bytes. */
void sb_time_rfc3339(int64_t unix_ms, char out[32]);
/* Same with microseconds (2026-11-21T10:00:00.123456Z): creation times that sort records. */
void sb_time_rfc3339_us(int64_t unix_us, char out[32]);
/* Copies at most max_chars characters of UTF-8 text, invalid bytes and NULs as '?'; out needs
 * n + 1 bytes. Returns the bytes written. */
size_t sb_utf8_excerpt(const char *s, size_t n, size_t max_chars, char *out);
/* RFC 3339 ("2026-11-21T10:00:00Z", fractions and offsets allowed) to Unix ms. */
int sb_rfc3339_parse(const char *s, int64_t *unix_ms);
/* Finds the value of key in an application/x-www-form-urlencoded query string. */
bool sb_query_get(sb_str_t query, const char *key, sb_str_t *value);

#endif
