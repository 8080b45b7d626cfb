/* Unit tests for src/channels/jwt.c: JWKS parsing and Bot Framework token verification. The RSA
 * keys are generated here from a fixed seed (no key files), and tokens are signed here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/jwt.h"
#include "switchboard/text.h"

#define NOW      1700000000
#define ISSUER   "https://api.botframework.com"
#define APP_ID   "5f1c2a9e-0000-4000-8000-000000000001"
#define SVC_URL  "https://smba.trafficmanager.net/emea/"
#define HDR_K1   "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}"
#define HDR_K2   "{\"alg\":\"RS256\",\"kid\":\"k2\",\"typ\":\"JWT\"}"
#define CLAIMS_F "{\"iss\":\"" ISSUER "\",\"aud\":%s,\"exp\":%s,\"nbf\":%s%s}"

/* Keys shared by all tests: k1 and k2 are 2048-bit, small is 1024-bit. */
static mbedtls_ctr_drbg_context drbg;
static mbedtls_rsa_context k1, k2, small;
static sb_jwks_t *jwks; /* k1 endorsed for msteams and skype, k2 without endorsements */

/* Deterministic "entropy", so the keys are the same on every run. */
static int fixed_entropy(void *ctx, unsigned char *out, size_t n)
{
    unsigned *counter = ctx;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)((*counter)++ * 131u);
    return 0;
}

static char *b64url(const void *data, size_t n)
{
    char *s = malloc(sb_base64url_len(n) + 1);
    assert_non_null(s);
    sb_base64url_encode(data, n, s);
    return s;
}

static char *mpi_b64url(const mbedtls_mpi *x)
{
    unsigned char buf[1024];
    size_t n = mbedtls_mpi_size(x);
    assert_true(n <= sizeof(buf));
    assert_int_equal(mbedtls_mpi_write_binary(x, buf, n), 0);
    return b64url(buf, n);
}

/* One JWK of key; extra is spliced into the object (e.g. ",\"endorsements\":[...]"). */
static char *jwk(const mbedtls_rsa_context *key, const char *kid, const char *extra)
{
    mbedtls_mpi n, e;
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&e);
    assert_int_equal(mbedtls_rsa_export(key, &n, NULL, NULL, NULL, &e), 0);
    char *n64 = mpi_b64url(&n), *e64 = mpi_b64url(&e);
    size_t cap = strlen(n64) + strlen(kid) + strlen(extra) + 200;
    char *s = malloc(cap);
    assert_non_null(s);
    snprintf(s, cap, "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n64, e64,
             extra);
    free(n64);
    free(e64);
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&e);
    return s;
}

static char *jwks_doc(const char *a, const char *b)
{
    size_t cap = strlen(a) + (b ? strlen(b) : 0) + 32;
    char *s = malloc(cap);
    assert_non_null(s);
    snprintf(s, cap, "{\"keys\":[%s%s%s]}", a, b ? "," : "", b ? b : "");
    return s;
}

static sb_jwks_t *parse(const char *doc)
{
    char err[128] = "";
    sb_jwks_t *ks = sb_jwks_parse(doc, strlen(doc), err, sizeof(err));
    if (!ks)
        assert_true(err[0] != '\0');
    return ks;
}

/* <b64 header>.<b64 payload>.<b64 RS256 signature by key> */
static char *sign_token(mbedtls_rsa_context *key, const char *header, const char *payload)
{
    char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
    size_t cap = strlen(h) + strlen(p) + 1400;
    char *t = malloc(cap);
    assert_non_null(t);
    int n = snprintf(t, cap, "%s.%s", h, p);
    unsigned char hash[32], sig[1024];
    mbedtls_sha256_ret((const unsigned char *)t, (size_t)n, hash, 0);
    assert_int_equal(mbedtls_rsa_pkcs1_sign(key, mbedtls_ctr_drbg_random, &drbg, MBEDTLS_RSA_PRIVATE, MBEDTLS_MD_SHA256,
                                            32, hash, sig),
                     0);
    char *s = b64url(sig, mbedtls_rsa_get_len(key));
    snprintf(t + n, cap - (size_t)n, ".%s", s);
    free(h);
    free(p);
    free(s);
    return t;
}

/* A token signed by key with the usual issuer; aud, exp and nbf as JSON text, extra claims
 * appended (",\"serviceurl\":..."). */
static char *claims_token(mbedtls_rsa_context *key, const char *header, const char *aud, const char *exp,
                          const char *nbf, const char *extra)
{
    char payload[4096];
    snprintf(payload, sizeof(payload), CLAIMS_F, aud, exp, nbf, extra);
    return sign_token(key, header, payload);
}

