/* Bucketed rate history. A boundary that moves backwards (Redis lost its data and was rebuilt) resets
 * the history instead of counting negative progress. */
#include "gateway/queue/eta.h"

#include <string.h>

static void close_bucket(gw_eta_t *e) {
    memmove(e->counts + 1, e->counts, (GW_ETA_BUCKETS - 1) * sizeof e->counts[0]);
    e->counts[0] = e->current;
    e->current = 0;
    if (e->nfull < GW_ETA_BUCKETS)
        e->nfull++;
}

void gw_eta_sample(gw_eta_t *e, uint64_t now_ms, uint64_t boundary) {
    if (e->bucket_start_ms == 0 || boundary < e->last_boundary) {
        memset(e, 0, sizeof *e);
        e->bucket_start_ms = now_ms ? now_ms : 1;
        e->last_boundary = boundary;
        e->last_move_ms = now_ms;
        return;
    }
    /* buckets that ended before now, including empty ones while nothing was sampled */
    while (now_ms >= e->bucket_start_ms + GW_ETA_BUCKET_MS) {
        close_bucket(e);
        e->bucket_start_ms += GW_ETA_BUCKET_MS;
    }
    if (boundary != e->last_boundary)
        e->last_move_ms = now_ms;
    e->current += boundary - e->last_boundary;
    e->last_boundary = boundary;
}

static void sort(uint64_t *v, uint32_t n) {
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

gw_eta_estimate_t gw_eta_estimate(const gw_eta_t *e, uint64_t now_ms, uint64_t ahead) {
    gw_eta_estimate_t out = {0};
    /* too little history, or a boundary that stopped (paused, rate cut): no honest estimate */
    if (e->nfull < GW_ETA_MIN_BUCKETS || now_ms > e->last_move_ms + GW_ETA_STALL_MS)
        return out;
    uint64_t v[GW_ETA_BUCKETS];
    memcpy(v, e->counts, e->nfull * sizeof v[0]);
    sort(v, e->nfull);
    uint64_t med = e->nfull % 2 ? v[e->nfull / 2] : (v[e->nfull / 2 - 1] + v[e->nfull / 2]) / 2;
    uint64_t slow = v[e->nfull / 10]; /* 10th percentile bucket */
    if (med == 0)
        return out;
    out.known = true;
    out.rate_per_minute = (double)med * 60000.0 / GW_ETA_BUCKET_MS;
    /* ceil(ahead / rate): a visitor should not be told less than the measured pace gives */
    out.p50_s = (ahead * GW_ETA_BUCKET_MS + med * 1000 - 1) / (med * 1000);
    if (slow == 0)
        slow = med / 4 ? med / 4 : 1; /* stalls happen: p90 assumes a quarter of the median pace */
    out.p90_s = (ahead * GW_ETA_BUCKET_MS + slow * 1000 - 1) / (slow * 1000);
    if (out.p90_s < out.p50_s)
        out.p90_s = out.p50_s;
    return out;
}
