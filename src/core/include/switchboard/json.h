/* The one parse of JSON text that arrives from the network (request bodies, platform payloads,
 * agent and subscriber answers, tokens and key sets): src/core/json.c. Pure: no I/O, no clock. */
#ifndef SWITCHBOARD_JSON_H
#define SWITCHBOARD_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define SB_JSON_ERR_MAX 160

/* Parses n bytes as one JSON value, or NULL with the problem in err, worded to follow the name
 * of what was parsed: "is not valid UTF-8", "names the member 'text' twice" ("request body "
 * + err is the detail of a 400).
 * Refused, beyond what cJSON refuses: bytes that are not UTF-8; a raw control character or an
 * escaped NUL (\u0000) inside a string (JSON forbids the first; C strings would cut the second);
 * anything but whitespace after the value; an object naming a member twice (parsers disagree on
 * which one wins, so a proxy and switchboard could read the same body differently). An empty or
 * all-whitespace text is "empty". The tree is cJSON's, to cJSON_Delete. */
cJSON *sb_json_parse(const char *p, size_t n, char err[SB_JSON_ERR_MAX]);

/* The string member `name` of object o, or NULL (not an object, no such member, not a string). */
static inline const char *sb_json_str(const cJSON *o, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

#endif
