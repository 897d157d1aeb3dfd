/* The admission controller's core. See controller.h for the rule and why it is this one. */
#include "admission/controller.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define GAIN 0.004       /* change of ln L a tick per unit of relative latency error */
#define GAIN_DOWN 0.004  /* above the target, back down faster than up (the cost of too much is higher) */
#define FAR_GAIN 0.03    /* more growth while p99 is under 40 % of the target */
#define FAR_BELOW 0.6    /* (that is, while the relative error e is above this) */
#define MIN_GROWTH 0.1   /* visitors a tick at full headroom, so a small L still grows */
#define OVERLOAD_AT 4.0  /* p99 this many times the target: a fast cut, as for errors */
#define STAY_INIT_S 10.0 /* time in the system assumed until one is measured */

static const char *const reason_names[] = {
    [WR_REASON_OK] = "ok",
    [WR_REASON_LATENCY_HIGH] = "latency_high",
    [WR_REASON_ERRORS] = "errors",
    [WR_REASON_MAX_ACTIVE] = "max_active",
    [WR_REASON_PAUSED] = "paused",
    [WR_REASON_SOLD_OUT] = "sold_out",
    [WR_REASON_NO_SIGNAL] = "no_signal",
    [WR_REASON_NO_DEMAND] = "no_demand",
    [WR_REASON_INVENTORY] = "inventory",
};

const char *wr_reason_name(wr_reason_t r) {
    return (size_t)r < sizeof reason_names / sizeof reason_names[0] ? reason_names[r] : "unknown";
}

