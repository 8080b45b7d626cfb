/* Unit tests for src/core/log.c: level names, JSON-lines output (valid JSON per line, escaped
 * messages, level filtering), buffered request lines and flushing. stdout is captured in a
 * temporary file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "switchboard/log.h"

static int saved_stdout = -1;
static char cap_path[256];

static void capture_begin(void)
{
    const char *dir = getenv("TMPDIR");
    snprintf(cap_path, sizeof(cap_path), "%s/sb-log-test-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(cap_path);
    assert_true(fd >= 0);
    fflush(stdout);
    saved_stdout = dup(STDOUT_FILENO);
    assert_true(saved_stdout >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    close(fd);
}

/* Restores stdout and returns what was written (caller frees). */
static char *capture_end(size_t *len)
{
    sb_log_flush();
    fflush(stdout);
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
    saved_stdout = -1;
    FILE *f = fopen(cap_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    unlink(cap_path);
    if (len)
        *len = (size_t)n;
    return s;
}

static int reset_level(void **state)
{
    (void)state;
    sb_log_level = SB_LOG_INFO;
    return 0;
}

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(sb_log_level_parse("debug"), SB_LOG_DEBUG);
    assert_int_equal(sb_log_level_parse("info"), SB_LOG_INFO);
    assert_int_equal(sb_log_level_parse("warn"), SB_LOG_WARN);
    assert_int_equal(sb_log_level_parse("error"), SB_LOG_ERROR);
    assert_int_equal(sb_log_level_parse("warning"), -EINVAL);
    assert_int_equal(sb_log_level_parse("Info"), -EINVAL);
    assert_int_equal(sb_log_level_parse(""), -EINVAL);
}

static cJSON *parse_line(const char *line, size_t n)
{
    cJSON *o = cJSON_ParseWithLength(line, n);
    if (!cJSON_IsObject(o))
        fail_msg("not a JSON object: %.*s", (int)n, line);
    return o;
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void test_event_line(void **state)
{
    (void)state;
    capture_begin();
    sb_log(SB_LOG_WARN, "disk \"almost\" full\n", "\"port\":%d,\"path\":\"%s\"", 8080, "/data");
    size_t n;
    char *out = capture_end(&n);
    assert_true(n > 0);
    assert_int_equal(out[n - 1], '\n');
    assert_null(memchr(out, '\n', n - 1)); /* one line: the newline in msg is escaped */
    cJSON *o = parse_line(out, n - 1);
    assert_string_equal(str(o, "level"), "warn");
    assert_string_equal(str(o, "msg"), "disk \"almost\" full\n");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "port")->valueint, 8080);
    assert_string_equal(str(o, "path"), "/data");
    const char *ts = str(o, "ts");
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24); /* 2026-01-01T00:00:00.000Z */
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
    cJSON_Delete(o);
    free(out);
}

static void test_no_fields(void **state)
{
    (void)state;
    capture_begin();
    sb_log(SB_LOG_ERROR, "stopped", NULL);
    sb_log(SB_LOG_INFO, "started", NULL);
    size_t n;
    char *out = capture_end(&n);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    cJSON *a = parse_line(out, (size_t)(nl - out));
    cJSON *b = parse_line(nl + 1, n - (size_t)(nl + 1 - out) - 1);
    assert_string_equal(str(a, "level"), "error");
    assert_string_equal(str(b, "msg"), "started");
    assert_int_equal(cJSON_GetArraySize(a), 3); /* ts, level, msg */
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(out);
}

static void test_level_filter(void **state)
{
    (void)state;
    sb_log_level = SB_LOG_WARN;
    assert_false(sb_log_enabled(SB_LOG_INFO));
    assert_true(sb_log_enabled(SB_LOG_WARN));
    assert_true(sb_log_enabled(SB_LOG_ERROR));
    capture_begin();
    sb_log(SB_LOG_DEBUG, "hidden-debug", NULL);
    sb_log(SB_LOG_INFO, "hidden-info", NULL);
    sb_log(SB_LOG_ERROR, "shown", NULL);
    char *out = capture_end(NULL);
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "\"msg\":\"shown\""));
    free(out);
}

static void test_buffered_lines(void **state)
{
    (void)state;
    capture_begin();
    /* request lines accumulate in the thread buffer until flushed */
    for (int i = 0; i < 500; i++) {
        sb_buf_t *b = sb_log_line_begin(SB_LOG_INFO, "request");
        sb_buf_printf(b, ",\"i\":%d,\"pad\":\"%064d\"", i, i);
        sb_log_line_end(b);
    }
    assert_true(sb_log_thread_buf()->len > 0);
    size_t n;
    char *out = capture_end(&n); /* flushes: more than PIPE_BUF, so several writes */
    assert_int_equal(sb_log_thread_buf()->len, 0);
    int i = 0;
    for (char *p = out; p < out + n; i++) {
        char *nl = memchr(p, '\n', (size_t)(out + n - p));
        assert_non_null(nl);
        cJSON *o = parse_line(p, (size_t)(nl - p));
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(o, "i")->valueint, i);
        cJSON_Delete(o);
        p = nl + 1;
    }
    assert_int_equal(i, 500);
    free(out);
}

static void test_long_line(void **state)
{
    (void)state;
    char *msg = malloc(20000);
    assert_non_null(msg);
    memset(msg, 'm', 19999);
    msg[19999] = '\0';
    capture_begin();
    sb_log(SB_LOG_INFO, msg, NULL);
    size_t n;
    char *out = capture_end(&n);
    cJSON *o = parse_line(out, n - 1);
    assert_int_equal(strlen(str(o, "msg")), 19999);
    cJSON_Delete(o);
    free(out);
    free(msg);
}

static int teardown(void **state)
{
    (void)state;
    sb_log_thread_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test_setup(test_event_line, reset_level),
        cmocka_unit_test_setup(test_no_fields, reset_level),
        cmocka_unit_test_setup(test_level_filter, reset_level),
        cmocka_unit_test_setup(test_buffered_lines, reset_level),
        cmocka_unit_test_setup(test_long_line, reset_level),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
