/* Bot Framework (Microsoft Teams) bearer tokens: a JSON Web Key Set parser and an RS256 JWS
 * verifier with the Bot Framework's claim checks. Pure functions: no I/O, no clock, no globals.
 * Fetching and caching the JWKS, and the HTTP answers, belong to the caller. */
#ifndef SWITCHBOARD_JWT_H
#define SWITCHBOARD_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_JWKS_MAX_KEYS  64
#define SB_JWT_MAX_TOKEN  (16 * 1024)
#define SB_JWT_MAX_SKEW_S 3600 /* larger skews are clamped */

/* A parsed JSON Web Key Set: RSA signing keys only, each with its kid and its optional
 * "endorsements" (Bot Framework: the channel ids the key may sign for).
 *
 * Threads: after sb_jwks_parse returns, the set is immutable and may be shared read-only between
 * threads with no lock of the caller's (free it only when no verification is running). mbedTLS
 * caches R^2 mod N in the key on its first public operation; the parser performs that operation
 * once, so verification reads the key only. Debian's mbedTLS is built with MBEDTLS_THREADING_C,
 * so each public operation also takes the key's own mbedTLS mutex: concurrent verifications
 * with the same key serialize for the modular exponentiation (tens of microseconds). */
typedef struct sb_jwks sb_jwks_t;

/* Parses a JWKS document {"keys":[...]}. Returns NULL (err filled, short human text, if err) when
 * the document is not JSON, has no "keys" array, or holds no usable RSA key. A key is skipped
 * when its kty is not "RSA", its "use" is present and not "sig", its "alg" is present and not
 * "RS256", its kid, n or e is missing, not a string, empty or not strict base64url, its kid
 * repeats an earlier usable key's, its e is longer than 8 bytes, its n has more than one leading
 * zero byte, its modulus is < 2048 or > 8192 bits, or mbedTLS refuses it (import_raw, complete,
 * check_pubkey). Non-string endorsements are ignored, and a non-array "endorsements" counts as
 * none. At most SB_JWKS_MAX_KEYS usable keys are kept (the first ones); later ones are ignored. */
sb_jwks_t *sb_jwks_parse(const char *json, size_t len, char *err, size_t errlen);
void sb_jwks_free(sb_jwks_t *ks);
size_t sb_jwks_count(const sb_jwks_t *ks);

typedef struct sb_jwt_expect {
    const char *issuer;      /* required "iss", exact match, e.g. "https://api.botframework.com";
                                NULL matches nothing */
    const char *audience;    /* required "aud": a string equal to it, or an array holding it;
                                NULL matches nothing */
    const char *channel_id;  /* the Activity's channelId: must be among the key's endorsements (a
                                key without endorsements endorses nothing); NULL: not checked */
    const char *service_url; /* the Activity's serviceUrl: when the token has a "serviceurl" claim,
                                or require_service_url, the claim must be a string equal to it;
                                NULL: not checked */
    bool require_service_url;
    int64_t now_s; /* current Unix time */
    int skew_s;    /* allowed clock skew for exp and nbf (300); < 0 is 0, > SB_JWT_MAX_SKEW_S clamped */
} sb_jwt_expect_t;

enum {
    SB_JWT_OK = 0,
    SB_JWT_MALFORMED = -1,       /* not three non-empty strict base64url parts, longer than
                                    SB_JWT_MAX_TOKEN, header not a JSON object, alg != "RS256",
                                    missing/empty kid, "crit" present; after the signature: payload
                                    not a JSON object, exp/nbf not a number or beyond +-2^53 */
    SB_JWT_UNKNOWN_KID = -2,     /* well-formed, but no key with that kid (or no set): the caller
                                    refetches the JWKS once */
    SB_JWT_BAD_SIGNATURE = -3,   /* includes a signature whose length is not the modulus length */
    SB_JWT_EXPIRED = -4,         /* exp missing, or exp + skew < now */
    SB_JWT_NOT_YET = -5,         /* nbf - skew > now */
    SB_JWT_BAD_ISSUER = -6,      /* iss missing, not a string, or different */
    SB_JWT_BAD_AUDIENCE = -7,    /* aud missing, or neither equal to nor containing the audience */
    SB_JWT_NOT_ENDORSED = -8,    /* the key's endorsements do not hold channel_id (caller answers 403) */
    SB_JWT_BAD_SERVICE_URL = -9, /* caller answers 403 */
};

/* Verifies a compact JWS (the Bearer token without "Bearer "): header {"alg":"RS256","kid":...}
 * (any other alg, including "none" and HS256, is MALFORMED), RSASSA-PKCS1-v1_5 SHA-256 over
 * "<b64 header>.<b64 payload>" with the key of that kid, then the claims, in this order:
 * signature, exp, nbf, iss, aud, endorsements, serviceurl; the first failure is returned. The
 * payload is not even parsed before its signature is checked. Reads token[0..len) only; token
 * need not be NUL-terminated. Returns SB_JWT_OK or one of the negative codes above. */
int sb_jwt_verify(const sb_jwks_t *ks, const char *token, size_t len, const sb_jwt_expect_t *expect);

/* A short English reason for a code ("expired", "unknown key id", ...); never NULL. */
const char *sb_jwt_strerror(int code);

#endif
