/* Origin signal counts and their latency quantiles. */
#include "common/signals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double wr_sig_bound_ms(int i) {
    return pow(1.25, i);
}

int wr_sig_bucket(uint64_t us) {
    double ms = (double)us / 1000.0;
    if (ms <= 1.0)
        return 0;
    int i = (int)ceil(log(ms) / log(1.25) - 1e-9);
    return i < WR_SIG_BUCKETS - 1 ? i : WR_SIG_BUCKETS - 1;
}

void wr_sig_add_latency(wr_sig_counts_t *s, uint64_t us) {
    s->latency[wr_sig_bucket(us)]++;
}

void wr_sig_merge(wr_sig_counts_t *a, const wr_sig_counts_t *b) {
    a->requests += b->requests;
    a->ok += b->ok;
    a->client_4xx += b->client_4xx;
    a->server_5xx += b->server_5xx;
    a->timeouts += b->timeouts;
    for (int i = 0; i < WR_SIG_BUCKETS; i++)
        a->latency[i] += b->latency[i];
}

double wr_sig_quantile_ms(const wr_sig_counts_t *s, double q) {
    uint64_t total = 0;
    for (int i = 0; i < WR_SIG_BUCKETS; i++)
        total += s->latency[i];
    if (total == 0)
        return 0.0;
    double rank = q * (double)total, seen = 0.0;
    for (int i = 0; i < WR_SIG_BUCKETS; i++) {
        double n = (double)s->latency[i];
        if (n > 0 && seen + n >= rank) {
            double lo = i == 0 ? 0.0 : wr_sig_bound_ms(i - 1), hi = wr_sig_bound_ms(i);
            return lo + (hi - lo) * ((rank - seen) / n);
        }
        seen += n;
    }
    return wr_sig_bound_ms(WR_SIG_BUCKETS - 1);
}

double wr_sig_error_rate(const wr_sig_counts_t *s) {
    return s->requests ? (double)s->server_5xx / (double)s->requests : 0.0;
}

int wr_sig_format(const wr_sig_counts_t *s, uint64_t end_ms, int64_t inventory, char *out, size_t cap) {
    int n = snprintf(out, cap, "%llu %llu %llu %llu %llu %llu %lld", (unsigned long long)end_ms,
                     (unsigned long long)s->requests, (unsigned long long)s->ok,
                     (unsigned long long)s->client_4xx, (unsigned long long)s->server_5xx,
                     (unsigned long long)s->timeouts, (long long)inventory);
    for (int i = 0; i < WR_SIG_BUCKETS && n > 0 && (size_t)n < cap; i++)
        n += snprintf(out + n, cap - (size_t)n, " %llu", (unsigned long long)s->latency[i]);
    return n > 0 && (size_t)n < cap ? n : -1;
}

int wr_sig_parse(const char *text, size_t len, uint64_t *end_ms, int64_t *inventory, wr_sig_counts_t *c) {
    char buf[WR_SIG_TEXT_MAX];
    if (len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *p = buf, *e;
    long long v[7 + WR_SIG_BUCKETS];
    for (int i = 0; i < 7 + WR_SIG_BUCKETS; i++) {
        v[i] = strtoll(p, &e, 10);
        if (e == p || (i != 6 && v[i] < 0))
            return -1;
        p = e;
    }
    *end_ms = (uint64_t)v[0];
    *inventory = v[6];
    c->requests = (uint64_t)v[1];
    c->ok = (uint64_t)v[2];
    c->client_4xx = (uint64_t)v[3];
    c->server_5xx = (uint64_t)v[4];
    c->timeouts = (uint64_t)v[5];
    for (int i = 0; i < WR_SIG_BUCKETS; i++)
        c->latency[i] = (uint64_t)v[7 + i];
    return 0;
}
