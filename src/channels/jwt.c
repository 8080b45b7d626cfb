/* Bot Framework bearer tokens (see jwt.h): JWKS parsing into mbedTLS RSA public keys, and RS256
 * JWS verification followed by the Bot Framework claim checks. Owns nothing but the key set; calls
 * only mbedTLS, cJSON and the allocator. Everything read from a token is untrusted until the
 * signature has been checked, so the payload is not parsed before that. */
#include "switchboard/jwt.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/json.h"

#define MIN_MODULUS_BITS   2048
#define MAX_MODULUS_BYTES  1024               /* 8192 bits */
#define MAX_EXPONENT_BYTES 8                  /* real keys use 65537; a huge e would only make verification slow */
#define MAX_ENDORSEMENTS   256                /* per key; more are ignored, which can only deny */
#define NUMERIC_DATE_LIMIT 9007199254740992.0 /* 2^53: every integer up to it is exact in a double */

typedef struct jwk {
    char *kid;
    char **endorsements;
    size_t n_endorsements;
    mbedtls_rsa_context rsa; /* public key; holds a mutex, so it never moves after init */
} jwk_t;

struct sb_jwks {
    size_t n;
    jwk_t keys[];
};

/* ---------- base64url ---------- */

enum { B64_OK = 0, B64_INVALID = -1, B64_TOO_BIG = -2 };

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict base64url without padding (RFC 7515 section 2): only the URL-safe alphabet, no '=', no
 * whitespace, no impossible length, and the unused low bits of the last character must be zero,
 * so every byte string has exactly one accepted encoding. The whole input is validated before the
 * size is checked, so a bad character is B64_INVALID even in an oversized input. */
static int b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    if (n % 4 == 1)
        return B64_INVALID;
    for (size_t i = 0; i < n; i++)
        if (b64url_value((unsigned char)in[i]) < 0)
            return B64_INVALID;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap)
        return B64_TOO_BIG;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 6 | (uint32_t)b64url_value((unsigned char)in[i])) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1)) /* leftover bits of a non-canonical final character */
        return B64_INVALID;
    *outlen = o;
    return B64_OK;
}

/* ---------- key set ---------- */

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static const char *string_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* An optional member that, when present, must be the string want. */
static bool optional_member_is(const cJSON *o, const char *name, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v)
        return true;
    return cJSON_IsString(v) && v->valuestring && strcmp(v->valuestring, want) == 0;
}

static const jwk_t *find_key(const sb_jwks_t *ks, const char *kid)
{
    for (size_t i = 0; ks && i < ks->n; i++)
        if (strcmp(ks->keys[i].kid, kid) == 0)
            return &ks->keys[i];
    return NULL;
}

static void load_endorsements(jwk_t *key, const cJSON *arr)
{
    if (!cJSON_IsArray(arr))
        return;
    size_t n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr)
    {
        if (cJSON_IsString(v) && v->valuestring && n < MAX_ENDORSEMENTS)
            n++;
    }
    if (!n)
        return;
    key->endorsements = sb_calloc(n, sizeof(char *));
    cJSON_ArrayForEach(v, arr)
    {
        if (cJSON_IsString(v) && v->valuestring && key->n_endorsements < n)
            key->endorsements[key->n_endorsements++] = sb_strdup(v->valuestring);
    }
}

