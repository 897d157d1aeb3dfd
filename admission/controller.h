/* The admission controller's core: how many visitors a room lets in now, and why. Pure C, no I/O, no
 * clock of its own (the caller passes now_ms), so it is tested with a simulated clock and origin.
 *
 * Fixed mode: rate_per_minute through a token bucket (burst: `burst` visitors, default one second's
 * worth, at least 1), and an optional max_active cap on visitors in the system (admitted and not yet
 * claimed, plus active sessions). No-shows and ended sessions leave the system at once, so their room
 * is used again at the next tick.
 *
 * Adaptive mode bounds the origin's concurrency, not just the rate. The admitted visitors in the
 * system are the origin's load (each active session sends requests for its whole length), so a rate
 * alone reacts a whole session too late and oscillates (DESIGN.md: ±40-80 % in simulation). The
 * controller keeps a limit L on visitors in the system and admits into the free room L - in_system,
 * paced by a token bucket whose rate follows Little's law (L over the measured time in the system, with
 * 25 % headroom so the limit, not the pacing, is what binds), clamped to [min_rate, max_rate]. The
 * signals of the last WR_CTL_HISTORY intervals are merged, so one noisy second does not move L. L moves
 * like Netflix's gradient concurrency limit:
 *   - errors (5xx, timeouts) above max_error_rate, or p99 above 4 x target_p99_ms in every one of the
 *     merged intervals (one or two slow seconds near capacity are noise, left to the gradient): a fast
 *     multiplicative cut, L = f x min(L, in_system) (f = 0.9 x the success rate, at most 0.8; 0.92 for
 *     latency), and no second cut until the first has taken effect (the visitors in the system are down
 *     to L, as sessions end) and a reaction window has passed, so a lagging signal is not punished twice;
 *   - otherwise a gradient: ln L moves by GAIN x e a tick, e = 1 - p99/target (negative above the
 *     target), plus FAR_GAIN while p99 is under 40 % of the target. Near the target the gain is small on
 *     purpose: the latency curve is steep there and the signal lags 2-4 s, and a larger gain oscillates
 *     (tried: 2 % a tick swings the load ±40 %); far below it, where the lag cannot hurt, L grows fast.
 * Anti-windup: L grows only while it is what limits admission (in_system close to L) and someone is
 * waiting, and never past max_active. With no fresh signal from any gateway, L and the rate hold.
 * `paused` and `sold_out` admit nobody, whatever the mode. */
#ifndef WR_CONTROLLER_H
#define WR_CONTROLLER_H

#include "common/signals.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    WR_REASON_OK = 0,
    WR_REASON_LATENCY_HIGH,
    WR_REASON_ERRORS,
    WR_REASON_MAX_ACTIVE,
    WR_REASON_PAUSED,
    WR_REASON_SOLD_OUT,
    WR_REASON_NO_SIGNAL,
    WR_REASON_NO_DEMAND,
    WR_REASON_INVENTORY,
} wr_reason_t;

const char *wr_reason_name(wr_reason_t r);

typedef struct {
    bool adaptive;
    bool paused; /* paused, or scheduled and not open yet: admit nobody */
    bool sold_out;
    double rate_per_minute;    /* fixed mode */
    double burst;              /* token bucket depth in visitors; 0 = one second's worth (at least 1) */
    uint64_t max_active;       /* 0 = no cap */
    double min_rate, max_rate; /* adaptive: visitors per minute */
    double target_p99_ms;
    double max_error_rate;
    bool has_inventory;
    int64_t inventory_remaining;
} wr_ctl_cfg_t;

/* What the room looks like now: Redis counts, and the merged origin signals of the last interval. */
typedef struct {
    uint64_t waiting;            /* visitors queued beyond the boundary (upper bound is fine) */
    uint64_t admitted_unclaimed; /* admitted, not claimed yet */
    uint64_t active;             /* claimed sessions not ended */
    bool fresh;                  /* at least one gateway's signal is younger than 3 s */
    wr_sig_counts_t sig;         /* merged over the gateways, over the last signal interval ... */
    uint64_t sig_end_ms;         /* ... which ended then (the controller keeps the last few) */
} wr_ctl_input_t;

#define WR_CTL_HISTORY 3 /* signal intervals merged for a decision: a p99 from ~3 s, not one noisy second */

typedef struct {
    double tokens;
    double rate;      /* visitors per minute the bucket refills at (the rate shown to organisers) */
    double limit;     /* adaptive: visitors allowed in the system */
    double stay_s;    /* adaptive: measured time in the system (EWMA), for Little's law */
    uint64_t last_ms; /* previous decision */
    uint64_t last_cut_ms;
    uint64_t cut_effective_ms; /* when the visitors in the system came down to the cut limit */
    uint64_t prev_in_system;
    uint64_t prev_admitted; /* admitted by the previous decision */
    bool started;
    double p99_ms, error_rate;            /* last seen, for the record */
    wr_sig_counts_t hist[WR_CTL_HISTORY]; /* the last intervals' signals, newest first */
    uint64_t hist_end_ms[WR_CTL_HISTORY];
} wr_ctl_t;

typedef struct {
    uint64_t admit;
    double rate_per_minute;
    double limit; /* adaptive: the concurrency limit; fixed: max_active or 0 */
    wr_reason_t reason;
} wr_ctl_decision_t;

#define WR_CTL_REACTION_MS 4000 /* signals lag 1-2 s and are merged over 3 s: one cut per this window */

void wr_ctl_init(wr_ctl_t *c, const wr_ctl_cfg_t *cfg, uint64_t now_ms);
wr_ctl_decision_t wr_ctl_decide(wr_ctl_t *c, const wr_ctl_cfg_t *cfg, const wr_ctl_input_t *in,
                                uint64_t now_ms);

#endif
