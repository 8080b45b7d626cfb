/* Allocation wrappers. Out-of-memory policy: switchboard aborts with a message. A gateway that
 * cannot allocate a few KiB is already failing every request; crashing fast lets the process
 * supervisor restart it, and everything accepted is already in Redis. */
#ifndef SWITCHBOARD_ALLOC_H
#define SWITCHBOARD_ALLOC_H

#include <stddef.h>

void *sb_malloc(size_t n);
void *sb_calloc(size_t count, size_t n);
void *sb_realloc(void *p, size_t n);
char *sb_strndup(const char *s, size_t n);
char *sb_strdup(const char *s);
void sb_free(void *p);

#endif
