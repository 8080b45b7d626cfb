/* The wall clock (src/core/clock.c): the one place switchboard reads the time of day. Pure code
 * takes `now` as an argument instead (the Slack signature check, the JWT rules, the limiter's
 * scripts read Redis' own clock). Timers and deadlines use libuv's monotonic uv_now(). */
#ifndef SWITCHBOARD_CLOCK_H
#define SWITCHBOARD_CLOCK_H

#include <stdint.h>

int64_t sb_now_ms(void); /* ms since the Unix epoch */
int64_t sb_now_us(void); /* us since the Unix epoch */
int64_t sb_now_s(void);  /* s since the Unix epoch */
/* RFC 3339 UTC with microseconds (creation times that sort records). */
void sb_now_rfc3339(char out[32]);

#endif