static sb_jwt_expect_t expect(void)
{
    return (sb_jwt_expect_t){.issuer = ISSUER, .audience = APP_ID, .now_s = NOW, .skew_s = 300};
}

static int verify(const char *token, const sb_jwt_expect_t *x)
{
    /* An exact-size copy without a terminator: ASan catches any read past len. */
    size_t len = strlen(token);
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, token, len);
    int rc = sb_jwt_verify(jwks, copy, len, x);
    free(copy);
    return rc;
}

/* Signs with key and checks the result, freeing the token. */
static void expect_rc(char *token, const sb_jwt_expect_t *x, int want)
{
    int rc = verify(token, x);
    if (rc != want)
        fail_msg("token %.80s...: got %d (%s), want %d (%s)", token, rc, sb_jwt_strerror(rc), want,
                 sb_jwt_strerror(want));
    free(token);
}

static int setup(void **state)
{
    (void)state;
    static unsigned counter;
    static const char pers[] = "switchboard test_jwt";
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, fixed_entropy, &counter, (const unsigned char *)pers, sizeof(pers) - 1))
        return -1;
    mbedtls_rsa_init(&k1, MBEDTLS_RSA_PKCS_V15, 0);
    mbedtls_rsa_init(&k2, MBEDTLS_RSA_PKCS_V15, 0);
    mbedtls_rsa_init(&small, MBEDTLS_RSA_PKCS_V15, 0);
    if (mbedtls_rsa_gen_key(&k1, mbedtls_ctr_drbg_random, &drbg, 2048, 65537) ||
        mbedtls_rsa_gen_key(&k2, mbedtls_ctr_drbg_random, &drbg, 2048, 65537) ||
        mbedtls_rsa_gen_key(&small, mbedtls_ctr_drbg_random, &drbg, 1024, 65537))
        return -1;
    char *a = jwk(&k1, "k1", ",\"endorsements\":[\"msteams\",7,\"skype\"]");
    char *b = jwk(&k2, "k2", "");
    char *doc = jwks_doc(a, b);
    jwks = sb_jwks_parse(doc, strlen(doc), NULL, 0);
    free(a);
    free(b);
    free(doc);
    return jwks && sb_jwks_count(jwks) == 2 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sb_jwks_free(jwks);
    mbedtls_rsa_free(&k1);
    mbedtls_rsa_free(&k2);
    mbedtls_rsa_free(&small);
    mbedtls_ctr_drbg_free(&drbg);
    return 0;
}

/* ---------- valid tokens ---------- */

static void test_valid(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    expect_rc(claims_token(&k1, HDR_K1, "\"" APP_ID "\"", "1700003600", "1699999000", ""), &x, SB_JWT_OK);
    expect_rc(claims_token(&k2, HDR_K2, "\"" APP_ID "\"", "1700003600", "1699999000", ""), &x, SB_JWT_OK);
    /* aud as an array, non-strings ignored */
    expect_rc(claims_token(&k1, HDR_K1, "[1,\"other\",\"" APP_ID "\"]", "1700003600", "1699999000", ""), &x, SB_JWT_OK);
    /* fractional NumericDates, no nbf at all (the format puts one in; use a far past one) */
    expect_rc(claims_token(&k1, HDR_K1, "\"" APP_ID "\"", "1700000000.5", "0", ""), &x, SB_JWT_OK);
    expect_rc(sign_token(&k1, HDR_K1, "{\"iss\":\"" ISSUER "\",\"aud\":\"" APP_ID "\",\"exp\":1700000001}"), &x,
              SB_JWT_OK);
}

static void test_time(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    const char *aud = "\"" APP_ID "\"";
    /* exp 301 s ago: beyond the 300 s skew; exactly 300 s ago and 299 s ago: within */
    expect_rc(claims_token(&k1, HDR_K1, aud, "1699999699", "1699990000", ""), &x, SB_JWT_EXPIRED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1699999700", "1699990000", ""), &x, SB_JWT_OK);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1699999701", "1699990000", ""), &x, SB_JWT_OK);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1699999699.5", "1699990000", ""), &x, SB_JWT_EXPIRED);
    x.skew_s = 0;
    expect_rc(claims_token(&k1, HDR_K1, aud, "1699999999", "1699990000", ""), &x, SB_JWT_EXPIRED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1699999999.9", "1699990000", ""), &x, SB_JWT_EXPIRED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700000000", "1699990000", ""), &x, SB_JWT_OK);
    x.skew_s = -100; /* treated as 0 */
    expect_rc(claims_token(&k1, HDR_K1, aud, "1699999999", "1699990000", ""), &x, SB_JWT_EXPIRED);
    x.skew_s = 300;
    /* exp missing */
    expect_rc(sign_token(&k1, HDR_K1, "{\"iss\":\"" ISSUER "\",\"aud\":\"" APP_ID "\"}"), &x, SB_JWT_EXPIRED);
    /* nbf 301 s ahead: beyond skew; 300 s ahead: within */
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "1700000301", ""), &x, SB_JWT_NOT_YET);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "1700000300.5", ""), &x, SB_JWT_NOT_YET);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "1700000300", ""), &x, SB_JWT_OK);
    /* exp is checked before nbf */
    expect_rc(claims_token(&k1, HDR_K1, aud, "1", "1800000000", ""), &x, SB_JWT_EXPIRED);
}

