/* The wall clock (clock.h). */
#include "switchboard/clock.h"

#include <time.h>

#include "switchboard/text.h"

int64_t sb_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sb_now_ms(void)
{
    return sb_now_us() / 1000;
}

int64_t sb_now_s(void)
{
    return sb_now_us() / 1000000;
}

void sb_now_rfc3339(char out[32])
{
    sb_time_rfc3339_us(sb_now_us(), out);
}