static double clamp(double v, double lo, double hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

void wr_ctl_init(wr_ctl_t *c, const wr_ctl_cfg_t *cfg, uint64_t now_ms) {
    *c = (wr_ctl_t){0};
    c->last_ms = now_ms;
    c->stay_s = STAY_INIT_S;
    if (cfg->adaptive) {
        c->rate = cfg->min_rate;
        c->limit = fmax(2.0, cfg->min_rate / 60.0 * STAY_INIT_S);
        if (cfg->max_active && c->limit > (double)cfg->max_active)
            c->limit = (double)cfg->max_active;
    } else {
        c->rate = cfg->rate_per_minute;
    }
}

/* Time in the system, from departures: visitors who were in it, plus those admitted since, minus
 * those still there, left during dt (Little's law: stay = in_system / departure rate). */
static void measure_stay(wr_ctl_t *c, uint64_t in_system, double dt_s) {
    if (!c->started || dt_s <= 0)
        return;
    double gone = (double)c->prev_in_system + (double)c->prev_admitted - (double)in_system;
    if (gone <= 0 || in_system == 0)
        return;
    double stay = (double)in_system / (gone / dt_s);
    double w = fmin(1.0, dt_s / 10.0); /* about ten seconds of memory */
    c->stay_s = clamp(c->stay_s + w * (stay - c->stay_s), 1.0, 3600.0);
}

/* Keeps the newest intervals' signals; returns them merged. */
static wr_sig_counts_t remember(wr_ctl_t *c, const wr_ctl_input_t *in) {
    if (in->sig_end_ms != c->hist_end_ms[0]) {
        memmove(c->hist + 1, c->hist, (WR_CTL_HISTORY - 1) * sizeof c->hist[0]);
        memmove(c->hist_end_ms + 1, c->hist_end_ms, (WR_CTL_HISTORY - 1) * sizeof c->hist_end_ms[0]);
        c->hist[0] = in->sig;
        c->hist_end_ms[0] = in->sig_end_ms;
    }
    wr_sig_counts_t m = c->hist[0];
    for (int i = 1; i < WR_CTL_HISTORY; i++)
        if (c->hist_end_ms[i] && c->hist_end_ms[i] + WR_CTL_HISTORY * 1500 >= c->hist_end_ms[0])
            wr_sig_merge(&m, &c->hist[i]);
    return m;
}

/* Moves the concurrency limit from the signals; returns the pressure reason, or OK. */
static wr_reason_t adapt(wr_ctl_t *c, const wr_ctl_cfg_t *cfg, const wr_ctl_input_t *in, uint64_t in_system,
                         uint64_t now_ms) {
    wr_sig_counts_t sig = remember(c, in);
    if (c->last_cut_ms && !c->cut_effective_ms && (double)in_system <= c->limit)
        c->cut_effective_ms = now_ms;
    double p99 = wr_sig_quantile_ms(&sig, 0.99), err = wr_sig_error_rate(&sig);
    c->p99_ms = p99;
    c->error_rate = err;
    double cap = cfg->max_active ? (double)cfg->max_active : INFINITY;
    bool errors = sig.requests > 0 && err > cfg->max_error_rate;
    /* far above the target in at least two of the merged intervals: one bad second is not an overload */
    int over = 0;
    for (int i = 0; i < WR_CTL_HISTORY; i++)
        if (c->hist_end_ms[i] && wr_sig_quantile_ms(&c->hist[i], 0.99) > cfg->target_p99_ms * OVERLOAD_AT)
            over++;
    bool overload = sig.requests > 0 && over >= WR_CTL_HISTORY;
    if (errors || overload) {
        /* A fast cut; the next one only once this one has taken effect (the visitors in the system are
         * down to the limit: sessions take a while to end) and a reaction window has passed since, so
         * a signal that lags the load is not punished twice. */
        if (c->last_cut_ms == 0 ||
            (c->cut_effective_ms && now_ms >= c->cut_effective_ms + WR_CTL_REACTION_MS)) {
            double base = fmin(c->limit, (double)in_system);
            /* sized by the newest interval's errors: the merged ones still hold the healthy past */
            double e_now = fmax(err, wr_sig_error_rate(&in->sig));
            double f = errors ? fmin(0.8, (1.0 - e_now) * 0.9) : 0.92;
            c->limit = fmax(1.0, base * f);
            c->last_cut_ms = now_ms;
            c->cut_effective_ms = 0;
        }
        return errors ? WR_REASON_ERRORS : WR_REASON_LATENCY_HIGH;
    }
    if (sig.requests == 0 && in_system > 0)
        return WR_REASON_OK; /* visitors in, no requests seen yet: nothing to steer by, hold */
    /* the gradient: e > 0 below the target, < 0 above it. The latency curve is steep near capacity
     * and the signal lags by 2-4 s, so the gain near the target is small (about 4 % a second at most);
     * far below it, where the lag cannot hurt, L grows faster. */
    double e = sig.requests ? 1.0 - p99 / cfg->target_p99_ms : 1.0;
    if (e < -1.0)
        e = -1.0;
    double g = (e < 0 ? GAIN_DOWN : GAIN) * e + (e > FAR_BELOW ? FAR_GAIN * (e - FAR_BELOW) : 0.0);
    if (g > 0) {
        /* anti-windup: grow only while the limit is what holds admission back, and someone waits */
        bool binding = (double)in_system + 1.0 >= c->limit * 0.9;
        if (!binding || in->waiting == 0 || c->limit >= cap)
            return WR_REASON_OK;
    }
    c->limit = clamp(c->limit * exp(g) + (g > 0 ? MIN_GROWTH * g / (GAIN + FAR_GAIN * (1 - FAR_BELOW)) : 0.0),
                     1.0, cap);
    return e < 0 ? WR_REASON_LATENCY_HIGH : WR_REASON_OK;
}

wr_ctl_decision_t wr_ctl_decide(wr_ctl_t *c, const wr_ctl_cfg_t *cfg, const wr_ctl_input_t *in,
                                uint64_t now_ms) {
    wr_ctl_decision_t d = {0};
    double dt_s = now_ms > c->last_ms ? (double)(now_ms - c->last_ms) / 1000.0 : 0.0;
    if (dt_s > 5.0)
        dt_s = 5.0; /* after a stall (a paused process, a lost lease), no pile of tokens */
    c->last_ms = now_ms;
    uint64_t in_system = in->admitted_unclaimed + in->active;
    measure_stay(c, in_system, dt_s);
    c->started = true;
    c->prev_in_system = in_system;
    c->prev_admitted = 0;
    wr_reason_t reason = WR_REASON_OK;
    double cap = cfg->max_active ? (double)cfg->max_active : INFINITY;
    double limit = cap;
    if (cfg->adaptive) {
        if (!in->fresh) {
            reason = WR_REASON_NO_SIGNAL; /* hold L and the rate: never increase blind */
        } else {
            reason = adapt(c, cfg, in, in_system, now_ms);
            c->rate = clamp(c->limit / c->stay_s * 60.0 * 1.1, cfg->min_rate, cfg->max_rate);
        }
        limit = fmin(c->limit, cap);
        d.limit = c->limit;
    } else {
        c->rate = cfg->rate_per_minute;
        d.limit = cfg->max_active ? (double)cfg->max_active : 0;
    }
    d.rate_per_minute = c->rate;
    double burst = cfg->burst > 0 ? cfg->burst : fmax(1.0, c->rate / 60.0);
    if (cfg->paused || cfg->sold_out || (cfg->has_inventory && cfg->inventory_remaining <= 0)) {
        c->tokens = 0; /* no burst saved up for the moment it reopens */
        d.reason = cfg->paused ? WR_REASON_PAUSED
                   : cfg->has_inventory && cfg->inventory_remaining <= 0 && !cfg->sold_out
                       ? WR_REASON_INVENTORY
                       : WR_REASON_SOLD_OUT;
        return d;
    }
    c->tokens = fmin(burst, c->tokens + c->rate / 60.0 * dt_s);
    if (in->waiting == 0) {
        d.reason = reason == WR_REASON_OK ? WR_REASON_NO_DEMAND : reason;
        return d;
    }
    double room = limit - (double)in_system;
    double n = floor(c->tokens);
    if (room < n) {
        n = room > 0 ? floor(room) : 0;
        if (reason == WR_REASON_OK && (!cfg->adaptive || c->limit >= cap))
            reason = WR_REASON_MAX_ACTIVE;
    }
    if (n > (double)in->waiting)
        n = (double)in->waiting;
    if (cfg->has_inventory && n > (double)cfg->inventory_remaining)
        n = (double)cfg->inventory_remaining;
    c->tokens -= n;
    c->prev_admitted = (uint64_t)n;
    d.admit = (uint64_t)n;
    d.reason = reason;
    return d;
}