/* Out-of-range NumericDates must not reach a double-to-int64 conversion (UBSan would flag it). */
static void test_time_out_of_range(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    const char *aud = "\"" APP_ID "\"";
    expect_rc(claims_token(&k1, HDR_K1, aud, "1e300", "0", ""), &x, SB_JWT_MALFORMED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "-1e300", "0", ""), &x, SB_JWT_MALFORMED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1e999", "0", ""), &x, SB_JWT_MALFORMED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "9223372036854775808", "0", ""), &x, SB_JWT_MALFORMED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "\"1700003600\"", "0", ""), &x, SB_JWT_MALFORMED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "null", "0", ""), &x, SB_JWT_MALFORMED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "-1e300", ""), &x, SB_JWT_MALFORMED);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "true", ""), &x, SB_JWT_MALFORMED);
    /* 2^53 is the largest accepted value */
    expect_rc(claims_token(&k1, HDR_K1, aud, "9007199254740992", "-9007199254740992", ""), &x, SB_JWT_OK);
    expect_rc(claims_token(&k1, HDR_K1, aud, "9007199254740994", "0", ""), &x, SB_JWT_MALFORMED);
    /* extreme clocks and skews */
    x.now_s = INT64_MAX;
    x.skew_s = 1 << 30;
    expect_rc(claims_token(&k1, HDR_K1, aud, "9007199254740992", "0", ""), &x, SB_JWT_EXPIRED);
    x.now_s = INT64_MIN;
    expect_rc(claims_token(&k1, HDR_K1, aud, "9007199254740992", "-9007199254740992", ""), &x, SB_JWT_NOT_YET);
}

static void test_issuer_audience(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    const char *aud = "\"" APP_ID "\"";
    expect_rc(sign_token(&k1, HDR_K1, "{\"iss\":\"https://evil.example\",\"aud\":\"" APP_ID "\",\"exp\":1700003600}"),
              &x, SB_JWT_BAD_ISSUER);
    expect_rc(sign_token(&k1, HDR_K1, "{\"iss\":\"" ISSUER "/\",\"aud\":\"" APP_ID "\",\"exp\":1700003600}"), &x,
              SB_JWT_BAD_ISSUER);
    expect_rc(sign_token(&k1, HDR_K1, "{\"iss\":[\"" ISSUER "\"],\"aud\":\"" APP_ID "\",\"exp\":1700003600}"), &x,
              SB_JWT_BAD_ISSUER);
    expect_rc(sign_token(&k1, HDR_K1, "{\"aud\":\"" APP_ID "\",\"exp\":1700003600}"), &x, SB_JWT_BAD_ISSUER);
    expect_rc(claims_token(&k1, HDR_K1, "\"someone-else\"", "1700003600", "0", ""), &x, SB_JWT_BAD_AUDIENCE);
    expect_rc(claims_token(&k1, HDR_K1, "[\"a\",\"b\"]", "1700003600", "0", ""), &x, SB_JWT_BAD_AUDIENCE);
    expect_rc(claims_token(&k1, HDR_K1, "[]", "1700003600", "0", ""), &x, SB_JWT_BAD_AUDIENCE);
    expect_rc(claims_token(&k1, HDR_K1, "{\"aud\":\"" APP_ID "\"}", "1700003600", "0", ""), &x, SB_JWT_BAD_AUDIENCE);
    expect_rc(sign_token(&k1, HDR_K1, "{\"iss\":\"" ISSUER "\",\"exp\":1700003600}"), &x, SB_JWT_BAD_AUDIENCE);
    /* NULL expectations match nothing */
    x.issuer = NULL;
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_BAD_ISSUER);
    x = expect();
    x.audience = NULL;
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_BAD_AUDIENCE);
}