/* Imports the n and e of one JWK into key->rsa (initialized by the caller either way). */
static bool load_rsa(jwk_t *key, const char *n64, const char *e64)
{
    unsigned char n[MAX_MODULUS_BYTES + 1], e[MAX_EXPONENT_BYTES];
    size_t nlen, elen;
    /* One leading zero byte is tolerated: some encoders keep the DER sign byte. */
    if (b64url_decode(n64, strlen(n64), n, sizeof(n), &nlen) != B64_OK ||
        b64url_decode(e64, strlen(e64), e, sizeof(e), &elen) != B64_OK)
        return false;
    size_t skip = nlen > 0 && n[0] == 0 ? 1 : 0;
    size_t bytes = nlen - skip;
    if (bytes == 0 || bytes > MAX_MODULUS_BYTES || n[skip] == 0)
        return false;
    size_t bits = (bytes - 1) * 8;
    for (unsigned top = n[skip]; top; top >>= 1)
        bits++;
    if (bits < MIN_MODULUS_BITS || elen == 0)
        return false;
    if (mbedtls_rsa_import_raw(&key->rsa, n + skip, bytes, NULL, 0, NULL, 0, NULL, 0, e, elen) != 0 ||
        mbedtls_rsa_complete(&key->rsa) != 0 || mbedtls_rsa_check_pubkey(&key->rsa) != 0 ||
        mbedtls_rsa_get_len(&key->rsa) != bytes)
        return false;
    /* The first public operation stores R^2 mod N in the context (mbedtls_mpi_exp_mod's cache);
     * doing it here makes every later verification read-only on the key. */
    unsigned char in[MAX_MODULUS_BYTES] = {0}, out[MAX_MODULUS_BYTES];
    in[bytes - 1] = 2;
    return mbedtls_rsa_public(&key->rsa, in, out) == 0;
}

/* Fills *key from one JWK; false (and *key released) when the key is skipped. */
static bool load_key(jwk_t *key, const cJSON *jwk, const sb_jwks_t *sofar)
{
    memset(key, 0, sizeof(*key));
    if (!cJSON_IsObject(jwk))
        return false;
    const char *kty = string_member(jwk, "kty");
    const char *kid = string_member(jwk, "kid");
    const char *n = string_member(jwk, "n");
    const char *e = string_member(jwk, "e");
    if (!kty || strcmp(kty, "RSA") != 0 || !optional_member_is(jwk, "use", "sig") ||
        !optional_member_is(jwk, "alg", "RS256") || !kid || !*kid || !n || !e || find_key(sofar, kid))
        return false;
    mbedtls_rsa_init(&key->rsa, MBEDTLS_RSA_PKCS_V15, 0);
    if (!load_rsa(key, n, e)) {
        mbedtls_rsa_free(&key->rsa);
        return false;
    }
    key->kid = sb_strdup(kid);
    load_endorsements(key, cJSON_GetObjectItemCaseSensitive(jwk, "endorsements"));
    return true;
}

static void key_release(jwk_t *key)
{
    mbedtls_rsa_free(&key->rsa);
    sb_free(key->kid);
    for (size_t i = 0; i < key->n_endorsements; i++)
        sb_free(key->endorsements[i]);
    sb_free(key->endorsements);
}

sb_jwks_t *sb_jwks_parse(const char *json, size_t len, char *err, size_t errlen)
{
    char jerr[SB_JSON_ERR_MAX];
    cJSON *root = sb_json_parse(json, len, jerr);
    if (!root) {
        set_err(err, errlen, "JWKS is not JSON");
        return NULL;
    }
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
    if (!cJSON_IsArray(keys)) {
        cJSON_Delete(root);
        set_err(err, errlen, "JWKS has no \"keys\" array");
        return NULL;
    }
    int size = cJSON_GetArraySize(keys);
    size_t cap = size > SB_JWKS_MAX_KEYS ? SB_JWKS_MAX_KEYS : (size_t)(size > 0 ? size : 0);
    sb_jwks_t *ks = sb_calloc(1, sizeof(*ks) + cap * sizeof(jwk_t));
    const cJSON *k;
    cJSON_ArrayForEach(k, keys)
    {
        if (ks->n == cap)
            break;
        if (load_key(&ks->keys[ks->n], k, ks))
            ks->n++;
    }
    cJSON_Delete(root);
    if (ks->n == 0) {
        sb_free(ks);
        set_err(err, errlen, "JWKS holds no usable RSA key");
        return NULL;
    }
    return ks;
}

