/* Honest waits. A room's wait estimate comes from how fast its admission boundary has actually moved
 * (serials passed per second, admitted or skipped), measured over the last two minutes in 10-second
 * buckets: the median bucket rate gives eta_seconds, the slow end (10th percentile bucket) gives
 * eta_p90_seconds. With too little history, or a boundary that has not moved lately (paused room, rate
 * cut to zero), there is no estimate at all rather than a made-up one. Pure: the clock is a parameter. */
#ifndef GW_ETA_H
#define GW_ETA_H

#include <stdbool.h>
#include <stdint.h>

#define GW_ETA_BUCKET_MS 10000
#define GW_ETA_BUCKETS 12     /* two minutes of history */
#define GW_ETA_MIN_BUCKETS 3  /* 30 s of history before the first estimate */
#define GW_ETA_STALL_MS 15000 /* no movement for this long: no estimate (paused, rate cut to zero) */

typedef struct {
    uint64_t bucket_start_ms;        /* start of the current bucket; 0 = no sample yet */
    uint64_t last_boundary;          /* boundary at the last sample */
    uint64_t counts[GW_ETA_BUCKETS]; /* serials passed in each finished bucket, newest at [0] */
    uint32_t nfull;                  /* finished buckets held */
    uint64_t current;                /* serials passed in the current bucket */
    uint64_t last_move_ms;           /* when the boundary last moved */
} gw_eta_t;

typedef struct {
    bool known;
    double rate_per_minute; /* median measured rate */
    uint64_t p50_s, p90_s;  /* for `ahead` people in front */
} gw_eta_estimate_t;

/* Records the room's boundary as read at now_ms (called on every cache refresh). */
void gw_eta_sample(gw_eta_t *e, uint64_t now_ms, uint64_t boundary);
/* The wait, at now_ms, for a visitor with `ahead` people in front. */
gw_eta_estimate_t gw_eta_estimate(const gw_eta_t *e, uint64_t now_ms, uint64_t ahead);

#endif
