/* Rate and count limits shared by every worker of a process (a mutex each; a join or a connection is
 * rare next to the requests around it).
 *
 * wr_rate_t: at most `per_minute` events per key per minute, as GCRA (the generic cell rate algorithm):
 * one "theoretical arrival time" per key, so a key may spend a minute's worth at once, then one every
 * 60/per_minute seconds. Keys are hashed into a fixed table (no allocation after init): on a full
 * neighbourhood the entry closest to being free again is replaced, so a flood of distinct keys costs
 * others at most their remembered debt, never memory.
 * wr_count_t: how many of a thing each key holds now (connections per client address), bounded the same
 * way; a key that cannot be placed is refused. Times are microseconds of a monotonic clock passed in. */
#ifndef WR_RATELIMIT_H
#define WR_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct {
    uint64_t hash;  /* 0 = empty */
    uint64_t value; /* rate: theoretical arrival time (us); count: how many held */
} wr_limit_slot_t;

typedef struct {
    uv_mutex_t lock;
    wr_limit_slot_t *slots; /* [nslots], a power of two */
    size_t nslots;
    uint64_t interval_us;  /* rate: 60 s / per_minute */
    uint64_t tolerance_us; /* rate: how far ahead of now a key's debt may run (a minute's worth) */
    uint64_t max;          /* count: the most one key may hold */
} wr_limit_t;

/* A rate of per_minute events per key (per_minute > 0), in a table of nslots keys. 0 or -1. */
int wr_rate_init(wr_limit_t *l, uint64_t per_minute, size_t nslots);
/* Takes one event for key at now_us: 0 if allowed, else the microseconds until it would be. */
uint64_t wr_rate_take(wr_limit_t *l, const char *key, size_t key_len, uint64_t now_us);

/* At most max held per key (max > 0), nslots keys. 0 or -1. */
int wr_count_init(wr_limit_t *l, uint64_t max, size_t nslots);
/* One more for key: true if allowed (then wr_count_release must follow), false if at the limit. */
bool wr_count_acquire(wr_limit_t *l, const char *key, size_t key_len);
void wr_count_release(wr_limit_t *l, const char *key, size_t key_len);

void wr_limit_free(wr_limit_t *l);

#endif
