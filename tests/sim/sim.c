/* The simulated sale. See sim.h. */
#include "tests/sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEP_S 0.05
#define TICK_S 0.25
#define SIG_WINDOW_S 1.0
#define SIG_RING 64

typedef struct {
    double *v;
    size_t n, cap;
} vec_t;

static void push(vec_t *a, double x) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (!a->v)
            abort();
    }
    a->v[a->n++] = x;
}

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static double uniform(uint64_t *s) {
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static double capacity_at(const sim_scenario_t *s, double t) {
    double c = s->phases[0].capacity;
    for (int i = 0; i < s->nphases; i++)
        if (t >= s->phases[i].at_s)
            c = s->phases[i].capacity;
    return c;
}

double sim_best_load(const sim_scenario_t *s, double c) {
    /* p99 of an exponential latency is ln(100) times its mean base / (1 - rho) */
    double rho = 1.0 - log(100.0) * s->base_ms / s->cfg.target_p99_ms;
    return c * (rho > 0 ? rho : 0);
}

typedef struct {
    double end_s;
    wr_sig_counts_t c;
} published_t;

sim_totals_t sim_run(const sim_scenario_t *s, double every_s, sim_row_cb cb, void *arg) {
    sim_totals_t tot = {0};
    uint64_t rng = s->seed ? s->seed : 0x9e3779b97f4a7c15ull;
    vec_t pending = {0}, pending_noshow = {0}, active = {0};
    wr_ctl_t ctl;
    wr_ctl_init(&ctl, &s->cfg, 0);
    wr_sig_counts_t window = {0}, truth = {0};
    published_t ring[SIG_RING];
    int nring = 0;
    double req_carry = 0, next_pub = SIG_WINDOW_S, next_tick = 0, next_row = 0;
    double truth_start = 0;
    wr_ctl_decision_t last = {0};
    double last_load = 0, last_err = 0, last_p99 = 0;
    for (double t = 0; t <= s->duration_s + 1e-9; t += STEP_S) {
        double cap = capacity_at(s, t);
        /* claims, no-shows, session ends */
        for (size_t i = 0; i < pending.n;) {
            if (pending.v[i] <= t) {
                push(&active, t + s->session_s);
                pending.v[i] = pending.v[--pending.n];
            } else {
                i++;
            }
        }
        for (size_t i = 0; i < pending_noshow.n;) {
            if (pending_noshow.v[i] + s->claim_window_s <= t) {
                pending_noshow.v[i] = pending_noshow.v[--pending_noshow.n];
                tot.no_shows++;
            } else {
                i++;
            }
        }
        for (size_t i = 0; i < active.n;) {
            if (active.v[i] <= t)
                active.v[i] = active.v[--active.n];
            else
                i++;
        }
        /* the origin's requests this step */
        double load = s->req_per_s * (double)active.n;
        req_carry += load * STEP_S;
        double rho = fmin(load / cap, 0.995);
        double mean_ms = s->base_ms / (1.0 - rho);
        double fail = load > 1.2 * cap ? (load - 1.2 * cap) / load : 0.0;
        while (req_carry >= 1.0) {
            req_carry -= 1.0;
            wr_sig_counts_t one = {0};
            one.requests = 1;
            if (uniform(&rng) < fail) {
                one.server_5xx = 1;
                wr_sig_add_latency(&one, (uint64_t)(s->base_ms * 1000));
            } else {
                one.ok = 1;
                double ms = -mean_ms * log(1.0 - uniform(&rng));
                wr_sig_add_latency(&one, (uint64_t)(ms * 1000));
            }
            wr_sig_merge(&window, &one);
            wr_sig_merge(&truth, &one);
        }
        if (t + 1e-9 >= next_pub) { /* every gateway publishes its window each second */
            if (nring == SIG_RING) {
                memmove(ring, ring + 1, (SIG_RING - 1) * sizeof *ring);
                nring--;
            }
            ring[nring++] = (published_t){t, window};
            memset(&window, 0, sizeof window);
            next_pub += SIG_WINDOW_S;
        }
        if (t + 1e-9 >= truth_start + 1.0) {
            last_load = (double)truth.requests / (t - truth_start);
            last_err = (double)truth.server_5xx / (t - truth_start);
            last_p99 = wr_sig_quantile_ms(&truth, 0.99);
            memset(&truth, 0, sizeof truth);
            truth_start = t;
        }
        if (t + 1e-9 >= next_tick) { /* the controller's tick, seeing signals 1-2 s late */
            double delay = 1.0 + uniform(&rng);
            wr_ctl_input_t in = {
                .waiting = 1000000, .admitted_unclaimed = pending.n + pending_noshow.n, .active = active.n};
            for (int i = nring - 1; i >= 0; i--) {
                if (ring[i].end_s <= t - delay) {
                    in.sig = ring[i].c;
                    in.sig_end_ms = (uint64_t)llround(ring[i].end_s * 1000);
                    in.fresh = t - ring[i].end_s < 3.0;
                    break;
                }
            }
            uint64_t in_system = in.admitted_unclaimed + in.active;
            if (in_system > tot.max_in_system)
                tot.max_in_system = in_system;
            last = wr_ctl_decide(&ctl, &s->cfg, &in, (uint64_t)llround(t * 1000));
            for (uint64_t k = 0; k < last.admit; k++) {
                if (uniform(&rng) < s->no_show)
                    push(&pending_noshow, t);
                else
                    push(&pending, t + uniform(&rng) * s->claim_delay_s);
            }
            tot.admitted += last.admit;
            tot.ticks++;
            next_tick += TICK_S;
        }
        if (cb && t + 1e-9 >= next_row) {
            sim_row_t row = {.t_s = t,
                             .capacity = cap,
                             .load = last_load,
                             .errors = last_err,
                             .p99_ms = last_p99,
                             .rate = last.rate_per_minute,
                             .limit = last.limit,
                             .active = (double)active.n,
                             .in_system = (double)(pending.n + pending_noshow.n + active.n),
                             .admitted_total = tot.admitted,
                             .reason = wr_reason_name(last.reason)};
            cb(&row, arg);
            next_row += every_s;
        }
    }
    free(pending.v);
    free(pending_noshow.v);
    free(active.v);
    return tot;
}

void sim_keep(const sim_row_t *r, void *arg) {
    sim_samples_t *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 512;
        s->x = realloc(s->x, (size_t)s->cap * sizeof *s->x);
        if (!s->x)
            abort();
    }
    s->x[s->n++] = (sim_sample_t){r->t_s, r->load, r->errors, r->capacity};
}

