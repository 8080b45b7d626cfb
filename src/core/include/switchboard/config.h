/* Server configuration: flags, SWITCHBOARD_* environment twins and an optional JSON file
 * (docs/configuration.md). Parsing is pure and reports the offending flag by name. */
#ifndef SWITCHBOARD_CONFIG_H
#define SWITCHBOARD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SB_MAX_CIDRS       64
#define SB_MAX_RETRY_STEPS 32

typedef struct sb_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
} sb_cidr_t;

typedef struct sb_cidr_list {
    sb_cidr_t items[SB_MAX_CIDRS];
    unsigned count;
} sb_cidr_list_t;

typedef struct sb_config {
    char *listen_host;
    unsigned listen_port;
    char *redis_url; /* NULL: embedded */
    unsigned threads;
    char *admin_token; /* NULL: admin API closed */
    char *data_dir;
    uint64_t max_body;
    unsigned max_connections;
    unsigned max_connections_per_ip; /* 0: no cap; trusted proxies are exempt */
    unsigned ipv6_prefix;            /* IPv6 clients are counted by this network (rate limits, caps) */
    sb_cidr_list_t trusted_proxies;
    sb_cidr_list_t allow_private_targets;
    unsigned retry_schedule[SB_MAX_RETRY_STEPS];
    unsigned retry_steps;
    unsigned pace_ms;
    int log_level;
    char *config_file;
    unsigned header_timeout_ms;
    unsigned idle_timeout_ms;
    unsigned body_timeout_ms; /* a body's deadline: this, plus 1 s per body_min_rate bytes, */
    unsigned body_min_rate;   /* ... bytes/s (0: no extension), */
    unsigned body_max_ms;     /* ... never more than this */
    unsigned shutdown_timeout_ms;
    unsigned redis_timeout_ms;
    char *ca_file; /* extra CA bundle for https deliveries */
    uint64_t disable_after_ms;
    char *instance_id;              /* seed 001's instance_id; default: host name */
    unsigned widget_session_ttl_s;  /* anonymous widget session */
    unsigned widget_verified_ttl_s; /* OTP-verified session, from verification */
    unsigned otp_code_ttl_s;
    unsigned sse_heartbeat_ms;
    unsigned binding_cache_ms; /* how long a loop keeps a channel binding it looked up */
    /* platform send APIs (docs/channels.md), configurable so tests point them at local fakes */
    char *slack_api_base;          /* chat.postMessage is <base>/chat.postMessage */
    char *telegram_api_base;       /* <base>/bot<token>/sendMessage */
    char *graph_api_base;          /* WhatsApp Cloud API: <base>/<phoneNumberId>/messages */
    char *botframework_token_url;  /* OAuth client-credentials token endpoint */
    char *botframework_jwks_url;   /* Bot Framework signing keys, for channels without their own */
    uint64_t conversation_idle_ms; /* open conversations idle this long are closed; 0: never */
    unsigned process_queues;       /* 1: this instance works the queues; 0: HTTP only (docs/deploy.md) */
    char *public_url;              /* base of API chat bot_urls (docs/apichat.md); NULL: http:// + Host */
} sb_config_t;

enum { SB_CONFIG_OK = 0, SB_CONFIG_EXIT = 1 /* --help / --version printed */, SB_CONFIG_ERROR = -1 };

void sb_config_defaults(sb_config_t *cfg);
/* Parses defaults < config file < environment < argv. On error writes a message naming the
 * flag into err. envp may be NULL (environment ignored). out receives --help / --version text. */
int sb_config_load(sb_config_t *cfg, int argc, char **argv, char **envp, char *err, size_t errlen, char *out,
                   size_t outlen);
void sb_config_free(sb_config_t *cfg);

/* "10.0.0.0/8,::1" -> list; bare addresses get a full-length prefix. */
int sb_cidr_list_parse(const char *s, sb_cidr_list_t *list);
bool sb_cidr_list_match(const sb_cidr_list_t *list, const struct sockaddr *sa);
/* "0,5,300" -> seconds. */
int sb_retry_schedule_parse(const char *s, unsigned *steps, unsigned max, unsigned *count);

#endif
