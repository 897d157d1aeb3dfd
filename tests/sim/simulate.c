/* Runs a simulated sale (tests/sim/sim.h) and prints one CSV row a second, then the scenario's figures
 * as "# key value" lines. scripts/simulate-admission charts them.
 *   simulate steady|drop|fixed */
#include "tests/sim/sim.h"

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

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "steady";
    sim_scenario_t s = !strcmp(which, "drop")    ? sim_adaptive_drop()
                       : !strcmp(which, "fixed") ? sim_fixed_600()
                                                 : sim_adaptive_steady();
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
