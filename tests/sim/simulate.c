/* Runs a simulated sale (tests/sim/sim.h) and prints one CSV row a second, then the scenario's figures
 * as "# key value" lines. scripts/simulate-admission charts them.
 *   simulate steady|drop|fixed [SEED]
 *   simulate seeds N      the adaptive scenarios' figures for seeds 1..N, one line each, and how many
 *                         meet the targets (the acceptance tests run one seed) */
#include "tests/sim/sim.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void row(const sim_row_t *r, void *arg) {
    sim_keep(r, arg);
    printf("%.2f,%.0f,%.1f,%.1f,%.1f,%.1f,%.1f,%.0f,%.0f,%llu,%s\n", r->t_s, r->capacity, r->load, r->errors,
           r->p99_ms, r->rate, r->limit, r->active, r->in_system, (unsigned long long)r->admitted_total,
           r->reason);
}

static void figures(const char *what, const sim_scenario_t *s, const sim_samples_t *x, double from,
                    double to) {
    sim_figures_t f = sim_figures(s, x->x, x->n, from, to);
    printf("# %s best_load %.1f settle_s %.1f max_dev_after %.3f overshoot %.3f last_5xx_after_s %.1f "
           "errors %.0f\n",
           what, f.best_load, f.settle_s, f.max_dev_after, f.overshoot,
           f.last_5xx_s < 0 ? -1.0 : f.last_5xx_s - from, f.errors_total);
}

/* Steady: settle <= 60 s, then within 15 %, no 5xx. Drop: 5xx stop <= 10 s, settle <= 30 s; recovery:
 * settle <= 90 s, no 5xx. */
static int seeds(int n) {
    int ok_steady = 0, ok_drop = 0;
    printf("seed  steady: settle_s within%%  overshoot%%  | drop: 5xx_stop_s settle_s | recovery: settle_s "
           "5xx\n");
    for (int seed = 1; seed <= n; seed++) {
        sim_scenario_t a = sim_adaptive_steady(), b = sim_adaptive_drop();
        a.seed = b.seed = (uint64_t)seed;
        sim_samples_t x = {0}, y = {0};
        sim_run(&a, 1.0, sim_keep, &x);
        sim_run(&b, 1.0, sim_keep, &y);
        sim_figures_t st = sim_figures(&a, x.x, x.n, 0, a.duration_s);
        sim_figures_t dr = sim_figures(&b, y.x, y.n, 120, 240);
        sim_figures_t up = sim_figures(&b, y.x, y.n, 240, 400);
        double stop = dr.last_5xx_s < 0 ? 0 : dr.last_5xx_s - 120;
        bool s_ok = st.settle_s >= 0 && st.settle_s <= 60 && st.max_dev_after <= 0.15 && st.errors_total == 0;
        bool d_ok = stop <= 10 && dr.settle_s >= 0 && dr.settle_s <= 30 && up.settle_s >= 0 &&
                    up.settle_s <= 90 && up.errors_total == 0;
        ok_steady += s_ok;
        ok_drop += d_ok;
        printf("%4d  %14.0f %8.1f %11.1f %s | %17.0f %8.0f %s | %18.0f %3.0f\n", seed, st.settle_s,
               st.max_dev_after * 100, st.overshoot * 100, s_ok ? "ok  " : "MISS", stop, dr.settle_s,
               d_ok ? "ok  " : "MISS", up.settle_s, up.errors_total);
        free(x.x);
        free(y.x);
    }
    printf("# seeds %d steady_ok %d drop_and_recovery_ok %d\n", n, ok_steady, ok_drop);
    return 0;
}

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "steady";
    if (!strcmp(which, "seeds"))
        return seeds(argc > 2 ? atoi(argv[2]) : 10);
    sim_scenario_t s = !strcmp(which, "drop")    ? sim_adaptive_drop()
                       : !strcmp(which, "fixed") ? sim_fixed_600()
                                                 : sim_adaptive_steady();
    if (argc > 2)
        s.seed = (uint64_t)strtoull(argv[2], NULL, 10);
    sim_samples_t x = {0};
    printf("t_s,capacity,load,errors_per_s,p99_ms,rate_per_min,limit,active,in_system,admitted,reason\n");
    sim_totals_t tot = sim_run(&s, 1.0, row, &x);
    printf("# scenario %s\n# admitted %llu max_in_system %llu no_shows %llu\n", s.name,
           (unsigned long long)tot.admitted, (unsigned long long)tot.max_in_system,
           (unsigned long long)tot.no_shows);
    if (!strcmp(which, "drop")) {
        figures("start", &s, &x, 0, 120);
        figures("drop", &s, &x, 120, 240);
        figures("recovery", &s, &x, 240, 400);
    } else if (strcmp(which, "fixed") != 0) {
        figures("steady", &s, &x, 0, s.duration_s);
    }
    free(x.x);
    return 0;
}
