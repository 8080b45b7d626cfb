/* libFuzzer target: the Bot Framework key-set parser and token verifier (src/channels/jwt.c,
 * jwt.h): sb_jwks_parse and sb_jwt_verify, the code every Teams webhook request runs.
 *
 * The first input byte picks what the rest is (any other byte: modes[byte % 3]):
 *   'k'  a JWKS document: parsed with sb_jwks_parse; a good token (signed here at start) is then
 *        verified against whatever set it gave.
 *   't'  a compact token: verified against the target's own key set.
 *   'c'  a protected header and a claims set, as JSON text separated by the first '\n' (no '\n':
 *        the whole rest is the claims, under {"alg":"RS256","kid":"k1"}): the target encodes
 *        them, signs them with its test key (RS256) and verifies the token, so the fuzzer reaches
 *        the claim checks behind the signature, which it could never forge.
 *
 * The target's key set is one RSA-2048 test key (below; used only here, it protects nothing)
 * under three kids: "k1" endorsed for msteams and skype, "k2" without endorsements, "k3" endorsed
 * for webchat. Expectations are the Teams webhook's: issuer https://api.botframework.com, the app
 * id as audience, channelId msteams, the serviceUrl required; and a lenient set (no channelId,
 * serviceUrl checked only when the token has the claim).
 *
 * Invariants (a broken one aborts):
 * - sb_jwks_parse: NULL comes with a non-empty reason; a set holds 1..SB_JWKS_MAX_KEYS keys;
 * - sb_jwt_verify returns SB_JWT_OK or one of its codes, with a reason (sb_jwt_strerror), and
 *   reads token[0..len) only (the token sits in a buffer of exactly that size);
 * - no forgery: SB_JWT_OK only for a token whose signature is the one this key makes for its
 *   header and payload (PKCS#1 v1.5 is deterministic), and a changed signature bit never passes;
 * - SB_JWT_OK only when the claims hold (checked here on cJSON's reading of the decoded parts):
 *   alg RS256, an endorsed kid, exp and nbf within the 300 s skew, the issuer, the audience (a
 *   string or an array holding it), the serviceurl claim;
 * - passing the strict expectations implies passing the lenient ones; no token passes with no
 *   key set;
 * - AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer find nothing.
 *
 * Build and run: docs/fuzzing.md. tests/fuzz/make_seeds.py writes corpus-jwks/ from the key
 * below. */
#include <cjson/cJSON.h>
#include <math.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__ubsan_default_options(void);

/* An UndefinedBehaviorSanitizer report stops the run like a crash, whatever UBSAN_OPTIONS says
 * (without halt_on_error, UBSan prints and carries on, and the fuzzer would not save the input). */
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz_jwks: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                  \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* RSA-2048 test key (p, q; e = 65537), made for this target. */
static const char KEY_P[] =
    "ec1088e8fe727feb97b3fd56b6510b326624b869cebf48602964a047a91fb2b0d1b04e0558f7ed534a8d2894c8b65f83"
    "310b6d01fee7a706ddae9b6a3cadb62fcdde7c9d11a8cc3f99f042b9485e6033bb64de756359043d6ae35228af7d724d"
    "aef445e79840e900145b2bd7852bd0d5c412d027e9fab186e4887d3f8e6c0dff";
static const char KEY_Q[] =
    "d0f5ee9ddf5ad7e4c012c0157b3625578412ea977f054995ca533b4d9471d53c68b51704a6cbad1e4123193c7f6b8151"
    "8ea9a55b48c2e8066bcbf68aaeedfe5bd9753652e3edb6a7fe736d365f89db8b95cae5ef164d87f0c1f5288e2220e95a"
    "65cb4bdffc5192ea707e8b9c08caadd8830b3d6e85986007ff807afd054fd42f";

#define NOW         1800000000 /* the verifier's clock: 2027-01-15T08:00:00Z */
#define SKEW        300
#define ISSUER      "https://api.botframework.com"
#define APP_ID      "5e1d6b3a-0c1f-4f8e-9c2a-7d1e2f3a4b5c"
#define CHANNEL     "msteams"
#define SERVICE_URL "https://smba.trafficmanager.net/emea/"
#define SIG_BYTES   256

