/* Key naming (see docs/keys.md). Ids are validated before they reach here; these functions
 * still refuse characters that would break the hash tag or the separator. */
#include <stdio.h>
#include <string.h>

#include "switchboard/store.h"

static int safe(const char *s)
{
    return s && *s && !strpbrk(s, "{}: \r\n");
}

static int finish(int n)
{
    return n < 0 || n >= SB_KEY_MAX ? -E2BIG : n;
}

int sb_key_tenant(char out[SB_KEY_MAX], const char *tenant_id, const char *part)
{
    if (!safe(tenant_id))
        return -EINVAL;
    return finish(snprintf(out, SB_KEY_MAX, "sb:{t:%s}:%s", tenant_id, part));
}

int sb_key_tenant_item(char out[SB_KEY_MAX], const char *tenant_id, const char *part, const char *id)
{
    if (!safe(tenant_id) || !id || !*id || strpbrk(id, "{} \r\n"))
        return -EINVAL;
    return finish(snprintf(out, SB_KEY_MAX, "sb:{t:%s}:%s:%s", tenant_id, part, id));
}

int sb_key_global(char out[SB_KEY_MAX], const char *part, const char *id)
{
    if (id && (!*id || strpbrk(id, "{} \r\n")))
        return -EINVAL;
    if (id)
        return finish(snprintf(out, SB_KEY_MAX, "sb:%s:%s", part, id));
    return finish(snprintf(out, SB_KEY_MAX, "sb:%s", part));
}