static void test_endorsements(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    const char *aud = "\"" APP_ID "\"";
    x.channel_id = "msteams";
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_OK);
    x.channel_id = "skype";
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_OK);
    x.channel_id = "slack";
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_NOT_ENDORSED);
    x.channel_id = "MSTEAMS";
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_NOT_ENDORSED);
    /* k2 has no endorsements: it endorses nothing */
    x.channel_id = "msteams";
    expect_rc(claims_token(&k2, HDR_K2, aud, "1700003600", "0", ""), &x, SB_JWT_NOT_ENDORSED);
    x.channel_id = NULL;
    expect_rc(claims_token(&k2, HDR_K2, aud, "1700003600", "0", ""), &x, SB_JWT_OK);
    /* audience is checked before endorsements */
    x.channel_id = "slack";
    expect_rc(claims_token(&k1, HDR_K1, "\"x\"", "1700003600", "0", ""), &x, SB_JWT_BAD_AUDIENCE);
}

static void test_service_url(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    const char *aud = "\"" APP_ID "\"";
    const char *su = ",\"serviceurl\":\"" SVC_URL "\"";
    x.service_url = SVC_URL;
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", su), &x, SB_JWT_OK);
    x.service_url = "https://smba.trafficmanager.net/amer/";
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", su), &x, SB_JWT_BAD_SERVICE_URL);
    x.service_url = "https://smba.trafficmanager.net/emea"; /* exact: no trailing-slash leniency */
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", su), &x, SB_JWT_BAD_SERVICE_URL);
    x.service_url = SVC_URL;
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ",\"serviceurl\":7"), &x, SB_JWT_BAD_SERVICE_URL);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ",\"serviceurl\":null"), &x, SB_JWT_BAD_SERVICE_URL);
    /* absent claim: fine unless required */
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_OK);
    x.require_service_url = true;
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_BAD_SERVICE_URL);
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", su), &x, SB_JWT_OK);
    /* not checked without a service_url */
    x.service_url = NULL;
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ",\"serviceurl\":\"https://evil.example/\""), &x,
              SB_JWT_OK);
    /* endorsements come before the service URL */
    x.service_url = SVC_URL;
    x.channel_id = "slack";
    expect_rc(claims_token(&k1, HDR_K1, aud, "1700003600", "0", ",\"serviceurl\":\"x\""), &x, SB_JWT_NOT_ENDORSED);
}

/* ---------- signatures ---------- */

static void test_signature(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    const char *aud = "\"" APP_ID "\"";
    char *good = claims_token(&k1, HDR_K1, aud, "1700003600", "0", "");
    assert_int_equal(verify(good, &x), SB_JWT_OK);
    char *dot1 = strchr(good, '.'), *dot2 = strchr(dot1 + 1, '.');

    /* tampered payload: a different, still valid payload under the old signature */
    char *evil = claims_token(&k1, HDR_K1, "\"attacker\"", "1700003600", "0", "");
    char *edot1 = strchr(evil, '.'), *edot2 = strchr(edot1 + 1, '.');
    char spliced[4096];
    snprintf(spliced, sizeof(spliced), "%.*s%.*s%s", (int)(dot1 - good), good, (int)(edot2 - edot1), edot1, dot2);
    assert_int_equal(verify(spliced, &x), SB_JWT_BAD_SIGNATURE);
    free(evil);

    /* one flipped character in the payload (checked before it is parsed) and in the signature */
    char t[4096];
    strcpy(t, good);
    t[dot1 - good + 5] = t[dot1 - good + 5] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(t, &x), SB_JWT_BAD_SIGNATURE);
    strcpy(t, good);
    t[dot2 - good + 10] = t[dot2 - good + 10] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(t, &x), SB_JWT_BAD_SIGNATURE);

    /* signature truncated, extended, or of a 1024-bit key: wrong length */
    strcpy(t, good);
    t[strlen(t) - 2] = '\0'; /* 340 characters: 255 bytes, canonically encoded */
    assert_int_equal(verify(t, &x), SB_JWT_BAD_SIGNATURE);
    snprintf(t, sizeof(t), "%sAAAA", good);
    assert_int_equal(verify(t, &x), SB_JWT_BAD_SIGNATURE);
    expect_rc(claims_token(&small, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_BAD_SIGNATURE);
    /* a signature far beyond any modulus */
    char *big = malloc(8192);
    assert_non_null(big);
    int n = snprintf(big, 8192, "%.*s", (int)(dot2 - good + 1), good);
    memset(big + n, 'A', 3000);
    big[n + 3000] = '\0';
    assert_int_equal(verify(big, &x), SB_JWT_BAD_SIGNATURE);
    free(big);

    /* signed by k2 but naming k1 (same kid, another key), and the reverse */
    expect_rc(claims_token(&k2, HDR_K1, aud, "1700003600", "0", ""), &x, SB_JWT_BAD_SIGNATURE);
    expect_rc(claims_token(&k1, HDR_K2, aud, "1700003600", "0", ""), &x, SB_JWT_BAD_SIGNATURE);
    /* unknown header members are ignored */
    expect_rc(
        claims_token(&k1, "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\",\"x\":1}", aud, "1700003600", "0", ""), &x,
        SB_JWT_OK);

    /* a bad signature wins over bad claims: nothing unsigned is trusted */
    char *expired = claims_token(&k2, HDR_K1, "\"attacker\"", "1", "0", "");
    assert_int_equal(verify(expired, &x), SB_JWT_BAD_SIGNATURE);
    free(expired);
    free(good);
}

