/* Configuration parsing (see config.h). One table describes every setting; flags, environment
 * twins and config-file keys are all derived from it, so they cannot drift apart. */
#include "switchboard/config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "switchboard/alloc.h"
#include "switchboard/log.h"
#include "switchboard/text.h"

typedef enum { OPT_STR, OPT_UINT, OPT_U64, OPT_LISTEN, OPT_CIDRS, OPT_SCHEDULE, OPT_LOGLEVEL } opt_type_t;

typedef struct opt {
    const char *name; /* flag without dashes; env twin is SWITCHBOARD_<NAME> */
    opt_type_t type;
    size_t offset;
    uint64_t min, max;
    const char *arg, *help;
} opt_t;

#define OFF(f) offsetof(sb_config_t, f)

static const opt_t opts[] = {
    {"listen", OPT_LISTEN, 0, 0, 0, "HOST:PORT", "listen address (default 0.0.0.0:8080)"},
    {"redis", OPT_STR, OFF(redis_url), 0, 0, "URL",
     "redis://host:port/db or unix:///path (default: embedded redis-server)"},
    {"threads", OPT_UINT, OFF(threads), 1, 256, "N", "event-loop threads (default: number of cores)"},
    {"admin-token", OPT_STR, OFF(admin_token), 0, 0, "TOKEN", "Bearer token of the admin API"},
    {"data-dir", OPT_STR, OFF(data_dir), 0, 0, "DIR",
     "data directory of the embedded Redis (default ./switchboard-data)"},
    {"max-body", OPT_U64, OFF(max_body), 1, 1ull << 30, "BYTES", "largest request body (default 1048576)"},
    {"max-connections", OPT_UINT, OFF(max_connections), 1, 10000000, "N", "open client connections (default 100000)"},
    {"max-connections-per-ip", OPT_UINT, OFF(max_connections_per_ip), 0, 10000000, "N",
     "open connections from one client address (IPv6: its --ipv6-prefix network); peers in --trusted-proxies are "
     "exempt; 0: no cap (default 1024)"},
    {"ipv6-prefix", OPT_UINT, OFF(ipv6_prefix), 16, 128, "BITS",
     "IPv6 clients are counted by this network prefix for rate limits and connection caps (default 64)"},
    {"trusted-proxies", OPT_CIDRS, OFF(trusted_proxies), 0, 0, "CIDRS", "peers whose X-Forwarded-For is believed"},
    {"allow-private-targets", OPT_CIDRS, OFF(allow_private_targets), 0, 0, "CIDRS",
     "private ranges deliveries may reach"},
    {"retry-schedule", OPT_SCHEDULE, 0, 0, 0, "S,S,...", "delivery retry delays in seconds"},
    {"pace-ms", OPT_UINT, OFF(pace_ms), 0, 3600000, "MS", "minimum gap between deliveries of one paced subscription (default 2000)"},
    {"log-level", OPT_LOGLEVEL, 0, 0, 0, "LEVEL", "debug, info, warn or error (default info)"},
    {"config", OPT_STR, OFF(config_file), 0, 0, "FILE", "JSON file with any of these settings"},
    {"header-timeout-ms", OPT_UINT, OFF(header_timeout_ms), 100, 3600000, "MS",
     "time allowed for a request's headers (default 10000)"},
    {"body-timeout-ms", OPT_UINT, OFF(body_timeout_ms), 100, 3600000, "MS",
     "time allowed for a request body, extended by one second per --body-min-rate bytes received (default 20000)"},
    {"body-min-rate", OPT_UINT, OFF(body_min_rate), 0, 1u << 30, "BYTES/S",
     "the rate a body must keep to extend its deadline; 0: no extension (default 500)"},
    {"body-max-ms", OPT_UINT, OFF(body_max_ms), 100, 86400000, "MS",
     "longest a request body may take, however fast it arrives (default 120000)"},
    {"idle-timeout-ms", OPT_UINT, OFF(idle_timeout_ms), 100, 86400000, "MS", "idle keep-alive timeout (default 60000)"},
    {"shutdown-timeout-ms", OPT_UINT, OFF(shutdown_timeout_ms), 0, 3600000, "MS",
     "bound on draining after SIGTERM (default 10000)"},
    {"redis-timeout-ms", OPT_UINT, OFF(redis_timeout_ms), 10, 600000, "MS",
     "per-command Redis deadline (default 2000)"},
    {"ca-file", OPT_STR, OFF(ca_file), 0, 0, "PATH", "extra CA certificates (PEM) trusted for https deliveries"},
    {"disable-after-ms", OPT_U64, OFF(disable_after_ms), 1000, 365ull * 86400000, "MS",
     "disable an endpoint failing this long without a success (default 5 days)"},
    {"instance-id", OPT_STR, OFF(instance_id), 0, 0, "ID", "instance_id in event envelopes (default: host name)"},
    {"widget-session-ttl", OPT_UINT, OFF(widget_session_ttl_s), 1, 30 * 86400, "SECONDS",
     "lifetime of an anonymous widget session (default 7200)"},
    {"widget-verified-ttl", OPT_UINT, OFF(widget_verified_ttl_s), 1, 30 * 86400, "SECONDS",
     "lifetime of an OTP-verified widget session from verification (default 28800)"},
    {"otp-code-ttl", OPT_UINT, OFF(otp_code_ttl_s), 1, 3600, "SECONDS", "validity of an OTP code (default 300)"},
    {"sse-heartbeat-ms", OPT_UINT, OFF(sse_heartbeat_ms), 100, 600000, "MS",
     "comment line sent on idle event streams (default 15000)"},
    {"binding-cache-ms", OPT_UINT, OFF(binding_cache_ms), 0, 60000, "MS",
     "how long a loop keeps a channel binding it looked up; 0: no cache (default 1000)"},
    {"slack-api-base", OPT_STR, OFF(slack_api_base), 0, 0, "URL", "Slack Web API base (default https://slack.com/api)"},
    {"telegram-api-base", OPT_STR, OFF(telegram_api_base), 0, 0, "URL",
     "Telegram Bot API base (default https://api.telegram.org)"},
    {"graph-api-base", OPT_STR, OFF(graph_api_base), 0, 0, "URL",
     "WhatsApp Cloud API base (default https://graph.facebook.com/v21.0)"},
    {"botframework-token-url", OPT_STR, OFF(botframework_token_url), 0, 0, "URL",
     "Bot Framework OAuth token endpoint (default "
     "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token)"},
    {"botframework-jwks-url", OPT_STR, OFF(botframework_jwks_url), 0, 0, "URL",
     "Bot Framework signing keys (default https://login.botframework.com/v1/.well-known/keys)"},
    {"conversation-idle-ms", OPT_U64, OFF(conversation_idle_ms), 0, 365ull * 86400000, "MS",
     "close open conversations without activity for this long; 0: never (default 86400000)"},
    {"process-queues", OPT_UINT, OFF(process_queues), 0, 1, "0|1",
     "1: also work the queues (inbound messages, deliveries, sends, retries, idle closes); 0: only answer "
     "HTTP and queue, leaving the queues to instances with 1 (default 1)"},
    {"public-url", OPT_STR, OFF(public_url), 0, 0, "URL",
     "the public base of this service, where API chat bot_urls point (default: http:// and the request's Host)"},
};

