/* switchboard: parse the configuration, start the embedded Redis if no --redis was given, run
 * the loop threads, and on SIGTERM/SIGINT drain them and stop everything in order. */
#include <mbedtls/x509_crt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchboard/alloc.h"
#include "switchboard/api.h"
#include "switchboard/app.h"
#include "switchboard/config.h"
#include "switchboard/cron.h"
#include "switchboard/crypto.h"
#include "switchboard/http.h"
#include "switchboard/log.h"
#include "switchboard/store.h"

int main(int argc, char **argv, char **envp)
{
    signal(SIGPIPE, SIG_IGN);
    sb_config_t cfg;
    char err[1024], out[8192];
    int rc = sb_config_load(&cfg, argc, argv, envp, err, sizeof(err), out, sizeof(out));
    if (rc == SB_CONFIG_EXIT) {
        fputs(out, stdout);
        sb_config_free(&cfg);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "switchboard: %s\n", err);
        sb_config_free(&cfg);
        return 2;
    }
    sb_log_level = cfg.log_level;
    if (cfg.ca_file) { /* a CA bundle that does not load is a start-up error, not a silent https failure */
        mbedtls_x509_crt ca;
        mbedtls_x509_crt_init(&ca);
        int prc = mbedtls_x509_crt_parse_file(&ca, cfg.ca_file);
        mbedtls_x509_crt_free(&ca);
        if (prc < 0) {
            fprintf(stderr, "switchboard: --ca-file: cannot load PEM certificates from '%s'\n", cfg.ca_file);
            sb_config_free(&cfg);
            return 2;
        }
    }
    sb_redis_addr_t addr;
    if (cfg.redis_url && sb_redis_url_parse(cfg.redis_url, &addr) < 0) {
        fprintf(stderr,
                "switchboard: --redis: expected redis://[user:password@]host[:port][/db] or unix:///path, got '%s'\n",
                cfg.redis_url);
        sb_config_free(&cfg);
        return 2;
    }

    /* Signals are taken by sigwait() in this thread only; loop threads inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    sb_scripts_init();
    /* the time zones of proactive schedules, read once here: no file I/O on a loop thread */
    int zones = sb_tz_preload(NULL);
    sb_log(zones > 0 ? SB_LOG_DEBUG : SB_LOG_WARN, "time zones loaded", "\"count\":%d", zones < 0 ? 0 : zones);
    sb_router_t *router = sb_calloc(1, sizeof(*router));
    if (sb_api_routes(router) < 0) {
        fprintf(stderr, "switchboard: route table is invalid\n");
        return 1;
    }

    sb_embedded_redis_t embedded = {0};
    if (!cfg.redis_url) {
        if (sb_embedded_redis_start(&embedded, cfg.data_dir, err, sizeof(err)) < 0) {
            fprintf(stderr, "switchboard: %s\n", err);
            sb_config_free(&cfg);
            sb_free(router);
            return 1;
        }
        char url[300];
        snprintf(url, sizeof(url), "unix://%s", embedded.socket_path);
        cfg.redis_url = sb_strdup(url);
    }
    sb_store_check_persistence(cfg.redis_url);

    sb_server_t srv;
    sb_server_hooks_t hooks;
    sb_app_hooks(&hooks);
    sb_server_init(&srv, &cfg, router, &hooks);
    rc = sb_server_listen(&srv);
    if (rc != 0) {
        fprintf(stderr, "switchboard: --listen %s:%u: %s\n", cfg.listen_host, cfg.listen_port, uv_strerror(rc));
        sb_server_free(&srv);
        sb_embedded_redis_stop(&embedded);
        sb_config_free(&cfg);
        sb_free(router);
        sb_crypto_thread_cleanup();
        sb_log_thread_cleanup();
        return 1;
    }
    sb_server_start(&srv);
    sb_log(SB_LOG_INFO, "listening",
           "\"address\":\"%s:%u\",\"threads\":%u,\"version\":\"%s\",\"redis\":\"%s\",\"process_queues\":%s",
           cfg.listen_host, cfg.listen_port, cfg.threads, SB_VERSION, embedded.pid ? "embedded" : "external",
           cfg.process_queues ? "true" : "false");
    if (!cfg.process_queues)
        sb_log(SB_LOG_WARN,
               "not working the queues (--process-queues 0): messages, deliveries and sends wait for an "
               "instance with --process-queues 1",
               NULL);

    int sig = 0;
    sigwait(&set, &sig);
    sb_log(SB_LOG_INFO, "stopping", "\"signal\":\"%s\",\"drain_ms\":%u", sig == SIGINT ? "SIGINT" : "SIGTERM",
           cfg.shutdown_timeout_ms);
    sb_server_stop(&srv);
    sb_server_join(&srv);
    sb_server_free(&srv);
    sb_embedded_redis_stop(&embedded);
    sb_log(SB_LOG_INFO, "stopped", NULL);
    sb_config_free(&cfg);
    sb_free(router);
    sb_crypto_thread_cleanup();
    sb_log_thread_cleanup();
    return 0;
}