static void test_unknown_kid(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    const char *aud = "\"" APP_ID "\"";
    expect_rc(claims_token(&k1, "{\"alg\":\"RS256\",\"kid\":\"k3\"}", aud, "1700003600", "0", ""), &x,
              SB_JWT_UNKNOWN_KID);
    expect_rc(claims_token(&k1, "{\"alg\":\"RS256\",\"kid\":\"K1\"}", aud, "1700003600", "0", ""), &x,
              SB_JWT_UNKNOWN_KID);
    /* no key set at all */
    char *t = claims_token(&k1, HDR_K1, aud, "1700003600", "0", "");
    assert_int_equal(sb_jwt_verify(NULL, t, strlen(t), &x), SB_JWT_UNKNOWN_KID);
    free(t);
}

/* ---------- malformed tokens ---------- */

/* header.payload.signature from raw texts, the signature given already encoded. */
static char *raw_token(const char *header, const char *payload, const char *sig64)
{
    char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
    size_t cap = strlen(h) + strlen(p) + strlen(sig64) + 3;
    char *t = malloc(cap);
    assert_non_null(t);
    snprintf(t, cap, "%s.%s.%s", h, p, sig64);
    free(h);
    free(p);
    return t;
}

static void test_algorithms(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    const char *claims = "{\"iss\":\"" ISSUER "\",\"aud\":\"" APP_ID "\",\"exp\":1700003600}";
    /* alg none, with and without a signature part */
    expect_rc(raw_token("{\"alg\":\"none\",\"kid\":\"k1\"}", claims, ""), &x, SB_JWT_MALFORMED);
    expect_rc(raw_token("{\"alg\":\"none\",\"kid\":\"k1\"}", claims, "AAAA"), &x, SB_JWT_MALFORMED);
    /* HS256 with the public key's bytes as the HMAC secret (the classic confusion attack) */
    expect_rc(sign_token(&k1, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", claims), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, "{\"alg\":\"RS384\",\"kid\":\"k1\"}", claims), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, "{\"alg\":\"rs256\",\"kid\":\"k1\"}", claims), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, "{\"alg\":\"PS256\",\"kid\":\"k1\"}", claims), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, "{\"kid\":\"k1\"}", claims), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, "{\"alg\":[\"RS256\"],\"kid\":\"k1\"}", claims), &x, SB_JWT_MALFORMED);
    /* kid missing, empty or not a string */
    expect_rc(sign_token(&k1, "{\"alg\":\"RS256\"}", claims), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, "{\"alg\":\"RS256\",\"kid\":\"\"}", claims), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, "{\"alg\":\"RS256\",\"kid\":1}", claims), &x, SB_JWT_MALFORMED);
    /* critical extensions are refused */
    expect_rc(sign_token(&k1, "{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"b64\"],\"b64\":false}", claims), &x,
              SB_JWT_MALFORMED);
    /* header or payload not a JSON object (the payload only once it is signed) */
    expect_rc(sign_token(&k1, "[\"RS256\"]", claims), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, "{\"alg\":\"RS256\",\"kid\":\"k1\"} x", claims), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, HDR_K1, "not json"), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, HDR_K1, "[1]"), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k1, HDR_K1, "{\"exp\":1700003600} trailing"), &x, SB_JWT_MALFORMED);
    expect_rc(sign_token(&k2, HDR_K1, "not json"), &x, SB_JWT_BAD_SIGNATURE);
}

