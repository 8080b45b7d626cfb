/* Unit tests for src/core/config.c: defaults, flags, environment twins, the JSON config file,
 * CIDR lists and retry schedules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "switchboard/config.h"
#include "switchboard/log.h"

extern char **environ;

static const char *const env_names[] = {
    "SWITCHBOARD_LISTEN",          "SWITCHBOARD_REDIS",
    "SWITCHBOARD_THREADS",         "SWITCHBOARD_ADMIN_TOKEN",
    "SWITCHBOARD_DATA_DIR",        "SWITCHBOARD_MAX_BODY",
    "SWITCHBOARD_MAX_CONNECTIONS", "SWITCHBOARD_TRUSTED_PROXIES",
    "SWITCHBOARD_ALLOW_PRIVATE_TARGETS", "SWITCHBOARD_RETRY_SCHEDULE",
    "SWITCHBOARD_PACE_MS",         "SWITCHBOARD_LOG_LEVEL",
    "SWITCHBOARD_CONFIG",          "SWITCHBOARD_HEADER_TIMEOUT_MS",
    "SWITCHBOARD_IDLE_TIMEOUT_MS", "SWITCHBOARD_SHUTDOWN_TIMEOUT_MS",
    "SWITCHBOARD_REDIS_TIMEOUT_MS",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
        unsetenv(env_names[i]);
}

static int reset(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

typedef struct {
    sb_config_t cfg;
    char err[512];
    char out[8192];
    int rc;
} loaded_t;

/* argv without the program name; NULL-terminated. envp: pass environ to read the environment. */
static int load(loaded_t *l, char **envp, const char *const *args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"switchboard";
    for (; args && args[argc - 1]; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    memset(l->err, 0, sizeof(l->err));
    l->rc = sb_config_load(&l->cfg, argc, argv, envp, l->err, sizeof(l->err), l->out, sizeof(l->out));
    return l->rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Expects an error whose message contains want. */
static void expect_error(const char *const *args, const char *want)
{
    loaded_t l;
    int rc = load(&l, NULL, args);
    if (rc != SB_CONFIG_ERROR)
        fail_msg("args starting '%s': expected an error, got %d", args[0], rc);
    if (!strstr(l.err, want))
        fail_msg("error '%s' does not contain '%s'", l.err, want);
    sb_config_free(&l.cfg);
}

static char tmp_path[256];

static const char *write_tmp(const char *content)
{
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_path, sizeof(tmp_path), "%s/sb-config-test-XXXXXX.json", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(tmp_path, 5);
    assert_true(fd >= 0);
    size_t n = strlen(content);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    return tmp_path;
}

static void test_defaults(void **state)
{
    (void)state;
    loaded_t l;
    assert_int_equal(load(&l, NULL, NULL), SB_CONFIG_OK);
    sb_config_t *c = &l.cfg;
    assert_string_equal(l.err, "");
    assert_string_equal(c->listen_host, "0.0.0.0");
    assert_int_equal(c->listen_port, 8080);
    assert_null(c->redis_url);
    assert_null(c->admin_token);
    assert_null(c->config_file);
    assert_string_equal(c->data_dir, "./switchboard-data");
    assert_int_equal(c->max_body, 1048576);
    assert_int_equal(c->max_connections, 100000);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(c->threads, cores > 256 ? 256 : (cores > 0 ? cores : 1));
    assert_int_equal(c->pace_ms, 2000);
    assert_int_equal(c->log_level, SB_LOG_INFO);
    assert_int_equal(c->header_timeout_ms, 10000);
    assert_int_equal(c->idle_timeout_ms, 60000);
    assert_int_equal(c->shutdown_timeout_ms, 10000);
    assert_int_equal(c->redis_timeout_ms, 2000);
    assert_int_equal(c->trusted_proxies.count, 0);
    assert_int_equal(c->allow_private_targets.count, 0);
    static const unsigned sched[] = {0, 5, 300, 1800, 7200, 18000, 36000, 36000};
    assert_int_equal(c->retry_steps, 8);
    assert_memory_equal(c->retry_schedule, sched, sizeof(sched));
    sb_config_free(c);
    assert_null(c->listen_host);
}

static void test_flag_forms(void **state)
{
    (void)state;
    loaded_t l;
    assert_int_equal(load(&l, NULL,
                          ARGS("--listen", "127.0.0.1:9000", "--threads=3", "--max-body", "2048", "--admin-token=s3cret",
                               "--redis", "redis://localhost:6379/1", "--data-dir=/var/lib/sb", "--log-level", "debug",
                               "--pace-ms=0", "--max-connections", "10", "--header-timeout-ms=100",
                               "--idle-timeout-ms", "86400000", "--shutdown-timeout-ms=0", "--redis-timeout-ms", "10")),
                     SB_CONFIG_OK);
    sb_config_t *c = &l.cfg;
    assert_string_equal(c->listen_host, "127.0.0.1");
    assert_int_equal(c->listen_port, 9000);
    assert_int_equal(c->threads, 3);
    assert_int_equal(c->max_body, 2048);
    assert_string_equal(c->admin_token, "s3cret");
    assert_string_equal(c->redis_url, "redis://localhost:6379/1");
    assert_string_equal(c->data_dir, "/var/lib/sb");
    assert_int_equal(c->log_level, SB_LOG_DEBUG);
    assert_int_equal(c->pace_ms, 0);
    assert_int_equal(c->max_connections, 10);
    assert_int_equal(c->header_timeout_ms, 100);
    assert_int_equal(c->idle_timeout_ms, 86400000);
    assert_int_equal(c->shutdown_timeout_ms, 0);
    assert_int_equal(c->redis_timeout_ms, 10);
    sb_config_free(c);
}

static void test_listen_forms(void **state)
{
    (void)state;
    loaded_t l;
    assert_int_equal(load(&l, NULL, ARGS("--listen=[::1]:8443")), SB_CONFIG_OK);
    assert_string_equal(l.cfg.listen_host, "::1");
    assert_int_equal(l.cfg.listen_port, 8443);
    sb_config_free(&l.cfg);
    assert_int_equal(load(&l, NULL, ARGS("--listen", "[::]:80")), SB_CONFIG_OK);
    assert_string_equal(l.cfg.listen_host, "::");
    assert_int_equal(l.cfg.listen_port, 80);
    sb_config_free(&l.cfg);
    assert_int_equal(load(&l, NULL, ARGS("--listen", "10.1.2.3:65535")), SB_CONFIG_OK);
    assert_string_equal(l.cfg.listen_host, "10.1.2.3");
    assert_int_equal(l.cfg.listen_port, 65535);
    sb_config_free(&l.cfg);
}

static void test_value_with_equals(void **state)
{
    (void)state;
    loaded_t l;
    /* only the first '=' separates the flag from its value */
    assert_int_equal(load(&l, NULL, ARGS("--admin-token=a=b==", "--data-dir", "--odd=dir")), SB_CONFIG_OK);
    assert_string_equal(l.cfg.admin_token, "a=b==");
    assert_string_equal(l.cfg.data_dir, "--odd=dir"); /* a separate value is taken as is */
    sb_config_free(&l.cfg);
}

static void test_last_flag_wins(void **state)
{
    (void)state;
    loaded_t l;
    assert_int_equal(load(&l, NULL, ARGS("--threads", "2", "--threads=5")), SB_CONFIG_OK);
    assert_int_equal(l.cfg.threads, 5);
    sb_config_free(&l.cfg);
    /* an empty admin token means "none" */
    assert_int_equal(load(&l, NULL, ARGS("--admin-token", "x", "--admin-token=")), SB_CONFIG_OK);
    assert_null(l.cfg.admin_token);
    sb_config_free(&l.cfg);
}

static void test_unknown_flag(void **state)
{
    (void)state;
    expect_error(ARGS("--frobnicate", "1"), "--frobnicate");
    expect_error(ARGS("--max-bodies=5"), "--max-bodies");
    expect_error(ARGS("--threads", "2", "--bogus"), "--bogus");
    expect_error(ARGS("threads"), "threads");
    expect_error(ARGS("-t", "3"), "-t");
}

static void test_missing_value(void **state)
{
    (void)state;
    expect_error(ARGS("--threads"), "--threads");
    expect_error(ARGS("--listen", "127.0.0.1:1", "--admin-token"), "--admin-token");
}

static void test_bad_values_name_the_flag(void **state)
{
    (void)state;
    expect_error(ARGS("--threads", "abc"), "--threads");
    expect_error(ARGS("--threads", "0"), "--threads");
    expect_error(ARGS("--threads", "257"), "--threads");
    expect_error(ARGS("--threads=-1"), "--threads");
    expect_error(ARGS("--threads", " 4"), "--threads");
    expect_error(ARGS("--threads", "4x"), "--threads");
    expect_error(ARGS("--threads", ""), "--threads");
    expect_error(ARGS("--max-body", "-1"), "--max-body");
    expect_error(ARGS("--max-body", "0"), "--max-body");
    expect_error(ARGS("--max-body", "1073741825"), "--max-body");
    expect_error(ARGS("--max-body", "99999999999999999999999"), "--max-body");
    expect_error(ARGS("--listen", "nohost"), "--listen");
    expect_error(ARGS("--listen", "localhost:80"), "--listen");
    expect_error(ARGS("--listen", ":8080"), "--listen");
    expect_error(ARGS("--listen", "1.2.3.4:"), "--listen");
    expect_error(ARGS("--listen", "1.2.3.4:65536"), "--listen");
    expect_error(ARGS("--listen", "1.2.3.4:http"), "--listen");
    expect_error(ARGS("--listen", "[::1:80"), "--listen");
    expect_error(ARGS("--header-timeout-ms", "99"), "--header-timeout-ms");
    expect_error(ARGS("--redis-timeout-ms", "600001"), "--redis-timeout-ms");
    expect_error(ARGS("--log-level", "verbose"), "--log-level");
    expect_error(ARGS("--log-level", "INFO"), "--log-level");
    expect_error(ARGS("--trusted-proxies", "10.0.0.0/33"), "--trusted-proxies");
    expect_error(ARGS("--allow-private-targets=nonsense"), "--allow-private-targets");
    expect_error(ARGS("--retry-schedule", "1,,2"), "--retry-schedule");
    expect_error(ARGS("--data-dir", ""), "--data-dir");
    expect_error(ARGS("--config="), "--config");
    /* the message quotes the rejected value too */
    expect_error(ARGS("--threads", "abc"), "'abc'");
}

static void test_help_and_version(void **state)
{
    (void)state;
    loaded_t l;
    assert_int_equal(load(&l, NULL, ARGS("--help")), SB_CONFIG_EXIT);
    assert_non_null(strstr(l.out, "usage: switchboard"));
    assert_non_null(strstr(l.out, "--max-body"));
    assert_non_null(strstr(l.out, "--retry-schedule"));
    assert_non_null(strstr(l.out, "--version"));
    sb_config_free(&l.cfg);
    assert_int_equal(load(&l, NULL, ARGS("-h")), SB_CONFIG_EXIT);
    sb_config_free(&l.cfg);
    assert_int_equal(load(&l, NULL, ARGS("--version")), SB_CONFIG_EXIT);
    assert_non_null(strstr(l.out, "switchboard "));
    assert_non_null(strstr(l.out, SB_VERSION));
    sb_config_free(&l.cfg);
    /* --help wins even after other (valid) flags */
    assert_int_equal(load(&l, NULL, ARGS("--threads", "2", "--help")), SB_CONFIG_EXIT);
    sb_config_free(&l.cfg);
}

static void test_help_small_buffer(void **state)
{
    (void)state;
    sb_config_t cfg;
    char err[128], out[40];
    char *argv[] = {(char *)"switchboard", (char *)"--help", NULL};
    memset(out, 'x', sizeof(out));
    assert_int_equal(sb_config_load(&cfg, 2, argv, NULL, err, sizeof(err), out, sizeof(out)), SB_CONFIG_EXIT);
    assert_int_equal(strlen(out), sizeof(out) - 1);
    sb_config_free(&cfg);
}

static void test_env_twin(void **state)
{
    (void)state;
    loaded_t l;
    setenv("SWITCHBOARD_MAX_BODY", "4096", 1);
    setenv("SWITCHBOARD_LISTEN", "127.0.0.1:7000", 1);
    setenv("SWITCHBOARD_ADMIN_TOKEN", "from-env", 1);
    setenv("SWITCHBOARD_TRUSTED_PROXIES", "10.0.0.0/8", 1);
    assert_int_equal(load(&l, environ, NULL), SB_CONFIG_OK);
    assert_int_equal(l.cfg.max_body, 4096);
    assert_string_equal(l.cfg.listen_host, "127.0.0.1");
    assert_int_equal(l.cfg.listen_port, 7000);
    assert_string_equal(l.cfg.admin_token, "from-env");
    assert_int_equal(l.cfg.trusted_proxies.count, 1);
    sb_config_free(&l.cfg);

    /* envp NULL: the environment is ignored */
    assert_int_equal(load(&l, NULL, NULL), SB_CONFIG_OK);
    assert_int_equal(l.cfg.max_body, 1048576);
    assert_null(l.cfg.admin_token);
    sb_config_free(&l.cfg);

    /* the command line beats the environment */
    assert_int_equal(load(&l, environ, ARGS("--max-body", "8192", "--admin-token=from-flag")), SB_CONFIG_OK);
    assert_int_equal(l.cfg.max_body, 8192);
    assert_string_equal(l.cfg.admin_token, "from-flag");
    assert_int_equal(l.cfg.listen_port, 7000);
    sb_config_free(&l.cfg);
    clear_env();
}

static void test_env_bad_value_names_variable(void **state)
{
    (void)state;
    loaded_t l;
    setenv("SWITCHBOARD_THREADS", "many", 1);
    assert_int_equal(load(&l, environ, NULL), SB_CONFIG_ERROR);
    assert_non_null(strstr(l.err, "SWITCHBOARD_THREADS"));
    assert_non_null(strstr(l.err, "--threads"));
    sb_config_free(&l.cfg);
    clear_env();
}

static void test_config_file(void **state)
{
    (void)state;
    loaded_t l;
    const char *path = write_tmp("{\"max-body\": 2048, \"threads\": 2, \"listen\": \"127.0.0.1:9100\",\n"
                                 " \"admin-token\": \"file-token\", \"trusted-proxies\": \"10.0.0.0/8, ::1\",\n"
                                 " \"retry-schedule\": \"1,2,3\", \"log-level\": \"warn\"}");
    assert_int_equal(load(&l, NULL, ARGS("--config", path)), SB_CONFIG_OK);
    assert_string_equal(l.err, "");
    assert_int_equal(l.cfg.max_body, 2048);
    assert_int_equal(l.cfg.threads, 2);
    assert_string_equal(l.cfg.listen_host, "127.0.0.1");
    assert_int_equal(l.cfg.listen_port, 9100);
    assert_string_equal(l.cfg.admin_token, "file-token");
    assert_int_equal(l.cfg.trusted_proxies.count, 2);
    assert_int_equal(l.cfg.retry_steps, 3);
    assert_int_equal(l.cfg.retry_schedule[2], 3);
    assert_int_equal(l.cfg.log_level, SB_LOG_WARN);
    assert_string_equal(l.cfg.config_file, path);
    sb_config_free(&l.cfg);

    /* precedence: file < environment < command line */
    setenv("SWITCHBOARD_THREADS", "4", 1);
    char flag[300];
    snprintf(flag, sizeof(flag), "--config=%s", path);
    assert_int_equal(load(&l, environ, ARGS(flag, "--max-body", "4096")), SB_CONFIG_OK);
    assert_int_equal(l.cfg.threads, 4);     /* env beats file */
    assert_int_equal(l.cfg.max_body, 4096); /* flag beats file */
    assert_int_equal(l.cfg.listen_port, 9100);
    sb_config_free(&l.cfg);

    /* SWITCHBOARD_CONFIG names the file too */
    setenv("SWITCHBOARD_CONFIG", path, 1);
    assert_int_equal(load(&l, environ, NULL), SB_CONFIG_OK);
    assert_int_equal(l.cfg.max_body, 2048);
    sb_config_free(&l.cfg);
    clear_env();
    unlink(path);
}

/* A value from the file is applied in full, as the same value given as a flag is. */
static void test_config_file_long_value(void **state)
{
    (void)state;
    enum { N = 5000 };
    static char token[N + 1], json[N + 64], flag[N + 32];
    for (size_t i = 0; i < N; i++)
        token[i] = (char)('a' + i % 26);
    token[N] = '\0';

    /* as a flag: taken in full */
    snprintf(flag, sizeof(flag), "--admin-token=%s", token);
    loaded_t l;
    assert_int_equal(load(&l, NULL, ARGS(flag)), SB_CONFIG_OK);
    size_t flag_len = l.cfg.admin_token ? strlen(l.cfg.admin_token) : 0;
    sb_config_free(&l.cfg);
    assert_int_equal(flag_len, N);

    /* in the file: applied in full, or refused with a message naming the key; silently cutting
     * a secret short is not acceptable */
    snprintf(json, sizeof(json), "{\"admin-token\": \"%s\"}", token);
    const char *path = write_tmp(json);
    int rc = load(&l, NULL, ARGS("--config", path));
    unlink(path);
    size_t file_len = l.cfg.admin_token ? strlen(l.cfg.admin_token) : 0;
    bool same = l.cfg.admin_token && strcmp(l.cfg.admin_token, token) == 0;
    bool named = strstr(l.err, "admin-token") != NULL;
    sb_config_free(&l.cfg);
    if (rc == SB_CONFIG_OK && !same)
        fail_msg("config file: the %d-byte admin-token was silently cut to %zu bytes", N, file_len);
    if (rc != SB_CONFIG_OK && !named)
        fail_msg("config file: long admin-token refused without naming it: '%s'", l.err);
}

static void expect_file_error(const char *content, const char *want)
{
    loaded_t l;
    const char *path = write_tmp(content);
    int rc = load(&l, NULL, ARGS("--config", path));
    if (rc != SB_CONFIG_ERROR)
        fail_msg("config file %s: expected an error, got %d", content, rc);
    if (!strstr(l.err, want))
        fail_msg("config file %s: error '%s' does not contain '%s'", content, l.err, want);
    sb_config_free(&l.cfg);
    unlink(path);
}

static void test_config_file_errors(void **state)
{
    (void)state;
    expect_file_error("{\"max-body\": 2048, \"colour\": \"blue\"}", "colour");
    expect_file_error("{\"config\": \"other.json\"}", "config");
    expect_file_error("{\"max-body\": -5}", "max-body");
    expect_file_error("{\"max-body\": 1.5}", "max-body");
    expect_file_error("{\"max-body\": true}", "max-body");
    expect_file_error("{\"max-body\": null}", "max-body");
    expect_file_error("{\"max-body\": 1e300}", "max-body");
    expect_file_error("{\"max-body\": 18446744073709551616}", "max-body");
    expect_file_error("{\"threads\": \"lots\"}", "--threads");
    expect_file_error("{\"threads\": 0}", "--threads");
    expect_file_error("{\"listen\": \"nohost\"}", "--listen");
    expect_file_error("[1, 2]", "not a JSON object");
    expect_file_error("{\"threads\": 2", "not a JSON object");
    expect_file_error("", "empty");

    loaded_t l;
    assert_int_equal(load(&l, NULL, ARGS("--config", "/nonexistent/dir/switchboard.json")), SB_CONFIG_ERROR);
    assert_non_null(strstr(l.err, "--config"));
    assert_non_null(strstr(l.err, "/nonexistent/dir/switchboard.json"));
    sb_config_free(&l.cfg);
}

/* --- CIDR lists --- */

static struct sockaddr_in v4(const char *ip)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    return sa;
}

static struct sockaddr_in6 v6(const char *ip)
{
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
    return sa;
}

static bool match4(const sb_cidr_list_t *l, const char *ip)
{
    struct sockaddr_in sa = v4(ip);
    return sb_cidr_list_match(l, (const struct sockaddr *)&sa);
}

static bool match6(const sb_cidr_list_t *l, const char *ip)
{
    struct sockaddr_in6 sa = v6(ip);
    return sb_cidr_list_match(l, (const struct sockaddr *)&sa);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    sb_cidr_list_t l;
    assert_int_equal(sb_cidr_list_parse("10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1", &l), 0);
    assert_int_equal(l.count, 4);
    assert_int_equal(l.items[0].family, AF_INET);
    assert_int_equal(l.items[0].prefix, 8);
    assert_int_equal(l.items[1].family, AF_INET);
    assert_int_equal(l.items[1].prefix, 32); /* bare address: full length */
    assert_int_equal(l.items[2].family, AF_INET6);
    assert_int_equal(l.items[2].prefix, 8);
    assert_int_equal(l.items[3].prefix, 128);
    static const unsigned char a192[4] = {192, 168, 1, 7};
    assert_memory_equal(l.items[1].addr, a192, 4);

    assert_int_equal(sb_cidr_list_parse("", &l), 0);
    assert_int_equal(l.count, 0);
    assert_int_equal(sb_cidr_list_parse(" , ,", &l), 0);
    assert_int_equal(l.count, 0);
    assert_int_equal(sb_cidr_list_parse("0.0.0.0/0", &l), 0);
    assert_int_equal(l.items[0].prefix, 0);
    assert_int_equal(sb_cidr_list_parse("::/0,::1/128", &l), 0);
    assert_int_equal(l.count, 2);

    static const char *const bad[] = {
        "10.0.0.0/33", "::1/129", "10.0.0.0/", "/8",           "10.0.0.0/-1", "10.0.0.0/8/8",
        "10.0.0/8",    "host",    "10.0.0.0/a", "1.2.3.4, bad", "10.0.0.0 /8", "::g",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sb_cidr_list_parse(bad[i], &l) != -EINVAL)
            fail_msg("CIDR list '%s' should be refused", bad[i]);

    /* at most SB_MAX_CIDRS entries */
    char many[SB_MAX_CIDRS * 12 + 16] = "";
    for (int i = 0; i < SB_MAX_CIDRS; i++) {
        char one[16];
        snprintf(one, sizeof(one), "%s10.0.0.%d", i ? "," : "", i);
        strcat(many, one);
    }
    assert_int_equal(sb_cidr_list_parse(many, &l), 0);
    assert_int_equal(l.count, SB_MAX_CIDRS);
    strcat(many, ",10.0.1.1");
    assert_int_equal(sb_cidr_list_parse(many, &l), -E2BIG);
}

static void test_cidr_match_v4(void **state)
{
    (void)state;
    sb_cidr_list_t l;
    assert_int_equal(sb_cidr_list_parse("10.0.0.0/8,192.168.1.7,172.16.0.0/12", &l), 0);
    assert_true(match4(&l, "10.0.0.0"));
    assert_true(match4(&l, "10.255.255.255"));
    assert_false(match4(&l, "11.0.0.0"));
    assert_false(match4(&l, "9.255.255.255"));
    assert_true(match4(&l, "192.168.1.7"));
    assert_false(match4(&l, "192.168.1.8"));
    assert_true(match4(&l, "172.31.255.255"));
    assert_false(match4(&l, "172.32.0.0"));
    assert_false(match4(&l, "172.15.255.255"));
    /* v4 ranges do not match plain v6 peers */
    assert_false(match6(&l, "::1"));
    assert_false(match6(&l, "a00::"));

    /* prefixes that do not fall on a byte boundary */
    assert_int_equal(sb_cidr_list_parse("100.64.0.0/10,203.0.113.128/25,1.2.3.4/31", &l), 0);
    assert_true(match4(&l, "100.127.255.255"));
    assert_false(match4(&l, "100.128.0.0"));
    assert_true(match4(&l, "203.0.113.200"));
    assert_false(match4(&l, "203.0.113.127"));
    assert_true(match4(&l, "1.2.3.5"));
    assert_false(match4(&l, "1.2.3.6"));

    /* host bits set in the list entry are ignored beyond the prefix */
    assert_int_equal(sb_cidr_list_parse("10.1.2.3/8", &l), 0);
    assert_true(match4(&l, "10.200.0.1"));

    /* /0 matches everything of its family */
    assert_int_equal(sb_cidr_list_parse("0.0.0.0/0", &l), 0);
    assert_true(match4(&l, "255.255.255.255"));
    assert_true(match4(&l, "0.0.0.0"));
    assert_false(match6(&l, "2001:db8::1"));

    /* empty list matches nothing */
    assert_int_equal(sb_cidr_list_parse("", &l), 0);
    assert_false(match4(&l, "127.0.0.1"));
}

static void test_cidr_match_v6(void **state)
{
    (void)state;
    sb_cidr_list_t l;
    assert_int_equal(sb_cidr_list_parse("fd00::/8,::1,2001:db8:abcd::/47", &l), 0);
    assert_true(match6(&l, "fd12:3456::1"));
    assert_false(match6(&l, "fe00::1"));
    assert_true(match6(&l, "::1"));
    assert_false(match6(&l, "::2"));
    assert_true(match6(&l, "2001:db8:abcd::1"));
    assert_true(match6(&l, "2001:db8:abcd:ffff::1"));
    assert_true(match6(&l, "2001:db8:abcc::1")); /* /47: the last bit of the third group is free */
    assert_false(match6(&l, "2001:db8:abce::1"));
    assert_false(match6(&l, "2001:db8:abcf::1"));
    assert_false(match6(&l, "2001:db9:abcd::1"));
    assert_false(match4(&l, "127.0.0.1"));

    assert_int_equal(sb_cidr_list_parse("::/0", &l), 0);
    assert_true(match6(&l, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_false(match4(&l, "1.1.1.1"));
}

static void test_cidr_match_v4_mapped(void **state)
{
    (void)state;
    sb_cidr_list_t l;
    assert_int_equal(sb_cidr_list_parse("10.0.0.0/8,127.0.0.1", &l), 0);
    /* a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d */
    assert_true(match6(&l, "::ffff:10.1.2.3"));
    assert_true(match6(&l, "::ffff:127.0.0.1"));
    assert_false(match6(&l, "::ffff:11.1.2.3"));
    assert_false(match6(&l, "::ffff:127.0.0.2"));
    /* not mapped: ::a01:203 is not 10.1.2.3 */
    assert_false(match6(&l, "::10.1.2.3"));
    assert_false(match6(&l, "64:ff9b::10.1.2.3"));

    /* a v6 range written in mapped form still matches mapped peers */
    assert_int_equal(sb_cidr_list_parse("::ffff:192.168.0.0/112", &l), 0);
    assert_true(match6(&l, "::ffff:192.168.5.5"));
    assert_false(match6(&l, "::ffff:192.169.5.5"));

    /* unknown address family */
    struct sockaddr sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    assert_int_equal(sb_cidr_list_parse("0.0.0.0/0,::/0", &l), 0);
    assert_false(sb_cidr_list_match(&l, &sa));
}

static void test_config_cidr_flags(void **state)
{
    (void)state;
    loaded_t l;
    assert_int_equal(load(&l, NULL, ARGS("--trusted-proxies", "127.0.0.1,::1", "--allow-private-targets=10.0.0.0/8")),
                     SB_CONFIG_OK);
    assert_int_equal(l.cfg.trusted_proxies.count, 2);
    assert_int_equal(l.cfg.allow_private_targets.count, 1);
    assert_true(match4(&l.cfg.allow_private_targets, "10.9.9.9"));
    assert_false(match4(&l.cfg.trusted_proxies, "10.9.9.9"));
    sb_config_free(&l.cfg);
}

/* --- retry schedules --- */

static void test_retry_schedule(void **state)
{
    (void)state;
    unsigned steps[SB_MAX_RETRY_STEPS], n = 99;
    assert_int_equal(sb_retry_schedule_parse("0,5,300", steps, SB_MAX_RETRY_STEPS, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(steps[0], 0);
    assert_int_equal(steps[1], 5);
    assert_int_equal(steps[2], 300);
    assert_int_equal(sb_retry_schedule_parse(" 1 , 2 ", steps, SB_MAX_RETRY_STEPS, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(steps[0], 1);
    assert_int_equal(steps[1], 2);
    assert_int_equal(sb_retry_schedule_parse("604800", steps, SB_MAX_RETRY_STEPS, &n), 0); /* 7 days */
    assert_int_equal(n, 1);
    assert_int_equal(steps[0], 604800);

    static const char *const bad[] = {"", "604801", "1,,2", "1,", ",1", "a", "-1", "1.5", "1;2", " "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = 99;
        if (sb_retry_schedule_parse(bad[i], steps, SB_MAX_RETRY_STEPS, &n) != -EINVAL)
            fail_msg("retry schedule '%s' should be refused", bad[i]);
        assert_int_equal(n, 99);
    }

    /* the step limit */
    assert_int_equal(sb_retry_schedule_parse("1,2,3", steps, 3, &n), 0);
    assert_int_equal(sb_retry_schedule_parse("1,2,3,4", steps, 3, &n), -EINVAL);

    loaded_t l;
    assert_int_equal(load(&l, NULL, ARGS("--retry-schedule", "10,20")), SB_CONFIG_OK);
    assert_int_equal(l.cfg.retry_steps, 2);
    assert_int_equal(l.cfg.retry_schedule[1], 20);
    sb_config_free(&l.cfg);
    char many[256] = "0";
    for (int i = 1; i <= SB_MAX_RETRY_STEPS; i++)
        strcat(many, ",1");
    expect_error(ARGS("--retry-schedule", many), "--retry-schedule");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, reset),
        cmocka_unit_test_setup(test_flag_forms, reset),
        cmocka_unit_test_setup(test_listen_forms, reset),
        cmocka_unit_test_setup(test_value_with_equals, reset),
        cmocka_unit_test_setup(test_last_flag_wins, reset),
        cmocka_unit_test_setup(test_unknown_flag, reset),
        cmocka_unit_test_setup(test_missing_value, reset),
        cmocka_unit_test_setup(test_bad_values_name_the_flag, reset),
        cmocka_unit_test_setup(test_help_and_version, reset),
        cmocka_unit_test_setup(test_help_small_buffer, reset),
        cmocka_unit_test_setup(test_env_twin, reset),
        cmocka_unit_test_setup(test_env_bad_value_names_variable, reset),
        cmocka_unit_test_setup(test_config_file, reset),
        cmocka_unit_test_setup(test_config_file_errors, reset),
        cmocka_unit_test_setup(test_config_file_long_value, reset),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_match_v4),
        cmocka_unit_test(test_cidr_match_v6),
        cmocka_unit_test(test_cidr_match_v4_mapped),
        cmocka_unit_test_setup(test_config_cidr_flags, reset),
        cmocka_unit_test_setup(test_retry_schedule, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