void sb_jwks_free(sb_jwks_t *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->n; i++)
        key_release(&ks->keys[i]);
    sb_free(ks);
}

size_t sb_jwks_count(const sb_jwks_t *ks)
{
    return ks ? ks->n : 0;
}

/* ---------- verification ---------- */

/* Parses decoded text (buf[len] must be writable) as one JSON object, or NULL. */
static cJSON *parse_object(char *buf, size_t len)
{
    char err[SB_JSON_ERR_MAX];
    cJSON *o = sb_json_parse(buf, len, err); /* refuses NUL bytes, which would hide the rest from cJSON */
    if (o && !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* A NumericDate (RFC 7519): JSON seconds, possibly fractional. Bounded to +-2^53 so that the
 * conversion to int64 is defined and exact; rounded so that integer comparisons with now give the
 * same answer as exact ones. */
static bool numeric_date(const cJSON *v, bool round_up, int64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= -NUMERIC_DATE_LIMIT && d <= NUMERIC_DATE_LIMIT)) /* also false for NaN */
        return false;
    *out = (int64_t)(round_up ? ceil(d) : floor(d));
    return true;
}

static bool audience_ok(const cJSON *aud, const char *want)
{
    if (!want)
        return false;
    if (cJSON_IsString(aud))
        return aud->valuestring && strcmp(aud->valuestring, want) == 0;
    if (!cJSON_IsArray(aud))
        return false;
    const cJSON *v;
    cJSON_ArrayForEach(v, aud)
    {
        if (cJSON_IsString(v) && v->valuestring && strcmp(v->valuestring, want) == 0)
            return true;
    }
    return false;
}

static bool endorsed(const jwk_t *key, const char *channel_id)
{
    for (size_t i = 0; i < key->n_endorsements; i++)
        if (strcmp(key->endorsements[i], channel_id) == 0)
            return true;
    return false;
}

/* The claims, in the documented order; called only once the signature is good. */
static int check_claims(const cJSON *claims, const jwk_t *key, const sb_jwt_expect_t *x)
{
    int skew = x->skew_s < 0 ? 0 : x->skew_s > SB_JWT_MAX_SKEW_S ? SB_JWT_MAX_SKEW_S : x->skew_s;

    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    int64_t exp_s;
    if (!exp)
        return SB_JWT_EXPIRED;
    if (!numeric_date(exp, false, &exp_s))
        return SB_JWT_MALFORMED;
    if (exp_s + skew < x->now_s)
        return SB_JWT_EXPIRED;

    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    int64_t nbf_s;
    if (nbf && !numeric_date(nbf, true, &nbf_s))
        return SB_JWT_MALFORMED;
    if (nbf && nbf_s - skew > x->now_s)
        return SB_JWT_NOT_YET;

    const char *iss = string_member(claims, "iss");
    if (!iss || !x->issuer || strcmp(iss, x->issuer) != 0)
        return SB_JWT_BAD_ISSUER;

    if (!audience_ok(cJSON_GetObjectItemCaseSensitive(claims, "aud"), x->audience))
        return SB_JWT_BAD_AUDIENCE;

    if (x->channel_id && !endorsed(key, x->channel_id))
        return SB_JWT_NOT_ENDORSED;

    const cJSON *su = cJSON_GetObjectItemCaseSensitive(claims, "serviceurl");
    if (x->service_url && (su || x->require_service_url)) {
        const char *s = string_member(claims, "serviceurl");
        if (!s || strcmp(s, x->service_url) != 0)
            return SB_JWT_BAD_SERVICE_URL;
    }
    return SB_JWT_OK;
}

/* The protected header: exactly RS256, a kid, and no "crit" extension we would have to honour
 * (RFC 7515 section 4.1.11). Returns the kid inside hdr, or NULL. */
