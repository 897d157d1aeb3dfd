/* Wall-clock time in milliseconds since the epoch: what goes into Redis and the audit stream, shared by
 * every process (uv_now() is per loop and monotonic, for timers only). */
#ifndef WR_CLOCK_H
#define WR_CLOCK_H

#include <stdint.h>
#include <uv.h>

static inline int64_t wr_wall_ms(void) {
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

#endif
