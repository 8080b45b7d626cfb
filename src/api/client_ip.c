/* The client's IP (SPEC 2): the socket peer, or, when the peer is a trusted proxy, the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy. A header sent by an
 * untrusted peer changes nothing, so it cannot be used to dodge rate limits. */
#include <arpa/inet.h>
#include <string.h>

#include "switchboard/api.h"
#include "switchboard/text.h"

static bool parse_ip(const char *s, size_t n, struct sockaddr_storage *ss)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    sb_trim_ows(&s, &n);
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
