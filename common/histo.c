/* Fixed-bound latency histogram and its Prometheus text form. */
#include "common/histo.h"

#include <stdio.h>

const double wr_histo_bounds_ms[WR_HISTO_BUCKETS] = {0.1, 0.25, 0.5, 1,    2.5,  5,    10,    25,   50,
                                                     100, 250,  500, 1000, 2500, 5000, 10000, 30000};

void wr_histo_observe(wr_histo_t *h, uint64_t us) {
    int i = 0;
    while (i < WR_HISTO_BUCKETS && (double)us > wr_histo_bounds_ms[i] * 1000.0)
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void wr_histo_add(wr_histo_snap_t *s, const wr_histo_t *h) {
    for (int i = 0; i <= WR_HISTO_BUCKETS; i++)
        s->bucket[i] += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    s->sum_us += atomic_load_explicit(&h->sum_us, memory_order_relaxed);
}

void wr_histo_render(wr_buf_t *b, const char *name, const char *labels, const wr_histo_snap_t *s) {
    char line[384];
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (int i = 0; i <= WR_HISTO_BUCKETS; i++) {
        cum += s->bucket[i];
        if (i < WR_HISTO_BUCKETS)
            snprintf(line, sizeof line, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                     wr_histo_bounds_ms[i] / 1000.0, (unsigned long long)cum);
        else
            snprintf(line, sizeof line, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                     (unsigned long long)cum);
        wr_buf_puts(b, line);
    }
    /* the count is the buckets' total, so a scrape racing a writer never shows count < +Inf */
    if (labels[0])
        snprintf(line, sizeof line, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels,
                 (double)s->sum_us / 1e6, name, labels, (unsigned long long)cum);
    else
        snprintf(line, sizeof line, "%s_sum %.6f\n%s_count %llu\n", name, (double)s->sum_us / 1e6, name,
                 (unsigned long long)cum);
    wr_buf_puts(b, line);
}
