/* Webhook signatures (SPEC 7): X-Hub-Signature-256 (Meta / seed 004 style, hex HMAC of the
 * body) and the Standard Webhooks trio, with a second v1 signature while a rotated-out secret
 * is still valid. X-Hub-Signature-256 is keyed by the secret string exactly as GET
 * /api/webhooks/secret shows it ("whsec_..."), the way every Meta-style verifier and seed 004's
 * PHP sample key it; Standard Webhooks' v1 signatures by the bytes its base64 part decodes to,
 * as that spec says. */
#include <stdio.h>
#include <string.h>

#include "switchboard/crypto.h"
#include "switchboard/delivery.h"
#include "switchboard/text.h"

void sb_webhook_secret_new(char out[64])
{
    unsigned char raw[24];
    sb_random_bytes(raw, sizeof(raw));
    memcpy(out, "whsec_", 6);
    sb_base64_encode(raw, sizeof(raw), out + 6);
}

int sb_webhook_key(const char *secret, unsigned char *key, size_t cap)
{
    if (strncmp(secret, "whsec_", 6) != 0)
        return -EINVAL;
    return sb_base64_decode(secret + 6, strlen(secret + 6), key, cap);
}

static void v1(const unsigned char *key, size_t keylen, const char *id, const char *ts, const char *body, size_t len,
               sb_buf_t *out)
{
    const void *parts[5] = {id, ".", ts, ".", body};
    size_t lens[5] = {strlen(id), 1, strlen(ts), 1, len};
    unsigned char mac[32];
    char b64[48];
    sb_hmac_sha256_parts(key, keylen, parts, lens, 5, mac);
    sb_base64_encode(mac, sizeof(mac), b64);
    sb_buf_puts(out, "v1,");
    sb_buf_puts(out, b64);
}

/* The key bytes of a secret: the decoded bytes of "whsec_<base64>", else the secret's own
 * bytes (agents' secrets are whatever their owner chose). */
static int key_of(const char *secret, unsigned char *key, size_t cap)
{
    int n = sb_webhook_key(secret, key, cap);
    if (n >= 0)
        return n;
    size_t l = strlen(secret);
    if (l > cap)
        l = cap;
    memcpy(key, secret, l);
    return (int)l;
}

void sb_sign_headers(const sb_webhook_secret_t *s, const char *msg_id, long timestamp, const char *body, size_t len,
                     sb_buf_t *out)
{
    unsigned char key[512], prev[512];
    int klen = key_of(s->current, key, sizeof(key));
    int plen = s->previous[0] ? key_of(s->previous, prev, sizeof(prev)) : -1;
    unsigned char mac[32];
    char hex[65], ts[24];
    sb_hmac_sha256(s->current, strlen(s->current), body, len, mac);
    sb_hex_encode(mac, sizeof(mac), hex);
    snprintf(ts, sizeof(ts), "%ld", timestamp);
    sb_buf_printf(out, "X-Hub-Signature-256: sha256=%s\r\nwebhook-id: %s\r\nwebhook-timestamp: %s\r\n", hex, msg_id,
                  ts);
    sb_buf_puts(out, "webhook-signature: ");
    v1(key, (size_t)klen, msg_id, ts, body, len, out);
    if (plen > 0) {
        sb_buf_putc(out, ' ');
        v1(prev, (size_t)plen, msg_id, ts, body, len, out);
    }
    sb_buf_puts(out, "\r\n");
}
