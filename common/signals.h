/* Origin signals: what each gateway measured of the origin for one room over an interval, published to
 * Redis (wr:{ROOM}:sig:GATEWAY) and merged by wr-admission. The latency histogram has fine, log-spaced
 * buckets (ratio 1.25 from 1 ms to about 2 minutes), so a p99 read from it is within 12 % of the true
 * one: the controller steers on it, and the coarse Prometheus buckets would make it jump. */
#ifndef WR_SIGNALS_H
#define WR_SIGNALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WR_SIG_BUCKETS 54 /* bucket i holds latencies in (bound(i-1), bound(i)]; the last one is open */

typedef struct {
    uint64_t requests; /* responses from the origin, any status, plus timeouts and failures */
    uint64_t ok;       /* 1xx-3xx */
    uint64_t client_4xx;
    uint64_t server_5xx; /* 5xx from the origin, and the gateway's 502/503/504 for it */
    uint64_t timeouts;   /* no answer in time (counted in server_5xx too) */
    uint64_t latency[WR_SIG_BUCKETS];
} wr_sig_counts_t;

/* Upper bound of bucket i, in milliseconds (1.25^i ms). */
double wr_sig_bound_ms(int i);
/* The bucket for a latency in microseconds. */
int wr_sig_bucket(uint64_t us);
void wr_sig_add_latency(wr_sig_counts_t *s, uint64_t us);
/* Adds b into a. */
void wr_sig_merge(wr_sig_counts_t *a, const wr_sig_counts_t *b);
/* The q-quantile (0 < q < 1) of the latencies in ms, linear within a bucket; 0 with no samples. */
double wr_sig_quantile_ms(const wr_sig_counts_t *s, double q);
/* Errors as the controller counts them: 5xx and timeouts over all requests (0 with none). */
double wr_sig_error_rate(const wr_sig_counts_t *s);

/* The text a gateway publishes for one interval (wr:{ROOM}:sig, one field per gateway worker):
 * "end_ms requests ok 4xx 5xx timeouts inventory l0 .. l53" (inventory -1 = none). */
#define WR_SIG_TEXT_MAX (64 + 24 * WR_SIG_BUCKETS)
int wr_sig_format(const wr_sig_counts_t *s, uint64_t end_ms, int64_t inventory, char *out, size_t cap);
/* Parses it back; returns 0, or -1 for anything else. */
int wr_sig_parse(const char *text, size_t len, uint64_t *end_ms, int64_t *inventory, wr_sig_counts_t *c);

#endif
