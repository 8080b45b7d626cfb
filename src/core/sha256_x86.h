/* SHA-256 on the x86 SHA extensions, for crypto.c only, on x86 builds only (SB_HAVE_SHA256_X86):
 * call nothing here unless sb_sha256_x86_available() said yes (the blocks are hashed with those
 * instructions alone). */
#ifndef SWITCHBOARD_SHA256_X86_H
#define SWITCHBOARD_SHA256_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* -DSB_NO_SHA256_X86 leaves it out (mbedTLS only), as on other architectures. */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(SB_NO_SHA256_X86)
#define SB_HAVE_SHA256_X86 1

typedef struct sb_sha256_x86 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    unsigned char buf[64];
    size_t fill;
} sb_sha256_x86_t;

/* Whether this CPU has the SHA extensions (with SSSE3 and SSE4.1); asked once. */
bool sb_sha256_x86_available(void);
void sb_sha256_x86_init(sb_sha256_x86_t *c);
void sb_sha256_x86_update(sb_sha256_x86_t *c, const void *data, size_t n);
void sb_sha256_x86_final(sb_sha256_x86_t *c, unsigned char out[32]);
#endif

#endif