sim_figures_t sim_figures(const sim_scenario_t *s, const sim_sample_t *x, int n, double from_s, double to_s) {
    sim_figures_t f = {.settle_s = -1, .last_5xx_s = -1};
    double best = sim_best_load(s, capacity_at(s, to_s - 1e-6));
    f.best_load = best;
    for (int i = 0; i < n; i++) {
        if (x[i].t_s <= from_s || x[i].t_s > to_s)
            continue;
        if (x[i].errors > 0) {
            f.last_5xx_s = x[i].t_s;
            f.errors_total += x[i].errors;
        }
        /* 5-second average of the load ending here */
        double sum = 0;
        int k = 0;
        for (int j = i; j >= 0 && x[j].t_s > x[i].t_s - 5.0 + 1e-9; j--, k++)
            sum += x[j].load;
        if (x[i].t_s - from_s < 5.0 - 1e-9)
            continue; /* not a whole window since from_s yet */
        double avg = sum / k, dev = fabs(avg - best) / best;
        if (f.settle_s < 0 && dev <= 0.10)
            f.settle_s = x[i].t_s - from_s;
        if (f.settle_s >= 0 && dev > f.max_dev_after)
            f.max_dev_after = dev;
        if (avg > best && (avg - best) / best > f.overshoot)
            f.overshoot = (avg - best) / best;
    }
    return f;
}

static sim_scenario_t base(void) {
    sim_scenario_t s = {
        .session_s = 10,
        .req_per_s = 2,
        .base_ms = 20,
        .claim_delay_s = 1.0,
        .no_show = 0.0,
        .claim_window_s = 120,
        .seed = 42,
    };
    s.cfg.adaptive = true;
    s.cfg.min_rate = 60;
    s.cfg.max_rate = 6000;
    s.cfg.max_active = 5000;
    s.cfg.target_p99_ms = 1000;
    s.cfg.max_error_rate = 0.01;
    return s;
}

sim_scenario_t sim_adaptive_steady(void) {
    sim_scenario_t s = base();
    s.name = "adaptive, C = 200 req/s";
    s.duration_s = 300;
    s.phases[0] = (sim_phase_t){0, 200};
    s.nphases = 1;
    return s;
}

sim_scenario_t sim_adaptive_drop(void) {
    sim_scenario_t s = base();
    s.name = "adaptive, C = 200 -> 100 (at 120 s) -> 200 (at 240 s)";
    s.duration_s = 400;
    s.phases[0] = (sim_phase_t){0, 200};
    s.phases[1] = (sim_phase_t){120, 100};
    s.phases[2] = (sim_phase_t){240, 200};
    s.nphases = 3;
    return s;
}

sim_scenario_t sim_fixed_600(void) {
    sim_scenario_t s = base();
    s.name = "fixed 600/min";
    s.duration_s = 600;
    s.phases[0] = (sim_phase_t){0, 1000};
    s.nphases = 1;
    s.no_show = 0.05;
    s.claim_window_s = 30;
    s.cfg.adaptive = false;
    s.cfg.rate_per_minute = 600;
    s.cfg.max_active = 0;
    return s;
}