void sb_config_defaults(sb_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen_host = sb_strdup("0.0.0.0");
    cfg->listen_port = 8080;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = n > 0 ? (unsigned)(n > 256 ? 256 : n) : 1;
    cfg->data_dir = sb_strdup("./switchboard-data");
    cfg->max_body = 1u << 20;
    cfg->max_connections = 100000;
    cfg->max_connections_per_ip = 1024;
    cfg->ipv6_prefix = 64;
    static const unsigned sched[] = {0, 5, 300, 1800, 7200, 18000, 36000, 36000};
    memcpy(cfg->retry_schedule, sched, sizeof(sched));
    cfg->retry_steps = SB_ARRAY_SIZE(sched);
    cfg->pace_ms = 2000;
    cfg->log_level = SB_LOG_INFO;
    cfg->header_timeout_ms = 10000;
    cfg->idle_timeout_ms = 60000;
    cfg->body_timeout_ms = 20000;
    cfg->body_min_rate = 500;
    cfg->body_max_ms = 120000;
    cfg->shutdown_timeout_ms = 10000;
    cfg->redis_timeout_ms = 2000;
    cfg->disable_after_ms = 5ull * 86400000;
    cfg->widget_session_ttl_s = 2 * 3600;
    cfg->widget_verified_ttl_s = 8 * 3600;
    cfg->otp_code_ttl_s = 300;
    cfg->sse_heartbeat_ms = 15000;
    cfg->binding_cache_ms = 1000;
    cfg->slack_api_base = sb_strdup("https://slack.com/api");
    cfg->telegram_api_base = sb_strdup("https://api.telegram.org");
    cfg->graph_api_base = sb_strdup("https://graph.facebook.com/v21.0");
    cfg->botframework_token_url = sb_strdup("https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token");
    cfg->botframework_jwks_url = sb_strdup("https://login.botframework.com/v1/.well-known/keys");
    cfg->conversation_idle_ms = 86400000;
    cfg->process_queues = 1;
    char host[256] = "switchboard";
    gethostname(host, sizeof(host) - 1);
    cfg->instance_id = sb_strdup(host);
}