static mbedtls_rsa_context key;
static mbedtls_ctr_drbg_context drbg;
static sb_jwks_t *set; /* the target's own set: k1, k2, k3 */
static char *good;     /* a token k1 signed with claims that pass */
static size_t good_len;
static bool show; /* FUZZ_JWKS_SHOW=1: print each input's verdicts (seed upkeep) */

static const sb_jwt_expect_t strict = {ISSUER, APP_ID, CHANNEL, SERVICE_URL, true, NOW, SKEW};
static const sb_jwt_expect_t lenient = {ISSUER, APP_ID, NULL, SERVICE_URL, false, NOW, SKEW};

/* ---------- base64url (the target's own, so the oracle does not lean on the library's) ---------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = B64[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = B64[v & 63];
    }
    return o;
}

/* Lenient decoder for the oracle: true when every character is of the alphabet. */
static bool b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(B64, in[i], 64);
        if (!p || !in[i])
            return false;
        acc = acc << 6 | (uint32_t)(p - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *outlen = o;
    return true;
}

/* ---------- signing ---------- */

static void sign(const char *input, size_t n, unsigned char sig[SIG_BYTES])
{
    unsigned char hash[32];
    CHECK(mbedtls_sha256_ret((const unsigned char *)input, n, hash, 0) == 0);
    CHECK(mbedtls_rsa_pkcs1_sign(&key, mbedtls_ctr_drbg_random, &drbg, MBEDTLS_RSA_PRIVATE, MBEDTLS_MD_SHA256, 32, hash,
                                 sig) == 0);
}

/* "<b64 header>.<b64 payload>.<b64 signature>", malloc'd, exactly *len bytes (not terminated). */
static char *make_token(const char *hdr, size_t hlen, const char *claims, size_t clen, size_t *len)
{
    size_t cap = (hlen + clen) * 4 / 3 + 16 + SIG_BYTES * 2;
    char *t = malloc(cap);
    CHECK(t);
    size_t o = b64url_encode((const unsigned char *)hdr, hlen, t);
    t[o++] = '.';
    o += b64url_encode((const unsigned char *)claims, clen, t + o);
    unsigned char sig[SIG_BYTES];
    sign(t, o, sig);
    t[o++] = '.';
    o += b64url_encode(sig, SIG_BYTES, t + o);
    CHECK(o <= cap);
    *len = o;
    return t;
}

static int fixed_entropy(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    memset(out, 0x5a, n); /* deterministic runs; RSA PKCS#1 v1.5 signatures do not depend on it */
    return 0;
}

static char *jwk_set_json(void)
{
    mbedtls_mpi n;
    mbedtls_mpi_init(&n);
    CHECK(mbedtls_rsa_export(&key, &n, NULL, NULL, NULL, NULL) == 0);
    unsigned char nb[SIG_BYTES];
    CHECK(mbedtls_mpi_write_binary(&n, nb, sizeof(nb)) == 0);
    mbedtls_mpi_free(&n);
    char n64[SIG_BYTES * 2];
    n64[b64url_encode(nb, sizeof(nb), n64)] = '\0';
    char *doc = malloc(4096);
    CHECK(doc);
    snprintf(
        doc, 4096,
        "{\"keys\":["
        "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"k1\",\"n\":\"%s\",\"e\":\"AQAB\",\"endorsements\":[\"msteams\","
        "\"skype\"]},"
        "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"k2\",\"n\":\"%s\",\"e\":\"AQAB\"},"
        "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"k3\",\"n\":\"%s\",\"e\":\"AQAB\",\"endorsements\":[\"webchat\"]}"
        "]}",
        n64, n64, n64);
    return doc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    show = getenv("FUZZ_JWKS_SHOW") != NULL;
    static const char pers[] = "switchboard fuzz_jwks";
    mbedtls_ctr_drbg_init(&drbg);
    CHECK(mbedtls_ctr_drbg_seed(&drbg, fixed_entropy, NULL, (const unsigned char *)pers, sizeof(pers) - 1) == 0);
    mbedtls_mpi p, q, e;
    mbedtls_mpi_init(&p);
    mbedtls_mpi_init(&q);
    mbedtls_mpi_init(&e);
    CHECK(mbedtls_mpi_read_string(&p, 16, KEY_P) == 0 && mbedtls_mpi_read_string(&q, 16, KEY_Q) == 0 &&
          mbedtls_mpi_lset(&e, 65537) == 0);
    mbedtls_rsa_init(&key, MBEDTLS_RSA_PKCS_V15, 0);
    CHECK(mbedtls_rsa_import(&key, NULL, &p, &q, NULL, &e) == 0 && mbedtls_rsa_complete(&key) == 0);
    CHECK(mbedtls_rsa_check_privkey(&key) == 0 && mbedtls_rsa_get_len(&key) == SIG_BYTES);
    mbedtls_mpi_free(&p);
    mbedtls_mpi_free(&q);
    mbedtls_mpi_free(&e);

    char *doc = jwk_set_json();
    char err[128] = "";
    set = sb_jwks_parse(doc, strlen(doc), err, sizeof(err));
    if (!set)
        fprintf(stderr, "fuzz_jwks: the target's own key set does not parse: %s\n", err);
    CHECK(set && sb_jwks_count(set) == 3);
    free(doc);

    static const char hdr[] = "{\"alg\":\"RS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
    char claims[512];
    int n =
        snprintf(claims, sizeof(claims), "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%d,\"nbf\":%d,\"serviceurl\":\"%s\"}",
                 ISSUER, APP_ID, NOW + 600, NOW - 60, SERVICE_URL);
    good = make_token(hdr, sizeof(hdr) - 1, claims, (size_t)n, &good_len);
    CHECK(sb_jwt_verify(set, good, good_len, &strict) == SB_JWT_OK);
    return 0;
}

