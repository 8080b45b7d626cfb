/* Key naming (see docs/keys.md). Ids are validated before they reach here; these functions
 * still refuse characters that would break the hash tag or the separator. */
#include <string.h>

#include "switchboard/store.h"
#include "switchboard/text.h"

static int safe(const char *s)
{
    return s && *s && !strpbrk(s, "{}: \r\n");
}

#define JOIN(out, ...)                                                                                                 \
    sb_str_join((out), SB_KEY_MAX, (const char *const[]){__VA_ARGS__},                                                 \
                sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

int sb_key_tenant(char out[SB_KEY_MAX], const char *tenant_id, const char *part)
{
    if (!safe(tenant_id))
        return -EINVAL;
    return JOIN(out, "sb:{t:", tenant_id, "}:", part);
}

int sb_key_tenant_item(char out[SB_KEY_MAX], const char *tenant_id, const char *part, const char *id)
{
    if (!safe(tenant_id) || !id || !*id || strpbrk(id, "{} \r\n"))
        return -EINVAL;
    return JOIN(out, "sb:{t:", tenant_id, "}:", part, ":", id);
}

void sb_key_tenant_affixes(const char *part, char prefix[16], char suffix[SB_KEY_MAX])
{
    memcpy(prefix, "sb:{t:", 7);
    JOIN(suffix, "}:", part);
}

int sb_key_global(char out[SB_KEY_MAX], const char *part, const char *id)
{
    if (id && (!*id || strpbrk(id, "{} \r\n")))
        return -EINVAL;
    if (id)
        return JOIN(out, "sb:", part, ":", id);
    return JOIN(out, "sb:", part);
}

int sb_key_heartbeat(char out[SB_KEY_MAX], const char *consumer)
{
    return JOIN(out, SB_HB_PREFIX, consumer);
}

int sb_key_seen(char *out, size_t cap, const char *tenant_id, const char *channel_id, const char *event_id)
{
    return sb_str_join(out, cap, (const char *const[]){"sb:{t:", tenant_id, "}:seen:", channel_id, ":", event_id}, 6);
}
