/* The validated JSON parse (json.h): cJSON does the parsing; this file refuses what cJSON lets
 * through and switchboard must not store or forward. */
#include "switchboard/json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/text.h"

#define PAIRWISE_MAX 16 /* objects up to this many members are checked pair by pair */
#define NAME_SHOWN   64 /* bytes of a duplicate member's name quoted in the error */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* cJSON accepts raw control characters inside strings and stops C strings at an escaped NUL. */
static bool strings_ok(const char *p, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!in_str) {
            if (c == '"')
                in_str = true;
            continue;
        }
        if (c < 0x20)
            return false;
        if (c == '"') {
            in_str = false;
        } else if (c == '\\') {
            if (i + 1 >= n)
                return false;
            if (p[i + 1] == 'u' && i + 5 < n && memcmp(p + i + 2, "0000", 4) == 0)
                return false;
            i++; /* the escaped character cannot end the string */
        }
    }
    return true;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name an object holds twice, or NULL. */
static const char *duplicate_in(const cJSON *obj)
{
    size_t k = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        k++;
    if (k < 2)
        return NULL;
    if (k <= PAIRWISE_MAX) {
        for (const cJSON *a = obj->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return a->string;
        return NULL;
    }
    const char **names = sb_malloc(k * sizeof(*names));
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        names[i++] = c->string;
    qsort(names, k, sizeof(*names), cmp_names);
    const char *dup = NULL;
    for (i = 1; i < k && !dup; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            dup = names[i];
    sb_free(names);
    return dup;
}

/* Depth-first; cJSON's nesting limit (1000 levels) bounds the recursion. */
static const char *first_duplicate(const cJSON *n)
{
    if (cJSON_IsObject(n)) {
        const char *d = duplicate_in(n);
        if (d)
            return d;
    }
    if (cJSON_IsObject(n) || cJSON_IsArray(n))
        for (const cJSON *c = n->child; c; c = c->next) {
            const char *d = first_duplicate(c);
            if (d)
                return d;
        }
    return NULL;
}

/* At most max bytes of s, cut at a character boundary (s is valid UTF-8: the text was). */
static size_t utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

cJSON *sb_json_parse(const char *p, size_t n, char err[SB_JSON_ERR_MAX])
{
    err[0] = '\0';
    if (!p)
        p = "";
    size_t i = 0;
    while (i < n && is_ws(p[i]))
        i++;
    if (i == n) {
        snprintf(err, SB_JSON_ERR_MAX, "is empty");
        return NULL;
    }
    if (!sb_utf8_valid(p, n)) {
        snprintf(err, SB_JSON_ERR_MAX, "is not valid UTF-8");
        return NULL;
    }
    if (!strings_ok(p, n)) {
        snprintf(err, SB_JSON_ERR_MAX, "is not valid JSON: a control character or \\u0000 in a string");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    if (!root) {
        snprintf(err, SB_JSON_ERR_MAX, "is not valid JSON");
        return NULL;
    }
    while (end < p + n && is_ws(*end))
        end++;
    if (end != p + n) {
        cJSON_Delete(root);
        snprintf(err, SB_JSON_ERR_MAX, "is not valid JSON: data after the value");
        return NULL;
    }
    const char *dup = first_duplicate(root);
    if (dup) {
        snprintf(err, SB_JSON_ERR_MAX, "names the member '%.*s' twice", (int)utf8_prefix(dup, NAME_SHOWN), dup);
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
