/* The one non-cryptographic hash: 32-bit FNV-1a, for the direct-mapped caches and tables
 * (binding cache, prepare cache, OAuth token slots, pub/sub channels). Not for anything an
 * attacker may aim at for collisions across a trust boundary: those are SHA-256 (crypto.h). */
#ifndef SWITCHBOARD_HASH_H
#define SWITCHBOARD_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t sb_fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static inline uint32_t sb_fnv1a_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

#endif
