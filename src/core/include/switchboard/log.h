/* JSON-lines logging. Event lines (start, errors) are written at once; request lines are
 * appended to a per-thread buffer that the loop flushes once per iteration, so a busy loop
 * makes one write(2) for many requests. Secrets are never passed to the logger. */
#ifndef SWITCHBOARD_LOG_H
#define SWITCHBOARD_LOG_H

#include <stdarg.h>

#include "switchboard/buf.h"

enum { SB_LOG_DEBUG = 0, SB_LOG_INFO = 1, SB_LOG_WARN = 2, SB_LOG_ERROR = 3 };

extern int sb_log_level;

int sb_log_level_parse(const char *s);
/* fields: JSON members without braces, printf-style, e.g. "\"port\":%d"; may be NULL. */
void sb_log(int level, const char *msg, const char *fields, ...) __attribute__((format(printf, 3, 4)));
#define sb_log_enabled(level) ((level) >= sb_log_level)

/* The calling thread's buffered line sink (request logs); flushed by sb_log_flush(). */
sb_buf_t *sb_log_thread_buf(void);
/* Starts a line in the thread buffer with ts + level + msg; the caller appends members and
 * ends it with sb_log_line_end(). */
sb_buf_t *sb_log_line_begin(int level, const char *msg);
void sb_log_line_end(sb_buf_t *b);
void sb_log_flush(void);
void sb_log_thread_cleanup(void);

#endif