void sb_config_free(sb_config_t *cfg)
{
    sb_free(cfg->listen_host);
    sb_free(cfg->redis_url);
    sb_free(cfg->admin_token);
    sb_free(cfg->data_dir);
    sb_free(cfg->config_file);
    sb_free(cfg->ca_file);
    sb_free(cfg->instance_id);
    sb_free(cfg->slack_api_base);
    sb_free(cfg->telegram_api_base);
    sb_free(cfg->graph_api_base);
    sb_free(cfg->botframework_token_url);
    sb_free(cfg->botframework_jwks_url);
    sb_free(cfg->public_url);
    memset(cfg, 0, sizeof(*cfg));
}

static int parse_addr(const char *s, size_t n, int *family, unsigned char addr[16])
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, tmp, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, addr) == 1) {
        *family = AF_INET6;
        return 0;
    }
    return -EINVAL;
}

int sb_cidr_list_parse(const char *s, sb_cidr_list_t *list)
{
    list->count = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && isspace((unsigned char)*p)) {
            p++;
            n--;
        }
        while (n && isspace((unsigned char)p[n - 1]))
            n--;
        if (n) {
            if (list->count == SB_MAX_CIDRS)
                return -E2BIG;
            sb_cidr_t *c = &list->items[list->count];
            const char *slash = memchr(p, '/', n);
            size_t alen = slash ? (size_t)(slash - p) : n;
            if (parse_addr(p, alen, &c->family, c->addr) < 0)
                return -EINVAL;
            unsigned maxp = c->family == AF_INET ? 32 : 128;
            if (slash) {
                uint64_t v;
                if (sb_parse_u64(slash + 1, n - alen - 1, maxp, &v) < 0)
                    return -EINVAL;
                c->prefix = (unsigned)v;
            } else {
                c->prefix = maxp;
            }
            list->count++;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
    unsigned bytes = prefix / 8, bits = prefix % 8;
    if (memcmp(a, b, bytes) != 0)
        return false;
    if (!bits)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - bits));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

bool sb_cidr_list_match(const sb_cidr_list_t *list, const struct sockaddr *sa)
{
    unsigned char a4[4], a6[16];
    bool has4 = false, has6 = false;
    if (sa->sa_family == AF_INET) {
        memcpy(a4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        has4 = true;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        memcpy(a6, in6, 16);
        has6 = true;
        if (IN6_IS_ADDR_V4MAPPED(in6)) { /* ::ffff:a.b.c.d matches IPv4 ranges too */
            memcpy(a4, a6 + 12, 4);
            has4 = true;
        }
    } else {
        return false;
    }
    for (unsigned i = 0; i < list->count; i++) {
        const sb_cidr_t *c = &list->items[i];
        if (c->family == AF_INET && has4 && prefix_match(a4, c->addr, c->prefix))
            return true;
        if (c->family == AF_INET6 && has6 && prefix_match(a6, c->addr, c->prefix))
            return true;
    }
    return false;
}

int sb_retry_schedule_parse(const char *s, unsigned *steps, unsigned max, unsigned *count)
{
    unsigned n = 0;
    const char *p = s;
    if (!*p)
        return -EINVAL;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        uint64_t v;
        if (n == max || sb_parse_u64(p, len, 7 * 86400, &v) < 0)
            return -EINVAL;
        steps[n++] = (unsigned)v;
        if (!e)
            break;
        p = e + 1;
    }
    *count = n;
    return 0;
}

