/* A simulated sale for the admission controller: an endless queue, admitted visitors who claim after a
 * short delay (some never do), sessions of a fixed length sending requests at a fixed rate, and an
 * origin of capacity C (requests/s) whose latency rises steeply as load nears C (M/M/1-like: latencies
 * exponential with mean base / (1 - load/C)) and which fails the requests above 1.2 C with 5xx.
 * Gateways' signals reach the controller 1-2 s late, as one-second windows. Deterministic: a fixed PRNG
 * seed, a simulated clock. Used by tests/unit/test_controller.c and scripts/simulate-admission. */
#ifndef WR_SIM_H
#define WR_SIM_H

#include "admission/controller.h"

#include <stdint.h>
#include <stdio.h>

#define SIM_MAX_PHASES 8

typedef struct {
    double at_s;     /* from this time on ... */
    double capacity; /* ... the origin takes this many requests/s */
} sim_phase_t;

typedef struct {
    const char *name;
    double duration_s;
    sim_phase_t phases[SIM_MAX_PHASES];
    int nphases;
    double session_s;     /* 10 */
    double req_per_s;     /* per active session: 2 */
    double base_ms;       /* origin latency at no load */
    double claim_delay_s; /* admitted visitors claim after up to this long */
    double no_show;       /* fraction that never claims */
    double claim_window_s;
    wr_ctl_cfg_t cfg;
    uint64_t seed;
} sim_scenario_t;

/* One row every `every_s` seconds of simulated time. */
typedef struct {
    double t_s;
    double capacity;
    double load;      /* requests/s offered to the origin, over the last second */
    double errors;    /* 5xx/s over the last second */
    double p99_ms;    /* true p99 of the last second's latencies */
    double rate;      /* controller's rate, visitors/minute */
    double limit;     /* controller's concurrency limit (adaptive) */
    double active;    /* active sessions */
    double in_system; /* admitted-unclaimed + active */
    uint64_t admitted_total;
    const char *reason;
} sim_row_t;

typedef void (*sim_row_cb)(const sim_row_t *row, void *arg);

typedef struct {
    uint64_t admitted;
    uint64_t max_in_system;
    uint64_t ticks;
    uint64_t no_shows;
} sim_totals_t;

/* Runs the scenario; calls cb (if any) every every_s seconds. */
sim_totals_t sim_run(const sim_scenario_t *s, double every_s, sim_row_cb cb, void *arg);

/* The largest origin load (requests/s) that keeps p99 under the target, for capacity c. */
double sim_best_load(const sim_scenario_t *s, double c);

/* Acceptance figures of an adaptive scenario, from 5-second averages of the load. */
typedef struct {
    double best_load; /* for the capacity in force at to_s */
    double settle_s;  /* first time the load is within ±10 % of the best load after `from_s` (-1: never) */
    double max_dev_after; /* largest deviation (fraction) after settling, until `to_s` */
    double overshoot;     /* largest excess over the best load after `from_s` (fraction, 0 if none) */
    double last_5xx_s;    /* last time with any 5xx after from_s (-1: none) */
    double errors_total;  /* 5xx after from_s */
} sim_figures_t;

typedef struct {
    double t_s, load, errors, capacity;
} sim_sample_t;

/* The load samples of a run, collected by sim_keep (a sim_row_cb: pass a zeroed sim_samples_t); the
 * caller frees x. */
typedef struct {
    sim_sample_t *x;
    int n, cap;
} sim_samples_t;
void sim_keep(const sim_row_t *row, void *samples);

/* Figures over samples (one per second) between from_s and to_s, against the best load for the
 * capacity in force at to_s. */
sim_figures_t sim_figures(const sim_scenario_t *s, const sim_sample_t *samples, int n, double from_s,
                          double to_s);

/* The scenarios of the acceptance tests and of scripts/simulate-admission. */
sim_scenario_t sim_adaptive_steady(void); /* C = 200 for 300 s */
sim_scenario_t sim_adaptive_drop(void);   /* C = 200, then 100 from 120 s, then 200 again from 240 s */
sim_scenario_t sim_fixed_600(void);       /* fixed 600/min for 10 minutes, max_active 150, no-shows */

#endif