/* ---------- oracles ---------- */

static bool known_code(int rc)
{
    return rc <= SB_JWT_OK && rc >= SB_JWT_BAD_SERVICE_URL && sb_jwt_strerror(rc) != NULL;
}

static int verify(const sb_jwks_t *ks, const char *token, size_t len, const sb_jwt_expect_t *x)
{
    int rc = sb_jwt_verify(ks, token, len, x);
    CHECK(known_code(rc));
    return rc;
}

static bool str_is(const cJSON *v, const char *want)
{
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

/* What an accepted token must be, read independently of jwt.c: its parts decoded here, its JSON
 * read by plain cJSON. */
static void check_accepted(const char *token, size_t len, const sb_jwt_expect_t *x)
{
    const char *d1 = memchr(token, '.', len);
    CHECK(d1);
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
    CHECK(d2 && !memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)));

    /* the signature is the one our key makes for this header and payload */
    unsigned char want[SIG_BYTES], got[SIG_BYTES + 3];
    size_t glen;
    sign(token, (size_t)(d2 - token), want);
    CHECK(len - (size_t)(d2 + 1 - token) <= (SIG_BYTES * 4 + 2) / 3);
    CHECK(b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), got, &glen));
    CHECK(glen == SIG_BYTES && memcmp(got, want, SIG_BYTES) == 0);

    size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1), hn, pn;
    unsigned char *h = malloc(hlen + 1), *p = malloc(plen + 1);
    CHECK(h && p);
    CHECK(b64url_decode(token, hlen, h, &hn) && b64url_decode(d1 + 1, plen, p, &pn));
    cJSON *hdr = cJSON_ParseWithLength((const char *)h, hn);
    cJSON *claims = cJSON_ParseWithLength((const char *)p, pn);
    CHECK(cJSON_IsObject(hdr) && cJSON_IsObject(claims));

    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
    CHECK(str_is(cJSON_GetObjectItemCaseSensitive(hdr, "alg"), "RS256"));
    CHECK(!cJSON_GetObjectItemCaseSensitive(hdr, "crit"));
    if (x->channel_id) /* only k1 is endorsed for msteams */
        CHECK(str_is(kid, "k1"));
    else
        CHECK(str_is(kid, "k1") || str_is(kid, "k2") || str_is(kid, "k3"));

    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    CHECK(cJSON_IsNumber(exp) && floor(exp->valuedouble) + SKEW >= NOW);
    CHECK(!nbf || (cJSON_IsNumber(nbf) && ceil(nbf->valuedouble) - SKEW <= NOW));
    CHECK(str_is(cJSON_GetObjectItemCaseSensitive(claims, "iss"), ISSUER));
    const cJSON *aud = cJSON_GetObjectItemCaseSensitive(claims, "aud"), *a;
    bool aud_ok = str_is(aud, APP_ID);
    if (cJSON_IsArray(aud))
        cJSON_ArrayForEach(a, aud) aud_ok |= str_is(a, APP_ID);
    CHECK(aud_ok);
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(claims, "serviceurl");
    if (su || x->require_service_url)
        CHECK(str_is(su, SERVICE_URL));

    cJSON_Delete(hdr);
    cJSON_Delete(claims);
    free(h);
    free(p);
}