static void test_garbage(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    static const char *const bad[] = {
        "",
        "garbage",
        ".",
        "..",
        "...",
        "a.b",
        "a..c",
        ".b.c",
        "a.b.",
        "a.b.c.d",
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.A", /* impossible base64 length */
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0=.e30.AAAA",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30=.AAAA",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.AA==",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e3+.AAAA",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.AA/A",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e 0.AAAA",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.AAAA\n",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e31.AAAA", /* non-canonical final character */
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn1.e30.AAAA", /* same, in the header */
        "bm90IGpzb24.e30.AAAA",                         /* header "not json" */
        "e30.e30.AAAA",                                 /* header {} */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = verify(bad[i], &x);
        if (rc != SB_JWT_MALFORMED)
            fail_msg("'%s': got %d, want MALFORMED", bad[i], rc);
    }
    /* the prefix above is a well-formed header for k1: canonical parts make it a signature failure */
    assert_int_equal(verify("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.AAAA", &x), SB_JWT_BAD_SIGNATURE);
    /* NUL bytes, raw or decoded */
    char nul[] = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.AA\0A";
    assert_int_equal(sb_jwt_verify(jwks, nul, sizeof(nul) - 1, &x), SB_JWT_MALFORMED);
    unsigned char hdr_nul[] = "{\"alg\":\"RS256\",\"kid\":\"k1\"}\0 ";
    char *h = b64url(hdr_nul, sizeof(hdr_nul) - 1);
    char tok[256];
    snprintf(tok, sizeof(tok), "%s.e30.AAAA", h);
    free(h);
    assert_int_equal(verify(tok, &x), SB_JWT_MALFORMED);
    /* NULL arguments */
    assert_int_equal(sb_jwt_verify(jwks, NULL, 10, &x), SB_JWT_MALFORMED);
    assert_int_equal(sb_jwt_verify(jwks, "a.b.c", 5, NULL), SB_JWT_MALFORMED);
}

/* Never reads past len: a valid token cut anywhere is refused, in an exact-size buffer. */
static void test_prefixes(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    char *good = claims_token(&k1, HDR_K1, "\"" APP_ID "\"", "1700003600", "0", "");
    size_t len = strlen(good);
    for (size_t n = 0; n < len; n++) {
        char *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, good, n);
        int rc = sb_jwt_verify(jwks, copy, n, &x);
        free(copy);
        if (rc == SB_JWT_OK)
            fail_msg("prefix of %zu bytes accepted", n);
    }
    assert_int_equal(verify(good, &x), SB_JWT_OK);
    free(good);
}

static void test_huge(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    /* the largest valid token that fits is accepted, one a few bytes over is not */
    char *fits = NULL, *over = NULL;
    char *extra = malloc(SB_JWT_MAX_TOKEN + 32), *payload = malloc(SB_JWT_MAX_TOKEN + 200);
    assert_non_null(extra);
    assert_non_null(payload);
    size_t sig64 = sb_base64url_len(256), best = 0;
    for (size_t pad = 11000; pad < 12500; pad++) {
        size_t n = (size_t)snprintf(extra, SB_JWT_MAX_TOKEN + 32, ",\"pad\":\"%0*d\"", (int)pad, 0);
        assert_true(n < SB_JWT_MAX_TOKEN + 32);
        snprintf(payload, SB_JWT_MAX_TOKEN + 200, CLAIMS_F, "\"" APP_ID "\"", "1700003600", "0", extra);
        size_t len = sb_base64url_len(strlen(HDR_K1)) + 1 + sb_base64url_len(strlen(payload)) + 1 + sig64;
        if (len <= SB_JWT_MAX_TOKEN && len > best) {
            best = len;
            free(fits);
            fits = sign_token(&k1, HDR_K1, payload);
        } else if (len > SB_JWT_MAX_TOKEN) {
            over = sign_token(&k1, HDR_K1, payload);
            break;
        }
    }
    free(extra);
    free(payload);
    assert_non_null(fits);
    assert_non_null(over);
    assert_true(strlen(fits) > SB_JWT_MAX_TOKEN - 4);
    assert_int_equal(verify(fits, &x), SB_JWT_OK);
    assert_int_equal(verify(over, &x), SB_JWT_MALFORMED);
    free(fits);
    free(over);
    /* a megabyte of base64 */
    size_t n = 1 << 20;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, 'A', n);
    big[100] = '.';
    big[200] = '.';
    assert_int_equal(sb_jwt_verify(jwks, big, n, &x), SB_JWT_MALFORMED);
    free(big);
}

/* ---------- key sets ---------- */

static void test_jwks_errors(void **state)
{
    (void)state;
    char err[128];
    static const char *const docs[] = {
        "",
        "not json",
        "{\"keys\":[]",
        "[]",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":\"x\"}",
        "{\"keys\":[]}",
        "{\"keys\":[1,\"a\",null,[]]}",
        "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
        "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"s1\",\"k\":\"AAAA\"}]}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        err[0] = '\0';
        sb_jwks_t *ks = sb_jwks_parse(docs[i], strlen(docs[i]), err, sizeof(err));
        if (ks)
            fail_msg("'%s' parsed", docs[i]);
        assert_true(err[0] != '\0');
    }
    assert_null(sb_jwks_parse("not json", 8, err, sizeof(err)));
    assert_string_equal(err, "JWKS is not JSON");
    assert_null(sb_jwks_parse("{}", 2, err, sizeof(err)));
    assert_string_equal(err, "JWKS has no \"keys\" array");
    assert_null(sb_jwks_parse("{\"keys\":[]}", 11, err, sizeof(err)));
    assert_string_equal(err, "JWKS holds no usable RSA key");
    /* err is optional and truncated to errlen */
    assert_null(sb_jwks_parse("{}", 2, NULL, 0));
    assert_null(sb_jwks_parse(NULL, 0, err, 4));
    assert_string_equal(err, "JWK");
    assert_int_equal(sb_jwks_count(NULL), 0);
    sb_jwks_free(NULL);
}