static const char *header_kid(const cJSON *hdr)
{
    const char *alg = string_member(hdr, "alg");
    const char *kid = string_member(hdr, "kid");
    if (!alg || strcmp(alg, "RS256") != 0 || !kid || !*kid || cJSON_GetObjectItemCaseSensitive(hdr, "crit"))
        return NULL;
    return kid;
}

int sb_jwt_verify(const sb_jwks_t *ks, const char *token, size_t len, const sb_jwt_expect_t *expect)
{
    if (!token || !expect || len == 0 || len > SB_JWT_MAX_TOKEN)
        return SB_JWT_MALFORMED;
    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
        return SB_JWT_MALFORMED;
    const char *h64 = token, *p64 = dot1 + 1, *s64 = dot2 + 1;
    size_t hlen = (size_t)(dot1 - h64), plen = (size_t)(dot2 - p64), slen = (size_t)(end - s64);
    if (!hlen || !plen || !slen)
        return SB_JWT_MALFORMED;

    /* One buffer for the decoded header and payload: each decodes to less than its text. */
    char *buf = sb_malloc(hlen + plen + 2);
    char *hbuf = buf, *pbuf = buf + hlen + 1;
    cJSON *hdr = NULL, *claims = NULL;
    unsigned char sig[MAX_MODULUS_BYTES];
    size_t siglen = 0;
    int rc = SB_JWT_MALFORMED;

    size_t hdec, pdec;
    if (b64url_decode(h64, hlen, (unsigned char *)hbuf, hlen, &hdec) != B64_OK || !(hdr = parse_object(hbuf, hdec)))
        goto out;
    const char *kid = header_kid(hdr);
    if (!kid)
        goto out;
    /* The payload's encoding is checked now, its content only once it is known to be signed. */
    if (b64url_decode(p64, plen, (unsigned char *)pbuf, plen, &pdec) != B64_OK)
        goto out;
    int src = b64url_decode(s64, slen, sig, sizeof(sig), &siglen);
    if (src == B64_INVALID)
        goto out;

    const jwk_t *key = find_key(ks, kid);
    if (!key) {
        rc = SB_JWT_UNKNOWN_KID;
        goto out;
    }
    /* mbedTLS reads exactly the modulus length from sig. */
    rc = SB_JWT_BAD_SIGNATURE;
    if (src != B64_OK || siglen != mbedtls_rsa_get_len(&key->rsa))
        goto out;
    unsigned char hash[32];
    if (mbedtls_sha256_ret((const unsigned char *)token, (size_t)(dot2 - token), hash, 0) != 0)
        goto out;
    /* The key is read-only here (R^2 mod N was cached at parse time, see load_rsa); mbedTLS only
     * takes the key's own mutex, hence the cast. */
    mbedtls_rsa_context *rsa = (mbedtls_rsa_context *)&key->rsa;
    if (mbedtls_rsa_pkcs1_verify(rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, MBEDTLS_MD_SHA256, 32, hash, sig) != 0)
        goto out;

    rc = SB_JWT_MALFORMED;
    if (!(claims = parse_object(pbuf, pdec)))
        goto out;
    rc = check_claims(claims, key, expect);
out:
    cJSON_Delete(claims);
    cJSON_Delete(hdr);
    sb_free(buf);
    return rc;
}

const char *sb_jwt_strerror(int code)
{
    switch (code) {
    case SB_JWT_OK: return "ok";
    case SB_JWT_MALFORMED: return "malformed token";
    case SB_JWT_UNKNOWN_KID: return "unknown key id";
    case SB_JWT_BAD_SIGNATURE: return "bad signature";
    case SB_JWT_EXPIRED: return "expired";
    case SB_JWT_NOT_YET: return "not valid yet";
    case SB_JWT_BAD_ISSUER: return "wrong issuer";
    case SB_JWT_BAD_AUDIENCE: return "wrong audience";
    case SB_JWT_NOT_ENDORSED: return "key not endorsed for this channel";
    case SB_JWT_BAD_SERVICE_URL: return "service URL mismatch";
    default: return "unknown error";
    }
}