/* The verdicts on one token against the target's set, and what they must agree on. */
static void check_token(const char *token, size_t len)
{
    int rs = verify(set, token, len, &strict);
    int rl = verify(set, token, len, &lenient);
    CHECK(verify(NULL, token, len, &strict) != SB_JWT_OK);
    if (show)
        fprintf(stderr, "fuzz_jwks: token: strict %s, lenient %s\n", sb_jwt_strerror(rs), sb_jwt_strerror(rl));
    if (rs == SB_JWT_OK)
        CHECK(rl == SB_JWT_OK); /* fewer checks cannot fail */
    if (rs == SB_JWT_OK)
        check_accepted(token, len, &strict);
    if (rl == SB_JWT_OK)
        check_accepted(token, len, &lenient);

    /* a changed signature bit never passes; past the kid look-up it is a bad signature */
    const char *d2 = len ? memrchr(token, '.', len) : NULL;
    if (d2 && d2 + 1 < token + len) {
        char *t = malloc(len);
        CHECK(t);
        memcpy(t, token, len);
        size_t i = (size_t)(d2 + 1 - token) + (len - (size_t)(d2 + 1 - token)) / 2;
        const char *c = memchr(B64, t[i], 64);
        if (c && t[i]) {
            t[i] = B64[(c - B64) ^ 1];
            int rt = verify(set, t, len, &lenient);
            CHECK(rt != SB_JWT_OK);
            if (rl != SB_JWT_MALFORMED && rl != SB_JWT_UNKNOWN_KID && rl != SB_JWT_BAD_SIGNATURE)
                CHECK(rt == SB_JWT_BAD_SIGNATURE || rt == SB_JWT_MALFORMED); /* MALFORMED: non-canonical last char */
        }
        free(t);
    }
}

/* ---------- driver ---------- */

static void run_keyset(const char *p, size_t n)
{
    char err[64];
    memset(err, 'x', sizeof(err));
    sb_jwks_t *ks = sb_jwks_parse(p, n, err, sizeof(err));
    if (show)
        fprintf(stderr, "fuzz_jwks: key set: %zu key(s)%s%s\n", sb_jwks_count(ks), ks ? "" : ", ", ks ? "" : err);
    if (!ks) {
        CHECK(memchr(err, '\0', sizeof(err)) && err[0] != '\0');
        CHECK(sb_jwks_count(NULL) == 0);
        return;
    }
    CHECK(sb_jwks_count(ks) >= 1 && sb_jwks_count(ks) <= SB_JWKS_MAX_KEYS);
    int rs = verify(ks, good, good_len, &strict), rl = verify(ks, good, good_len, &lenient);
    if (rs == SB_JWT_OK)
        CHECK(rl == SB_JWT_OK);
    if (show)
        fprintf(stderr, "fuzz_jwks: the good token against it: strict %s, lenient %s\n", sb_jwt_strerror(rs),
                sb_jwt_strerror(rl));
    sb_jwks_free(ks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char modes[] = {'k', 't', 'c'};
    char mode = memchr(modes, data[0], sizeof(modes)) ? (char)data[0] : modes[data[0] % sizeof(modes)];
    size_t n = size - 1;
    char *rest = malloc(n ? n : 1); /* exactly n bytes: a read past the input is caught */
    CHECK(rest);
    memcpy(rest, data + 1, n);

    if (mode == 'k') {
        run_keyset(rest, n);
    } else if (mode == 't') {
        check_token(rest, n);
    } else if (n <= SB_JWT_MAX_TOKEN) {
        static const char dflt[] = "{\"alg\":\"RS256\",\"kid\":\"k1\"}";
        const char *nl = memchr(rest, '\n', n);
        const char *hdr = nl ? rest : dflt, *claims = nl ? nl + 1 : rest;
        size_t hlen = nl ? (size_t)(nl - rest) : sizeof(dflt) - 1;
        size_t clen = nl ? n - hlen - 1 : n;
        size_t tlen;
        char *token = make_token(hdr, hlen, claims, clen, &tlen);
        check_token(token, tlen);
        free(token);
    }
    free(rest);
    return 0;
}
