/* The engine's count of loop-store commands in flight (engine.h): every command whose callback
 * holds the engine or one of its attempts is counted here, and the last callback after the
 * engine closed frees it (through the function engine.c set). Also the CSPRNG draw the parts
 * share. Names no part of the engine. */
#include "engine.h"
#include "switchboard/crypto.h"

int sb__d_pending(sb_delivery_t *d, int rc)
{
    if (rc == 0)
        d->store_pending++;
    return rc;
}

int sb__d_eval(sb_delivery_t *d, const sb_script_t *script, int nkeys, int argc, const char **argv, sb_store_cb cb,
               void *data)
{
    return sb__d_pending(d, sb_store_eval(d->store, script, nkeys, argc, argv, NULL, cb, data));
}

void sb__d_called_back(sb_delivery_t *d)
{
    if (--d->store_pending == 0 && d->parts_closed)
        d->free_parts(d);
}

uint32_t sb__random_u32(void)
{
    uint32_t r;
    sb_random_bytes(&r, sizeof(r));
    return r;
}
