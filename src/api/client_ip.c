/* The client's IP (SPEC 2): the socket peer, or, when the peer is a trusted proxy, the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy. A header sent by an
 * untrusted peer changes nothing, so it cannot be used to dodge rate limits. */
#include <arpa/inet.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/text.h"

static bool all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return n > 0;
}

/* An X-Forwarded-For entry: an address, "1.2.3.4:5555", "[2001:db8::1]" or
 * "[2001:db8::1]:443" (proxies that keep the client's port write these; RFC 7239 quotes them). */
static bool parse_ip(const char *s, size_t n, struct sockaddr_storage *ss)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    sb_trim_ows(&s, &n);
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return false;
        size_t rest = n - (size_t)(close + 1 - s);
        if (rest && (close[1] != ':' || !all_digits(close + 2, rest - 1)))
            return false;
        n = (size_t)(close - s - 1);
        s++;
        if (!memchr(s, ':', n))
            return false; /* brackets hold IPv6 only */
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) { /* one colon: IPv4 and a port */
            if (!all_digits(colon + 1, n - (size_t)(colon + 1 - s)))
                return false;
            n = (size_t)(colon - s);
            if (!memchr(s, '.', n))
                return false;
        }
    }
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, tmp, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, tmp, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

/* Dotted quad, as inet_ntop writes it (it would go through sprintf on every request). */
static void format_ipv4(const unsigned char *b, char *out)
{
    for (int i = 0; i < 4; i++) {
        out += sb_fmt_u64(b[i], out);
        if (i < 3)
            *out++ = '.';
    }
}

static void format_ip(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN])
{
    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        format_ipv4((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr, out);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) /* one client, one key: ::ffff:1.2.3.4 is 1.2.3.4 */
            format_ipv4(&a->s6_addr[12], out);
        else
            inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
    }
}

void sb_client_ip(const sb_req_t *req, const sb_cidr_list_t *trusted, char out[INET6_ADDRSTRLEN])
{
    const struct sockaddr *peer = sb_req_peer(req);
    format_ip(peer, out);
    if (!trusted->count || !sb_cidr_list_match(trusted, peer))
        return;
    /* Walk every X-Forwarded-For header, right to left, entries right to left. */
    for (unsigned h = req->nheaders; h-- > 0;) {
        const sb_header_t *hd = &req->headers[h];
        if (!sb_ascii_ieq(hd->name.p, hd->name.len, "x-forwarded-for"))
            continue;
        const char *start = hd->value.p, *end = hd->value.p + hd->value.len;
        while (end > start) {
            const char *comma = end;
            while (comma > start && comma[-1] != ',')
                comma--;
            struct sockaddr_storage ss;
            if (!parse_ip(comma, (size_t)(end - comma), &ss))
                return; /* garbage: keep the last hop we could trust */
            format_ip((struct sockaddr *)&ss, out);
            if (!sb_cidr_list_match(trusted, (struct sockaddr *)&ss))
                return; /* the right-most untrusted entry */
            end = comma > start ? comma - 1 : start;
        }
    }
}

void sb_client_subject(const sb_req_t *req, char out[SB_CLIENT_SUBJECT_MAX])
{
    const sb_config_t *cfg = req->loop->srv->cfg;
    char ip[INET6_ADDRSTRLEN];
    sb_client_ip(req, &cfg->trusted_proxies, ip);
    struct in6_addr a;
    if (!strchr(ip, ':') || cfg->ipv6_prefix >= 128 || inet_pton(AF_INET6, ip, &a) != 1) {
        memcpy(out, ip, strlen(ip) + 1);
        return;
    }
    /* One holder of a /64 (the usual end-site assignment) has 2^64 addresses: it is one client. */
    unsigned bits = cfg->ipv6_prefix;
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits >= 8 ? 8 : bits;
        a.s6_addr[i] &= (unsigned char)(0xff00u >> keep);
        bits -= keep;
    }
    inet_ntop(AF_INET6, &a, out, INET6_ADDRSTRLEN);
    size_t n = strlen(out);
    out[n++] = '/';
    sb_fmt_u64(cfg->ipv6_prefix, out + n);
}