static int set_opt(sb_config_t *cfg, const opt_t *o, const char *val, const char *origin, char *err, size_t errlen)
{
    char *base = (char *)cfg;
    switch (o->type) {
    case OPT_STR: {
        char **slot = (char **)(base + o->offset);
        if (!*val && o->offset != OFF(admin_token) && o->offset != OFF(redis_url) && o->offset != OFF(ca_file)) {
            snprintf(err, errlen, "%s--%s: empty value", origin, o->name);
            return -EINVAL;
        }
        bool url = strcmp(o->arg, "URL") == 0 && o->offset != OFF(redis_url);
        if (url && strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0) {
            snprintf(err, errlen, "%s--%s: not an http:// or https:// URL: %s", origin, o->name, val);
            return -EINVAL;
        }
        sb_free(*slot);
        *slot = *val ? sb_strdup(val) : NULL;
        for (size_t n = url ? strlen(*slot) : 0; n > 8 && (*slot)[n - 1] == '/'; n--)
            (*slot)[n - 1] = '\0'; /* a base is joined with "/path" */
        return 0;
    }
    case OPT_UINT:
    case OPT_U64: {
        uint64_t v;
        if (sb_parse_u64(val, strlen(val), o->max, &v) < 0 || v < o->min) {
            snprintf(err, errlen, "%s--%s: expected an integer %llu..%llu, got '%s'", origin, o->name,
                     (unsigned long long)o->min, (unsigned long long)o->max, val);
            return -EINVAL;
        }
        if (o->type == OPT_UINT)
            *(unsigned *)(base + o->offset) = (unsigned)v;
        else
            *(uint64_t *)(base + o->offset) = v;
        return 0;
    }
    case OPT_LISTEN: {
        const char *colon = strrchr(val, ':');
        uint64_t port;
        if (!colon || sb_parse_u64(colon + 1, strlen(colon + 1), 65535, &port) < 0) {
            snprintf(err, errlen, "%s--%s: expected HOST:PORT, got '%s'", origin, o->name, val);
            return -EINVAL;
        }
        const char *h = val;
        size_t hl = (size_t)(colon - val);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        int fam;
        unsigned char a[16];
        if (parse_addr(h, hl, &fam, a) < 0) {
            snprintf(err, errlen, "%s--%s: '%.*s' is not a numeric IPv4 or IPv6 address", origin, o->name, (int)hl, h);
            return -EINVAL;
        }
        sb_free(cfg->listen_host);
        cfg->listen_host = sb_strndup(h, hl);
        cfg->listen_port = (unsigned)port;
        return 0;
    }
    case OPT_CIDRS:
        if (sb_cidr_list_parse(val, (sb_cidr_list_t *)(base + o->offset)) < 0) {
            snprintf(err, errlen, "%s--%s: expected a comma-separated CIDR list, got '%s'", origin, o->name, val);
            return -EINVAL;
        }
        return 0;
    case OPT_SCHEDULE:
        if (sb_retry_schedule_parse(val, cfg->retry_schedule, SB_MAX_RETRY_STEPS, &cfg->retry_steps) < 0) {
            snprintf(err, errlen, "%s--%s: expected up to %d comma-separated delays in seconds, got '%s'", origin,
                     o->name, SB_MAX_RETRY_STEPS, val);
            return -EINVAL;
        }
        return 0;
    case OPT_LOGLEVEL: {
        int lvl = sb_log_level_parse(val);
        if (lvl < 0) {
            snprintf(err, errlen, "%s--%s: expected debug, info, warn or error, got '%s'", origin, o->name, val);
            return -EINVAL;
        }
        cfg->log_level = lvl;
        return 0;
    }
    }
    return -EINVAL;
}

static const opt_t *find_opt(const char *name, size_t n)
{
    for (size_t i = 0; i < SB_ARRAY_SIZE(opts); i++)
        if (strlen(opts[i].name) == n && memcmp(opts[i].name, name, n) == 0)
            return &opts[i];
    return NULL;
}

