/* A room's recent history for the dashboard: the admission leader writes one sample every
 * WR_HIST_INTERVAL_MS to wr:{ROOM}:hist (LPUSH, trimmed to WR_HIST_SAMPLES: 15 minutes), and any
 * gateway's admin API reads it back (GET /v1/rooms/NAME/history), so a dashboard opened mid-sale shows
 * the last quarter hour at once, whichever gateway serves it and however often controllers changed.
 * A sample is one line of text: "1 ms waiting unclaimed active admitted_last_minute rate limit p99_ms
 * error_rate reason" (p99_ms and error_rate are -1 without a fresh origin signal). */
#ifndef WR_HISTORY_H
#define WR_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define WR_HIST_INTERVAL_MS 5000
#define WR_HIST_SAMPLES 180
#define WR_HIST_TEXT_MAX 256

typedef struct {
    uint64_t ms;                   /* unix time of the tick it was taken at */
    uint64_t waiting, unclaimed;   /* waiting; admitted but not yet shown up */
    uint64_t active;               /* sessions in progress */
    uint64_t admitted_last_minute; /* admitted over the minute before ms */
    double rate_per_minute, limit; /* as decided at that tick */
    double p99_ms, error_rate;     /* the origin's, < 0 = no fresh signal */
    char reason[24];               /* why the rate was what it was ([a-z_]) */
} wr_hist_sample_t;

/* Returns the text's length, or -1 if it does not fit in cap. */
int wr_hist_format(const wr_hist_sample_t *s, char *out, size_t cap);

/* Returns 0, or -1 for anything that is not a sample of this version (it is then skipped). */
int wr_hist_parse(const char *text, size_t len, wr_hist_sample_t *out);

#endif
