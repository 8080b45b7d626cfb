/* Cryptographic primitives over mbedTLS: a CSPRNG per thread, SHA-256, HMAC-SHA256, UUIDv4 and
 * constant-time comparison. */
#ifndef SWITCHBOARD_CRYPTO_H
#define SWITCHBOARD_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

/* Fills out with n bytes from this thread's CTR-DRBG (seeded from the OS entropy source).
 * Aborts if the entropy source fails: handing out predictable secrets is never acceptable. */
void sb_random_bytes(void *out, size_t n);
/* Canonical lower-case UUIDv4, out needs 37 bytes. */
void sb_uuid4(char out[37]);
/* A random token: `bytes` random bytes as base64url (no padding) into out. */
void sb_random_token(char *out, size_t bytes);

/* SHA-256 and HMAC-SHA256 run on the CPU's SHA extensions where it has them (x86), else on
 * mbedTLS; the same bytes either way. */
bool sb_sha256_accelerated(void);
void sb_sha256(const void *data, size_t n, unsigned char out[32]);
void sb_sha256_hex(const void *data, size_t n, char out[65]);
void sb_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, unsigned char out[32]);

/* HMAC-SHA256 over the concatenation of n parts, without building it. */
void sb_hmac_sha256_parts(const void *key, size_t keylen, const void *const *parts, const size_t *lens, size_t n,
                          unsigned char out[32]);

/* Frees this thread's DRBG; call before a thread that used the CSPRNG exits. */
void sb_crypto_thread_cleanup(void);

/* Constant-time equality of two byte strings. Lengths are not secret. */
bool sb_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