static void test_jwks_skips(void **state)
{
    (void)state;
    char *good = jwk(&k1, "k1", "");
    char *short_key = jwk(&small, "s1", "");
    /* only the 1024-bit key: nothing usable */
    char *doc = jwks_doc(short_key, NULL);
    assert_null(parse(doc));
    free(doc);

    /* each bad entry next to a good one: the good one alone survives */
    char mutated[4096];
    static const char *const bad_entries[] = {
        "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
        "{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", /* tiny modulus */
        "{\"kty\":\"RSA\",\"kid\":\"x\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"kid\":7,\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":null,\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"\",\"e\":\"\"}",
        "{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"!!!!\",\"e\":\"AQAB\"}",
        "[]",
        "\"k\"",
    };
    for (size_t i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++) {
        doc = jwks_doc(bad_entries[i], good);
        sb_jwks_t *ks = parse(doc);
        assert_non_null(ks);
        if (sb_jwks_count(ks) != 1)
            fail_msg("entry '%s' was not skipped", bad_entries[i]);
        sb_jwks_free(ks);
        free(doc);
    }
    doc = jwks_doc(short_key, good);
    sb_jwks_t *ks = parse(doc);
    assert_int_equal(sb_jwks_count(ks), 1);
    sb_jwks_free(ks);
    free(doc);

    /* corruptions of the good key itself: n with a '+', with padding, a non-canonical tail;
     * e even (mbedTLS refuses it), e too long; use/alg of another purpose */
    struct {
        const char *from, *to;
    } edits[] = {
        {"\"n\":\"", "\"n\":\"+"},
        {"\"e\":\"AQAB\"", "\"e\":\"AQAB=\""},
        {"\"e\":\"AQAB\"", "\"e\":\"AQAC\""},
        {"\"e\":\"AQAB\"", "\"e\":\"AQAB-\""},
        {"\"e\":\"AQAB\"", "\"e\":\"AAAAAAAAAAAAAQAB\""},
        {"\"use\":\"sig\"", "\"use\":\"enc\""},
        {"\"use\":\"sig\"", "\"alg\":\"RS512\""},
        {"\"kty\":\"RSA\"", "\"kty\":\"rsa\""},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        const char *at = strstr(good, edits[i].from);
        assert_non_null(at);
        snprintf(mutated, sizeof(mutated), "%.*s%s%s", (int)(at - good), good, edits[i].to, at + strlen(edits[i].from));
        doc = jwks_doc(mutated, NULL);
        ks = parse(doc);
        if (ks)
            fail_msg("edit %zu (%s) accepted", i, edits[i].to);
        free(doc);
    }
    /* a JWKS "alg":"RS256" is fine */
    {
        const char *at = strstr(good, "\"use\":\"sig\"");
        snprintf(mutated, sizeof(mutated), "%.*s\"alg\":\"RS256\"%s", (int)(at - good), good,
                 at + strlen("\"use\":\"sig\""));
        doc = jwks_doc(mutated, NULL);
        ks = parse(doc);
        assert_int_equal(sb_jwks_count(ks), 1);
        sb_jwks_free(ks);
        free(doc);
    }
    /* so is one leading zero byte in n (a DER sign byte), not two */
    for (int zeros = 1; zeros <= 2; zeros++) {
        mbedtls_mpi n, e;
        mbedtls_mpi_init(&n);
        mbedtls_mpi_init(&e);
        assert_int_equal(mbedtls_rsa_export(&k1, &n, NULL, NULL, NULL, &e), 0);
        unsigned char raw[258] = {0};
        assert_int_equal(mbedtls_mpi_write_binary(&n, raw + zeros, 256), 0);
        char *n64 = b64url(raw, 256 + (size_t)zeros);
        snprintf(mutated, sizeof(mutated), "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"z\",\"n\":\"%s\",\"e\":\"AQAB\"}]}",
                 n64);
        ks = sb_jwks_parse(mutated, strlen(mutated), NULL, 0);
        assert_int_equal(sb_jwks_count(ks), zeros == 1 ? 1 : 0);
        sb_jwks_free(ks);
        free(n64);
        mbedtls_mpi_free(&n);
        mbedtls_mpi_free(&e);
    }
    free(short_key);
    free(good);
}

