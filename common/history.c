/* The history sample's text form. */
#include "common/history.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int wr_hist_format(const wr_hist_sample_t *s, char *out, size_t cap) {
    int n = snprintf(out, cap, "1 %llu %llu %llu %llu %llu %.1f %.1f %.3f %.4f %s", (unsigned long long)s->ms,
                     (unsigned long long)s->waiting, (unsigned long long)s->unclaimed,
                     (unsigned long long)s->active, (unsigned long long)s->admitted_last_minute,
                     s->rate_per_minute, s->limit, s->p99_ms < 0 ? -1.0 : s->p99_ms,
                     s->error_rate < 0 ? -1.0 : s->error_rate, s->reason[0] ? s->reason : "none");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int wr_hist_parse(const char *text, size_t len, wr_hist_sample_t *out) {
    char buf[WR_HIST_TEXT_MAX];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    unsigned long long ms, waiting, unclaimed, active, minute;
    int end = 0;
    memset(out, 0, sizeof *out);
    if (sscanf(buf, "1 %llu %llu %llu %llu %llu %lf %lf %lf %lf %23[a-z_]%n", &ms, &waiting, &unclaimed,
               &active, &minute, &out->rate_per_minute, &out->limit, &out->p99_ms, &out->error_rate,
               out->reason, &end) != 10 ||
        (size_t)end != len)
        return -1;
    /* finite and within what a sample can hold: a huge figure would not fit the text again */
    const double *f[] = {&out->rate_per_minute, &out->limit, &out->p99_ms, &out->error_rate};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!isfinite(*f[i]) || *f[i] < -1.0 || *f[i] > 1e12)
            return -1;
    out->ms = ms;
    out->waiting = waiting;
    out->unclaimed = unclaimed;
    out->active = active;
    out->admitted_last_minute = minute;
    return 0;
}
