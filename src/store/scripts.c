/* Lua scripts: every multi-step update is one script, so it is atomic and one round trip.
 * Scripts return status strings for application outcomes (NOTFOUND, CONFLICT, ...) and leave
 * Redis error replies for real errors. Loaded at connect (SCRIPT LOAD) and called by SHA.
 * The scripts are src/store/lua/<name>.lua; scripts/embed_lua.py writes them at build time as
 * the sb_script_<name> and the sb_scripts[] table declared in store.h (docs/scripts.md). This
 * file only fills in their SHA-1s. */
#include <mbedtls/sha1.h>
#include <string.h>

#include "switchboard/store.h"
#include "switchboard/text.h"

void sb_scripts_init(void)
{
    for (size_t i = 0; i < sb_scripts_count; i++) {
        unsigned char d[20];
        mbedtls_sha1_ret((const unsigned char *)sb_scripts[i]->source, strlen(sb_scripts[i]->source), d);
        sb_hex_encode(d, 20, sb_scripts[i]->sha);
    }
}