static void test_jwks_duplicates_and_cap(void **state)
{
    (void)state;
    sb_jwt_expect_t x = expect();
    const char *aud = "\"" APP_ID "\"";
    /* a repeated kid keeps the first key */
    char *a = jwk(&k1, "same", ",\"endorsements\":[\"msteams\"]");
    char *b = jwk(&k2, "same", "");
    char *doc = jwks_doc(a, b);
    sb_jwks_t *ks = parse(doc);
    assert_int_equal(sb_jwks_count(ks), 1);
    char *t1 = claims_token(&k1, "{\"alg\":\"RS256\",\"kid\":\"same\"}", aud, "1700003600", "0", "");
    char *t2 = claims_token(&k2, "{\"alg\":\"RS256\",\"kid\":\"same\"}", aud, "1700003600", "0", "");
    assert_int_equal(sb_jwt_verify(ks, t1, strlen(t1), &x), SB_JWT_OK);
    assert_int_equal(sb_jwt_verify(ks, t2, strlen(t2), &x), SB_JWT_BAD_SIGNATURE);
    free(t1);
    free(t2);
    sb_jwks_free(ks);
    free(doc);
    free(a);
    free(b);

    /* at most SB_JWKS_MAX_KEYS keys; trailing whitespace is fine, trailing garbage is not */
    size_t cap = 100 * 600 + 64;
    char *big = malloc(cap);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, cap, "{\"keys\":[");
    for (int i = 0; i < 100; i++) {
        char kid[16];
        snprintf(kid, sizeof(kid), "key%d", i);
        char *k = jwk(i % 2 ? &k1 : &k2, kid, "");
        n += (size_t)snprintf(big + n, cap - n, "%s%s", i ? "," : "", k);
        free(k);
    }
    n += (size_t)snprintf(big + n, cap - n, "]} \n");
    ks = sb_jwks_parse(big, n, NULL, 0);
    assert_int_equal(sb_jwks_count(ks), SB_JWKS_MAX_KEYS);
    t1 = claims_token(&k1, "{\"alg\":\"RS256\",\"kid\":\"key63\"}", aud, "1700003600", "0", "");
    t2 = claims_token(&k1, "{\"alg\":\"RS256\",\"kid\":\"key65\"}", aud, "1700003600", "0", "");
    assert_int_equal(sb_jwt_verify(ks, t1, strlen(t1), &x), SB_JWT_OK);
    assert_int_equal(sb_jwt_verify(ks, t2, strlen(t2), &x), SB_JWT_UNKNOWN_KID);
    free(t1);
    free(t2);
    sb_jwks_free(ks);
    big[n - 1] = 'x';
    assert_null(sb_jwks_parse(big, n, NULL, 0));
    /* not NUL-terminated: only len bytes are read */
    big[n - 1] = '\n';
    char *exact = malloc(n);
    assert_non_null(exact);
    memcpy(exact, big, n);
    ks = sb_jwks_parse(exact, n, NULL, 0);
    assert_int_equal(sb_jwks_count(ks), SB_JWKS_MAX_KEYS);
    sb_jwks_free(ks);
    free(exact);
    free(big);
}

/* ---------- sharing between threads ---------- */

static char *shared_token;

static void *verify_many(void *arg)
{
    sb_jwt_expect_t x = expect();
    x.channel_id = "msteams";
    for (int i = 0; i < 25; i++)
        if (sb_jwt_verify(jwks, shared_token, strlen(shared_token), &x) != SB_JWT_OK)
            *(int *)arg = 1;
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    shared_token = claims_token(&k1, HDR_K1, "\"" APP_ID "\"", "1700003600", "0", "");
    pthread_t th[4];
    int failed[4] = {0};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, verify_many, &failed[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(failed[i], 0);
    }
    free(shared_token);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(sb_jwt_strerror(SB_JWT_OK), "ok");
    assert_string_equal(sb_jwt_strerror(SB_JWT_EXPIRED), "expired");
    assert_string_equal(sb_jwt_strerror(SB_JWT_UNKNOWN_KID), "unknown key id");
    for (int c = SB_JWT_BAD_SERVICE_URL; c <= SB_JWT_OK; c++)
        assert_true(strlen(sb_jwt_strerror(c)) > 1);
    assert_string_equal(sb_jwt_strerror(-1000), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_time_out_of_range),
        cmocka_unit_test(test_issuer_audience),
        cmocka_unit_test(test_endorsements),
        cmocka_unit_test(test_service_url),
        cmocka_unit_test(test_signature),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_algorithms),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_jwks_errors),
        cmocka_unit_test(test_jwks_skips),
        cmocka_unit_test(test_jwks_duplicates_and_cap),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