static void env_name(const opt_t *o, char *out, size_t outlen)
{
    size_t k = (size_t)snprintf(out, outlen, "SWITCHBOARD_");
    for (const char *p = o->name; *p && k + 1 < outlen; p++)
        out[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[k] = '\0';
}

static int load_file(sb_config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "--config: cannot open '%s': %s", path, strerror(errno));
        return -EINVAL;
    }
    sb_buf_t b;
    sb_buf_init(&b, 1u << 20);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if ((rc = sb_buf_append(&b, chunk, n)) < 0)
            break;
    fclose(f);
    if (rc < 0 || b.len == 0) {
        snprintf(err, errlen, "--config: '%s' is empty or larger than 1 MiB", path);
        sb_buf_free(&b);
        return -EINVAL;
    }
    cJSON *root = cJSON_ParseWithLength(b.data, b.len);
    sb_buf_free(&b);
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "--config: '%s' is not a JSON object", path);
        cJSON_Delete(root);
        return -EINVAL;
    }
    rc = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        const opt_t *o = find_opt(it->string, strlen(it->string));
        if (!o || strcmp(o->name, "config") == 0) {
            snprintf(err, errlen, "--config: unknown setting '%s' in '%s'", it->string, path);
            rc = -EINVAL;
            break;
        }
        char num[32];
        const char *val;
        double d = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (cJSON_IsString(it)) {
            val = it->valuestring;
        } else if (d >= 0 && d <= 9007199254740992.0 && d == (double)(uint64_t)d) {
            /* the range check comes first: casting an out-of-range double is undefined */
            snprintf(num, sizeof(num), "%llu", (unsigned long long)d);
            val = num;
        } else {
            snprintf(err, errlen, "--config: setting '%s' must be a string or a non-negative integer", it->string);
            rc = -EINVAL;
            break;
        }
        if ((rc = set_opt(cfg, o, val, "config file: ", err, errlen)) < 0)
            break;
    }
    cJSON_Delete(root);
    return rc;
}

static void usage(char *out, size_t outlen)
{
    size_t k = (size_t)snprintf(out, outlen,
                                "usage: switchboard [options]\n\n"
                                "Multi-tenant messaging gateway. Every option has an environment twin\n"
                                "(--max-body is SWITCHBOARD_MAX_BODY) and a key in the --config JSON file.\n\n");
    for (size_t i = 0; i < SB_ARRAY_SIZE(opts) && k < outlen; i++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s %s", opts[i].name, opts[i].arg);
        k += (size_t)snprintf(out + k, outlen - k, "  %-32s %s\n", left, opts[i].help);
    }
    if (k < outlen)
        snprintf(out + k, outlen - k, "  %-32s %s\n  %-32s %s\n", "--help", "print this help", "--version",
                 "print the version");
}

int sb_config_load(sb_config_t *cfg, int argc, char **argv, char **envp, char *err, size_t errlen, char *out,
                   size_t outlen)
{
    sb_config_defaults(cfg);
    err[0] = '\0';
    if (out && outlen)
        out[0] = '\0';

    /* First pass: --help, --version, unknown flags, and the --config file location. */
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(out, outlen);
            return SB_CONFIG_EXIT;
        }
        if (strcmp(a, "--version") == 0) {
            snprintf(out, outlen, "switchboard %s\n", SB_VERSION);
            return SB_CONFIG_EXIT;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (options start with --)", a);
            return SB_CONFIG_ERROR;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt_t *o = find_opt(name, nlen);
        if (!o) {
            snprintf(err, errlen, "unknown flag --%.*s (see --help)", (int)nlen, name);
            return SB_CONFIG_ERROR;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--%s needs a value (%s)", o->name, o->arg);
                return SB_CONFIG_ERROR;
            }
            val = argv[++i];
        }
        if (strcmp(o->name, "config") == 0)
            config_path = val;
    }
    char envbuf[64];
    if (!config_path && envp) {
        env_name(find_opt("config", 6), envbuf, sizeof(envbuf));
        config_path = getenv(envbuf);
    }
    if (config_path && *config_path) {
        if (set_opt(cfg, find_opt("config", 6), config_path, "", err, errlen) < 0 ||
            load_file(cfg, config_path, err, errlen) < 0)
            return SB_CONFIG_ERROR;
    }
    /* Environment twins. */
    if (envp) {
        for (size_t i = 0; i < SB_ARRAY_SIZE(opts); i++) {
            env_name(&opts[i], envbuf, sizeof(envbuf));
            const char *v = getenv(envbuf);
            char envorigin[80];
            snprintf(envorigin, sizeof(envorigin), "%s: ", envbuf);
            if (v && set_opt(cfg, &opts[i], v, envorigin, err, errlen) < 0)
                return SB_CONFIG_ERROR;
        }
    }
    /* Command line last: it wins. */
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i] + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt_t *o = find_opt(name, nlen);
        const char *val = eq ? eq + 1 : argv[++i];
        if (set_opt(cfg, o, val, "", err, errlen) < 0)
            return SB_CONFIG_ERROR;
    }
    return SB_CONFIG_OK;
}
