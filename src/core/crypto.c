/* Cryptographic primitives (see crypto.h). The DRBG is thread-local so loops never contend. */
#include "switchboard/crypto.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256_x86.h"
#include "switchboard/text.h"

static __thread mbedtls_ctr_drbg_context *tls_drbg;
static __thread mbedtls_entropy_context *tls_entropy;
/* Small draws (tokens, ids, codes: a session start takes 64 bytes in three draws) come from a
 * pool filled by one DRBG call: each call also re-keys the DRBG, which costs more than the
 * bytes. A byte handed out is wiped from the pool at once, so the pool never holds one already
 * used. */
#define POOL_SIZE     512
#define POOL_DRAW_MAX 64
static __thread unsigned char tls_pool[POOL_SIZE];
static __thread size_t tls_pool_left; /* unused bytes at the end of the pool */

static mbedtls_ctr_drbg_context *drbg(void)
{
    if (tls_drbg)
        return tls_drbg;
    /* One context pair per thread for the life of the thread (a handful of threads). */
    tls_entropy = calloc(1, sizeof(*tls_entropy));
    tls_drbg = calloc(1, sizeof(*tls_drbg));
    if (!tls_entropy || !tls_drbg)
        abort();
    mbedtls_entropy_init(tls_entropy);
    mbedtls_ctr_drbg_init(tls_drbg);
    static const char pers[] = "switchboard";
    if (mbedtls_ctr_drbg_seed(tls_drbg, mbedtls_entropy_func, tls_entropy, (const unsigned char *)pers,
                              sizeof(pers) - 1) != 0) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"CSPRNG seeding failed\"}\n");
        abort();
    }
    mbedtls_ctr_drbg_set_prediction_resistance(tls_drbg, MBEDTLS_CTR_DRBG_PR_OFF);
    return tls_drbg;
}

void sb_crypto_thread_cleanup(void)
{
    mbedtls_platform_zeroize(tls_pool, sizeof(tls_pool));
    tls_pool_left = 0;
    if (tls_drbg) {
        mbedtls_ctr_drbg_free(tls_drbg);
        mbedtls_entropy_free(tls_entropy);
        free(tls_drbg);
        free(tls_entropy);
        tls_drbg = NULL;
        tls_entropy = NULL;
    }
}

static void drbg_draw(unsigned char *p, size_t n)
{
    if (mbedtls_ctr_drbg_random(drbg(), p, n) != 0) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"CSPRNG failed\"}\n");
        abort();
    }
}

void sb_random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    if (n <= POOL_DRAW_MAX) {
        if (tls_pool_left < n) {
            drbg_draw(tls_pool, sizeof(tls_pool));
            tls_pool_left = sizeof(tls_pool);
        }
        unsigned char *src = tls_pool + sizeof(tls_pool) - tls_pool_left;
        memcpy(p, src, n);
        mbedtls_platform_zeroize(src, n);
        tls_pool_left -= n;
        return;
    }
    while (n) {
        size_t chunk = n > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : n;
        drbg_draw(p, chunk);
        p += chunk;
        n -= chunk;
    }
}

void sb_uuid4(char out[37])
{
    unsigned char b[16];
    char hex[33];
    sb_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    sb_hex_encode(b, 16, hex);
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
}

void sb_random_token(char *out, size_t bytes)
{
    unsigned char raw[64];
    if (bytes > sizeof(raw))
        bytes = sizeof(raw);
    sb_random_bytes(raw, bytes);
    sb_base64url_encode(raw, bytes, out);
}

#ifndef SB_HAVE_SHA256_X86
static bool sb_sha256_x86_available(void)
{
    return false;
}
#endif

bool sb_sha256_accelerated(void)
{
    return sb_sha256_x86_available();
}

void sb_sha256(const void *data, size_t n, unsigned char out[32])
{
#ifdef SB_HAVE_SHA256_X86
    if (sb_sha256_x86_available()) {
        sb_sha256_x86_t c;
        sb_sha256_x86_init(&c);
        sb_sha256_x86_update(&c, data, n);
        sb_sha256_x86_final(&c, out);
        return;
    }
#endif
    mbedtls_sha256_ret(data, n, out, 0);
}

void sb_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char d[32];
    sb_sha256(data, n, d);
    sb_hex_encode(d, 32, out);
}

void sb_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, unsigned char out[32])
{
    const void *parts[1] = {data};
    sb_hmac_sha256_parts(key, keylen, parts, &n, 1, out);
}

bool sb_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    const volatile unsigned char *x = a, *y = b;
    unsigned char acc = 0;
    for (size_t i = 0; i < alen; i++)
        acc |= (unsigned char)(x[i] ^ y[i]);
    return acc == 0;
}

#ifdef SB_HAVE_SHA256_X86
/* RFC 2104 over the SHA extensions: no context to allocate, the pads on the stack (wiped). */
static void hmac_x86(const void *key, size_t keylen, const void *const *parts, const size_t *lens, size_t n,
                     unsigned char out[32])
{
    unsigned char k[64] = {0}, pad[64], inner[32];
    sb_sha256_x86_t c;
    if (keylen > sizeof(k))
        sb_sha256(key, keylen, k);
    else if (keylen)
        memcpy(k, key, keylen);
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x36;
    sb_sha256_x86_init(&c);
    sb_sha256_x86_update(&c, pad, sizeof(pad));
    for (size_t i = 0; i < n; i++)
        sb_sha256_x86_update(&c, parts[i], lens[i]);
    sb_sha256_x86_final(&c, inner);
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x5c;
    sb_sha256_x86_init(&c);
    sb_sha256_x86_update(&c, pad, sizeof(pad));
    sb_sha256_x86_update(&c, inner, sizeof(inner));
    sb_sha256_x86_final(&c, out);
    mbedtls_platform_zeroize(k, sizeof(k));
    mbedtls_platform_zeroize(pad, sizeof(pad));
    mbedtls_platform_zeroize(inner, sizeof(inner));
    mbedtls_platform_zeroize(&c, sizeof(c));
}
#endif

void sb_hmac_sha256_parts(const void *key, size_t keylen, const void *const *parts, const size_t *lens, size_t n,
                          unsigned char out[32])
{
#ifdef SB_HAVE_SHA256_X86
    if (sb_sha256_x86_available()) {
        hmac_x86(key, keylen, parts, lens, n, out);
        return;
    }
#endif
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    mbedtls_md_hmac_starts(&ctx, key, keylen);
    for (size_t i = 0; i < n; i++)
        mbedtls_md_hmac_update(&ctx, parts[i], lens[i]);
    mbedtls_md_hmac_finish(&ctx, out);
    mbedtls_md_free(&ctx);
}
