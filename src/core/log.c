/* JSON-lines logger (see log.h). Lines go to stdout; a flush writes whole lines in chunks of at
 * most PIPE_BUF so lines from different threads never interleave inside a pipe. */
#include "switchboard/log.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "switchboard/text.h"

int sb_log_level = SB_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static __thread sb_buf_t tls_buf;
static __thread int tls_buf_ready;

int sb_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -EINVAL;
}

sb_buf_t *sb_log_thread_buf(void)
{
    if (!tls_buf_ready) {
        sb_buf_init(&tls_buf, 8u << 20);
        tls_buf_ready = 1;
    }
    return &tls_buf;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

sb_buf_t *sb_log_line_begin(int level, const char *msg)
{
    sb_buf_t *b = sb_log_thread_buf();
    char ts[32];
    sb_time_rfc3339(now_ms(), ts);
    sb_buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_names[level]);
    sb_buf_json_escape(b, msg, strlen(msg));
    sb_buf_putc(b, '"');
    return b;
}

void sb_log_line_end(sb_buf_t *b)
{
    sb_buf_puts(b, "}\n");
    if (b->len > 64 * 1024)
        sb_log_flush();
}

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* a closed stdout must not take the server down */
        }
        p += w;
        n -= (size_t)w;
    }
}

void sb_log_flush(void)
{
    if (!tls_buf_ready || tls_buf.len == 0)
        return;
    const char *p = tls_buf.data, *end = tls_buf.data + tls_buf.len;
    while (p < end) {
        size_t n = (size_t)(end - p);
        if (n > PIPE_BUF) {
            /* cut after the last newline that fits */
            const char *cut = p + PIPE_BUF;
            while (cut > p && cut[-1] != '\n')
                cut--;
            n = cut > p ? (size_t)(cut - p) : PIPE_BUF;
        }
        write_all(p, n);
        p += n;
    }
    sb_buf_reset(&tls_buf);
}

void sb_log(int level, const char *msg, const char *fields, ...)
{
    if (!sb_log_enabled(level))
        return;
    sb_buf_t *b = sb_log_line_begin(level, msg);
    if (fields && *fields) {
        sb_buf_putc(b, ',');
        va_list ap;
        va_start(ap, fields);
        sb_buf_vprintf(b, fields, ap);
        va_end(ap);
    }
    sb_buf_puts(b, "}\n");
    sb_log_flush();
}

void sb_log_thread_cleanup(void)
{
    sb_log_flush();
    if (tls_buf_ready) {
        sb_buf_free(&tls_buf);
        tls_buf_ready = 0;
    }
}
