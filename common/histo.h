/* A latency histogram that one thread writes (relaxed atomics) and another reads for /metrics, with
 * fixed bounds from 100 us to 30 s (Prometheus "le", seconds). Used for the origin (per gateway and
 * per room) and for Redis (per connection). */
#ifndef WR_HISTO_H
#define WR_HISTO_H

#include "common/buf.h"

#include <stdatomic.h>
#include <stdint.h>

#define WR_HISTO_BUCKETS 17
extern const double wr_histo_bounds_ms[WR_HISTO_BUCKETS];

typedef struct {
    _Atomic uint64_t bucket[WR_HISTO_BUCKETS + 1]; /* last = +Inf; not cumulative */
    _Atomic uint64_t sum_us;
} wr_histo_t;

/* A plain copy, summed over the writers (workers) when rendered. */
typedef struct {
    uint64_t bucket[WR_HISTO_BUCKETS + 1];
    uint64_t sum_us;
} wr_histo_snap_t;

void wr_histo_observe(wr_histo_t *h, uint64_t us);

/* Adds h's current figures into s. */
void wr_histo_add(wr_histo_snap_t *s, const wr_histo_t *h);

/* Writes the _bucket (cumulative), _sum (seconds) and _count lines of `name`; labels is "" or a
 * label list without braces ("room=\"sale\""). HELP and TYPE lines are the caller's. */
void wr_histo_render(wr_buf_t *b, const char *name, const char *labels, const wr_histo_snap_t *s);

#endif
