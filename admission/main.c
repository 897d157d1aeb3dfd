/* wr-admission: meters each room's visitors into the origin. One process per deployment is active: the
 * holder of the leader lease (lease.lua, renewed every tick, a fencing epoch incremented on every
 * takeover); the others stand by and take over within one lease time. Each tick (tick_ms, 250) the leader
 * reads every room's counts (counts.lua), asks the controller core how many to let in, and admits them
 * with one fenced, idempotent admit.lua call (tick id = epoch << 32 | tick number, so a new leader's
 * ticks are always newer). Decisions go to wr:{ROOM}:ctl (the live rate, reason, leader, epoch and tick
 * time, for the admin API) and, when the rate or the reason changes, to the room's audit stream.
 *
 *   wr-admission -c FILE [--check] [--id NAME]
 *
 * The gateways publish their origin signals for each room every second (wr:{ROOM}:sig, one field per
 * gateway worker); the fresh ones are merged for the adaptive mode, and the newest Waitroom-Inventory
 * the origin sent stops admission at zero (reason `inventory`).
 * At zero the room's ctl gets sold_out = 1, which the gateways read with their view: the room shows
 * sold_out until the organiser reopens it. Not yet: live settings from the admin API. */
#include "admission/controller.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/history.h"
#include "common/httpd.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/redis.h"
#include "config/config.h"
#include "lua_scripts.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct admission admission_t;

typedef struct {
    uint64_t ms, n;
} tick_rec_t;

typedef struct {
    admission_t *a;
    const wr_room_cfg_t *cfg;
    wr_room_keys_t keys;    /* wr:{ROOM}:... (common/keys.h) */
    int64_t inventory;      /* tickets left as the origin last said, -1 = never said */
    bool sold_out_set;      /* wr-admission marked the room sold out (once, when the inventory reached 0) */
    char cfg_inventory[24]; /* the organiser's last inventory_remaining, to apply each change once */
    bool resumed;           /* the last leader's inventory record was read (once, at the first count) */
    wr_ctl_t ctl;
    bool busy; /* a counts/admit call in flight: a slow Redis never piles up ticks */
    double last_rate;
    wr_reason_t last_reason;
    bool logged;
    uint64_t admitted_total, no_shows_total, abandoned_total, expired_total; /* from admit.lua's answers */
    wr_ctl_decision_t last; /* the last tick's decision and what it saw, for /metrics */
    wr_ctl_input_t last_in;
    bool decided;
    tick_rec_t
        recent[1200]; /* the last minute's ticks (at the shortest tick_ms, 50), for admitted_last_minute */
    size_t recent_head;
    uint64_t hist_ms; /* when the last history sample was written */
} room_t;

struct admission {
    uv_loop_t *loop;
    const wr_config_t *cfg;
    wr_redis_t redis;
    wr_redis_script_t scripts[WR_LUA_COUNT];
    uv_timer_t timer;
    uv_signal_t sigterm, sigint;
    room_t *rooms;
    size_t nrooms;
    char id[64];
    bool leader, leasing, stopping;
    int64_t epoch;
    uint64_t ticks;
    uint64_t last_tick_ms;
    wr_httpd_t metrics; /* GET /metrics */
    bool metrics_on;
};

static void eval(admission_t *a, int script, wr_redis_reply_cb cb, void *arg, int nkeys, int argc,
                 const char **argv) {
    wr_redis_eval(&a->redis, (size_t)script, cb, arg, nkeys, argc, argv, NULL);
}

static wr_ctl_cfg_t ctl_cfg(const wr_room_cfg_t *r, uint64_t now_ms) {
    wr_ctl_cfg_t c = {
        .adaptive = r->mode == WR_MODE_ADAPTIVE,
        .paused = r->state == WR_ROOM_PAUSED ||
                  (r->state == WR_ROOM_SCHEDULED && (int64_t)(now_ms / 1000) < r->open_at),
        .sold_out = r->state == WR_ROOM_SOLD_OUT,
        .rate_per_minute = (double)r->rate_per_minute,
        .max_active = (uint64_t)r->max_active,
        .burst = (double)r->burst,
        .min_rate = (double)r->min_rate,
        .max_rate = (double)r->max_rate,
        .target_p99_ms = (double)r->target_p99_ms,
        .max_error_rate = r->max_error_rate,
    };
    return c;
}

/* The organiser's live settings (wr:{ROOM}:cfg, written by PATCH /v1/rooms/NAME) over the file's. */
static void apply_overrides(room_t *r, const redisReply *h, wr_ctl_cfg_t *c, uint64_t now_ms) {
    int64_t open_at = r->cfg->open_at; /* the opening time in force: a live one first */
    bool scheduled = r->cfg->state == WR_ROOM_SCHEDULED;
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && h->element[i + 1]->type == REDIS_REPLY_STRING &&
            !strcmp(h->element[i]->str, "open_at"))
            open_at = strtoll(h->element[i + 1]->str, NULL, 10);
    if (scheduled)
        c->paused = (int64_t)(now_ms / 1000) < open_at;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *k = h->element[i], *v = h->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        double d = strtod(v->str, NULL);
        if (!strcmp(k->str, "state")) {
            c->paused = !strcmp(v->str, "paused") ||
                        (!strcmp(v->str, "scheduled") && (int64_t)(now_ms / 1000) < open_at);
            c->sold_out = !strcmp(v->str, "sold_out");
            if (!strcmp(v->str, "open"))
                r->sold_out_set = false; /* reopened: a later zero counts again */
        } else if (!strcmp(k->str, "mode")) {
            c->adaptive = !strcmp(v->str, "adaptive");
        } else if (!strcmp(k->str, "rate_per_minute")) {
            c->rate_per_minute = d;
        } else if (!strcmp(k->str, "max_active")) {
            c->max_active = (uint64_t)d;
        } else if (!strcmp(k->str, "min_rate")) {
            c->min_rate = d;
        } else if (!strcmp(k->str, "max_rate")) {
            c->max_rate = d;
        } else if (!strcmp(k->str, "inventory_remaining") && strcmp(v->str, r->cfg_inventory) != 0) {
            snprintf(r->cfg_inventory, sizeof r->cfg_inventory, "%s", v->str);
            r->inventory = (int64_t)d; /* the organiser's word, until the origin's next header */
        }
    }
}

/* ---- a room's tick: counts, decision, admit ------------------------------------------------------ */

static void on_noop(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        WR_WARN("controller record refused", "room=%s error=\"%.200s\"", ((room_t *)arg)->cfg->name,
                rep->str);
}

/* One dashboard history sample (common/history.h) every WR_HIST_INTERVAL_MS, the list trimmed to the
 * last 15 minutes. Not fenced: a deposed leader's last sample is as true as anyone's. */
static void sample_history(room_t *r, const wr_ctl_decision_t *d, uint64_t now_ms, uint64_t minute) {
    wr_hist_sample_t s = {.ms = now_ms,
                          .waiting = r->last_in.waiting,
                          .unclaimed = r->last_in.admitted_unclaimed,
                          .active = r->last_in.active,
                          .admitted_last_minute = minute,
                          .rate_per_minute = d->rate_per_minute,
                          .limit = d->limit,
                          .p99_ms = r->last_in.fresh ? r->ctl.p99_ms : -1,
                          .error_rate = r->last_in.fresh ? r->ctl.error_rate : -1};
    snprintf(s.reason, sizeof s.reason, "%s", wr_reason_name(d->reason));
    char text[WR_HIST_TEXT_MAX], keep[16];
    if (wr_hist_format(&s, text, sizeof text) < 0)
        return;
    r->hist_ms = now_ms;
    snprintf(keep, sizeof keep, "%d", WR_HIST_SAMPLES - 1);
    const char *push[] = {"LPUSH", r->keys.k[WR_KEY_HIST], text};
    const char *trim[] = {"LTRIM", r->keys.k[WR_KEY_HIST], "0", keep};
    wr_redis_argv(&r->a->redis, on_noop, r, 3, push, NULL);
    wr_redis_argv(&r->a->redis, on_noop, r, 4, trim, NULL);
}

static void record(room_t *r, const wr_ctl_decision_t *d, uint64_t now_ms) {
    admission_t *a = r->a;
    char rate[32], limit[32], epoch[24], now[24], admitted[24];
    snprintf(rate, sizeof rate, "%.1f", d->rate_per_minute);
    snprintf(limit, sizeof limit, "%.1f", d->limit);
    snprintf(epoch, sizeof epoch, "%lld", (long long)a->epoch);
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms);
    snprintf(admitted, sizeof admitted, "%llu", (unsigned long long)d->admit);
    const char *reason = wr_reason_name(d->reason);
    char inventory[24], last_minute[24];
    snprintf(inventory, sizeof inventory, "%lld", (long long)r->inventory);
    size_t cap = sizeof r->recent / sizeof r->recent[0];
    r->recent[r->recent_head] = (tick_rec_t){now_ms, d->admit};
    r->recent_head = (r->recent_head + 1) % cap;
    uint64_t minute = 0;
    for (size_t i = 0; i < cap; i++)
        if (r->recent[i].ms + 60000 > now_ms)
            minute += r->recent[i].n;
    snprintf(last_minute, sizeof last_minute, "%llu", (unsigned long long)minute);
    const char *hs[] = {"HSET",
                        r->keys.k[WR_KEY_CTL],
                        "rate_per_minute",
                        rate,
                        "reason",
                        reason,
                        "limit",
                        limit,
                        "leader",
                        a->id,
                        "epoch",
                        epoch,
                        "tick_ms",
                        now,
                        "admitted",
                        admitted,
                        "admitted_last_minute",
                        last_minute,
                        "inventory",
                        inventory,
                        "cfg_inventory",
                        r->cfg_inventory,
                        "sold_out",
                        "1"};
    /* at zero the room is sold out for the gateways too, once: the organiser reopens it (state = open) */
    bool mark = r->inventory == 0 && !r->sold_out_set;
    if (mark)
        r->sold_out_set = true;
    int hn = mark ? 24 : 22;
    wr_redis_argv(&a->redis, on_noop, r, hn, hs, NULL);
    if (now_ms >= r->hist_ms + WR_HIST_INTERVAL_MS)
        sample_history(r, d, now_ms, minute);
    if (r->logged && d->reason == r->last_reason && (d->rate_per_minute == r->last_rate))
        return;
    /* why the rate moved, for the organiser: only on a change */
    char maxlen[24];
    snprintf(maxlen, sizeof maxlen, "%lld", (long long)r->cfg->log_max_entries);
    const char *xs[] = {"XADD",
                        r->keys.k[WR_KEY_LOG],
                        "MAXLEN",
                        "~",
                        maxlen,
                        "*",
                        "ev",
                        "rate",
                        "serial",
                        "0",
                        "rate_per_minute",
                        rate,
                        "reason",
                        reason,
                        "limit",
                        limit,
                        "gw",
                        a->id,
                        "ms",
                        now};
    wr_redis_argv(&a->redis, on_noop, r, 20, xs, NULL);
    r->logged = true;
    r->last_reason = d->reason;
    r->last_rate = d->rate_per_minute;
}

static void on_admitted(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    room_t *r = arg;
    r->busy = false;
    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        if (!strncmp(rep->str, "FENCED", 6)) {
            WR_WARN("admission refused: a newer controller leads", "room=%s epoch=%lld error=\"%.100s\"",
                    r->cfg->name, (long long)r->a->epoch, rep->str);
            r->a->leader = false;
        } else {
            WR_WARN("admit refused", "room=%s error=\"%.200s\"", r->cfg->name, rep->str);
        }
        return;
    }
    /* {admitted, boundary, no_shows, abandoned, skipped_left, expired} */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 6)
        return;
    for (size_t i = 0; i < 6; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER || rep->element[i]->integer < 0)
            return;
    r->admitted_total += (uint64_t)rep->element[0]->integer;
    r->no_shows_total += (uint64_t)rep->element[2]->integer;
    r->abandoned_total += (uint64_t)rep->element[3]->integer;
    r->expired_total += (uint64_t)rep->element[5]->integer;
}

/* Merges the gateways' fresh signals (younger than 3 s) into in; forgets gateways silent for a minute. */
static void merge_signals(room_t *r, const redisReply *h, uint64_t now, wr_ctl_input_t *in) {
    int64_t inventory = -1;
    uint64_t inventory_at = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *k = h->element[i], *v = h->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        uint64_t end_ms;
        int64_t inv;
        wr_sig_counts_t c = {0};
        if (wr_sig_parse(v->str, v->len, &end_ms, &inv, &c) < 0)
            continue;
        if (end_ms + 60000 < now) {
            const char *argv[] = {"HDEL", r->keys.k[WR_KEY_SIG], k->str};
            size_t lens[] = {4, strlen(r->keys.k[WR_KEY_SIG]), k->len};
            wr_redis_argv(&r->a->redis, on_noop, r, 3, argv, lens);
            continue;
        }
        if (end_ms + 3000 < now)
            continue; /* stale: as if missing */
        in->fresh = true;
        wr_sig_merge(&in->sig, &c);
        if (end_ms > in->sig_end_ms)
            in->sig_end_ms = end_ms;
        if (inv >= 0 && end_ms >= inventory_at) {
            inventory = inv;
            inventory_at = end_ms;
        }
    }
    if (inventory >= 0)
        r->inventory = inventory;
}

/* A controller that starts (or takes over) knows what the last leader knew of the inventory: the tickets
 * left (a sold-out room stays stopped; the origin's next header still wins) and which organiser value
 * was applied already (so an old inventory_remaining is not applied again over a newer header). */
static void resume(room_t *r, const redisReply *rec) {
    r->resumed = true;
    const redisReply *inv = rec->element[0], *applied = rec->element[1];
    if (inv->type == REDIS_REPLY_STRING) {
        char *end;
        long long v = strtoll(inv->str, &end, 10);
        if (end != inv->str && *end == '\0' && v >= 0) {
            r->inventory = v;
            WR_INFO("inventory as the last leader recorded it", "room=%s inventory=%lld", r->cfg->name, v);
        }
    }
    if (applied->type == REDIS_REPLY_STRING)
        snprintf(r->cfg_inventory, sizeof r->cfg_inventory, "%s", applied->str);
}

static void on_counts(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    room_t *r = arg;
    admission_t *a = r->a;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 8 ||
        rep->element[5]->type != REDIS_REPLY_ARRAY || rep->element[6]->type != REDIS_REPLY_ARRAY ||
        rep->element[7]->type != REDIS_REPLY_ARRAY || rep->element[7]->elements != 2 || !a->leader ||
        a->stopping) {
        r->busy = false;
        return;
    }
    for (size_t i = 0; i < 5; i++) {
        if (rep->element[i]->type != REDIS_REPLY_INTEGER || rep->element[i]->integer < 0) {
            r->busy = false;
            return;
        }
    }
    uint64_t now = (uint64_t)wr_wall_ms();
    wr_ctl_cfg_t cc = ctl_cfg(r->cfg, now);
    wr_ctl_input_t in = {
        .waiting = (uint64_t)rep->element[2]->integer,
        .admitted_unclaimed = (uint64_t)rep->element[3]->integer,
        .active = (uint64_t)rep->element[4]->integer,
    };
    if (!r->resumed)
        resume(r, rep->element[7]);
    merge_signals(r, rep->element[5], now, &in);
    apply_overrides(r, rep->element[6], &cc, now);
    if (r->inventory >= 0) {
        cc.has_inventory = true;
        cc.inventory_remaining = r->inventory;
    }
    wr_ctl_decision_t d = wr_ctl_decide(&r->ctl, &cc, &in, now);
    r->last = d;
    r->last_in = in; /* before record(): its history sample shows this tick's counts */
    record(r, &d, now);
    r->decided = true;
    a->last_tick_ms = now;
    /* admit.lua runs every tick, even for 0: it also sweeps no-shows and ended sessions */
    char n[24], now_s[24], abandon[24], claim[24], tick[32], epoch[24], who[80], maxlen[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)d.admit);
    snprintf(now_s, sizeof now_s, "%llu", (unsigned long long)now);
    snprintf(abandon, sizeof abandon, "%lld", (long long)r->cfg->abandon_after_s * 1000);
    snprintf(claim, sizeof claim, "%lld", (long long)r->cfg->claim_window_s * 1000);
    snprintf(tick, sizeof tick, "%llu", ((unsigned long long)a->epoch << 32) | (a->ticks & 0xffffffffu));
    snprintf(epoch, sizeof epoch, "%lld", (long long)a->epoch);
    snprintf(who, sizeof who, "ctl:%s", a->id);
    snprintf(maxlen, sizeof maxlen, "%lld", (long long)r->cfg->log_max_entries);
    char keep[24], rejoin[24];
    snprintf(keep, sizeof keep, "%lld", (long long)wr_room_pass_life_ms(r->cfg));
    snprintf(rejoin, sizeof rejoin, "%lld", (long long)r->cfg->rejoin_window_s * 1000);
    const char *argv[] = {r->keys.k[WR_KEY_SEQ],
                          r->keys.k[WR_KEY_BOUNDARY],
                          r->keys.k[WR_KEY_SEEN],
                          r->keys.k[WR_KEY_LEFT],
                          r->keys.k[WR_KEY_ADMITTED],
                          r->keys.k[WR_KEY_REJOIN],
                          r->keys.k[WR_KEY_LOG],
                          r->keys.k[WR_KEY_TICK],
                          r->keys.k[WR_KEY_EPOCH],
                          r->keys.k[WR_KEY_ACTIVE],
                          r->keys.k[WR_KEY_ENDED],
                          r->keys.k[WR_KEY_OWED],
                          r->keys.k[WR_KEY_REVOKED],
                          r->keys.k[WR_KEY_SKIPPED],
                          n,
                          now_s,
                          abandon,
                          claim,
                          tick,
                          epoch,
                          who,
                          maxlen,
                          "10000",
                          keep,
                          rejoin};
    eval(a, WR_LUA_ADMIT, on_admitted, r, 14, 25, argv);
}

static void room_tick(room_t *r) {
    if (r->busy)
        return; /* a closed room still ticks: the organiser may open it live */
    r->busy = true;
    const char *argv[] = {r->keys.k[WR_KEY_SEQ],      r->keys.k[WR_KEY_BOUNDARY], r->keys.k[WR_KEY_LEFT],
                          r->keys.k[WR_KEY_ADMITTED], r->keys.k[WR_KEY_ACTIVE],   r->keys.k[WR_KEY_REJOIN],
                          r->keys.k[WR_KEY_SIG],      r->keys.k[WR_KEY_CFG],      r->keys.k[WR_KEY_CTL]};
    eval(r->a, WR_LUA_COUNTS, on_counts, r, 9, 9, argv);
}

/* ---- the lease ---------------------------------------------------------------------------------- */

static void on_lease(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    admission_t *a = arg;
    a->leasing = false;
    if (a->stopping)
        return;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER || rep->element[1]->type != REDIS_REPLY_INTEGER) {
        if (a->leader)
            WR_WARN("lease not renewed: Redis in trouble; standing by", "id=%s", a->id);
        a->leader = false; /* without a renewed lease, never admit */
        return;
    }
    long long state = rep->element[0]->integer, epoch = rep->element[1]->integer;
    if (state == 0) {
        if (a->leader)
            WR_WARN("lost the lease: another controller leads", "id=%s epoch=%lld", a->id, epoch);
        a->leader = false;
        return;
    }
    if (state == 2 || !a->leader) {
        WR_INFO("leading", "id=%s epoch=%lld", a->id, epoch);
        for (size_t i = 0; i < a->nrooms; i++) { /* what the last leader recorded is newer than ours */
            a->rooms[i].resumed = false;
            a->rooms[i].inventory = -1;
        }
    }
    a->leader = true;
    a->epoch = epoch;
    a->ticks++;
    for (size_t i = 0; i < a->nrooms; i++)
        room_tick(&a->rooms[i]);
}

static void on_tick(uv_timer_t *t) {
    admission_t *a = t->data;
    if (a->leasing || !a->redis.connected) {
        if (!a->redis.connected)
            a->leader = false;
        return;
    }
    char ttl[24], now[24];
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)a->cfg->admission_lease_ms);
    snprintf(now, sizeof now, "%llu", (unsigned long long)(uint64_t)wr_wall_ms());
    const char *argv[] = {WR_KEY_LEADER, WR_KEY_LEADER_EPOCH, a->id, ttl, now};
    a->leasing = true;
    eval(a, WR_LUA_LEASE, on_lease, a, 2, 5, argv);
}

/* ---- /metrics ------------------------------------------------------------------------------------ */

static void gauge(wr_buf_t *w, const char *name, const char *help, const char *room, double v) {
    char line[512];
    if (help) {
        size_t nl = strlen(name);
        bool counter = nl > 6 && !strcmp(name + nl - 6, "_total");
        snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                 counter ? "counter" : "gauge");
        wr_buf_puts(w, line);
    }
    if (room)
        snprintf(line, sizeof line, "%s{room=\"%s\"} %.15g\n", name, room, v);
    else
        snprintf(line, sizeof line, "%s %.15g\n", name, v);
    wr_buf_puts(w, line);
}

static long render_metrics(admission_t *a, char *buf, size_t cap) {
    wr_buf_t w = wr_buf_init(buf, cap);
    gauge(&w, "waitroom_admission_leader", "1 if this controller holds the lease and admits.", NULL,
          a->leader);
    gauge(&w, "waitroom_admission_epoch", "The fencing epoch this controller last saw.", NULL,
          (double)a->epoch);
    gauge(&w, "waitroom_admission_last_tick_timestamp_seconds",
          "When this controller last decided (unix time).", NULL, (double)a->last_tick_ms / 1000.0);
    gauge(&w, "waitroom_admission_ticks_total", "Ticks run as the leader.", NULL, (double)a->ticks);
    const wr_redis_stats_t *rs = a->redis.stats;
    wr_redis_stats_render(&w, "waitroom_admission", "Redis command sent to reply received.", &rs, 1);
    static const struct {
        const char *name, *help;
        int what;
    } per_room[] = {
        {"waitroom_admission_rate_per_minute", "The admission rate (visitors per minute), as decided.", 0},
        {"waitroom_admission_limit",
         "Adaptive: visitors allowed in the system; fixed: max_active (0 = none).", 1},
        {"waitroom_admission_admitted_total", "Visitors admitted by this controller.", 2},
        {"waitroom_admission_last_admitted", "Visitors admitted at the last tick.", 3},
        {"waitroom_admission_waiting", "Visitors waiting, as counted at the last tick.", 4},
        {"waitroom_admission_in_system", "Admitted not yet claimed, plus active sessions.", 5},
        {"waitroom_admission_signal_fresh", "1 if some gateway's origin signals were fresh (< 3 s).", 6},
        {"waitroom_admission_origin_p99_seconds", "The origin's p99 latency the controller steers by.", 7},
        {"waitroom_admission_origin_error_ratio", "The origin's 5xx and timeouts over its requests.", 8},
        {"waitroom_admission_no_shows_total", "Admitted visitors who did not show up in the claim window.",
         9},
        {"waitroom_admission_abandoned_total", "Waiting visitors skipped for not polling (abandon_after_s).",
         10},
        {"waitroom_admission_sessions_ended_total", "Sessions ended by expiry or let in again (owed).", 11},
    };
    for (size_t k = 0; k < sizeof per_room / sizeof per_room[0]; k++) {
        for (size_t i = 0; i < a->nrooms; i++) {
            room_t *r = &a->rooms[i];
            double v = 0;
            switch (per_room[k].what) {
            case 0:
                v = r->last.rate_per_minute;
                break;
            case 1:
                v = r->last.limit;
                break;
            case 2:
                v = (double)r->admitted_total;
                break;
            case 3:
                v = (double)r->last.admit;
                break;
            case 4:
                v = (double)r->last_in.waiting;
                break;
            case 5:
                v = (double)(r->last_in.admitted_unclaimed + r->last_in.active);
                break;
            case 6:
                v = r->last_in.fresh;
                break;
            case 7:
                v = r->ctl.p99_ms / 1000.0;
                break;
            case 9:
                v = (double)r->no_shows_total;
                break;
            case 10:
                v = (double)r->abandoned_total;
                break;
            case 11:
                v = (double)r->expired_total;
                break;
            default:
                v = r->ctl.error_rate;
                break;
            }
            gauge(&w, per_room[k].name, i == 0 ? per_room[k].help : NULL, r->cfg->name, v);
        }
    }
    wr_buf_puts(&w,
                "# HELP waitroom_admission_reason Why the rate is what it is (1 for the current reason).\n"
                "# TYPE waitroom_admission_reason gauge\n");
    for (size_t i = 0; i < a->nrooms; i++) {
        room_t *r = &a->rooms[i];
        char line[256];
        snprintf(line, sizeof line, "waitroom_admission_reason{room=\"%s\",reason=\"%s\"} 1\n", r->cfg->name,
                 r->decided ? wr_reason_name(r->last.reason) : "none");
        wr_buf_puts(&w, line);
    }
    return wr_buf_result(&w);
}

/* GET /metrics (HEAD too); anything else is 404. One short answer per connection (common/httpd). */
static void on_metrics_request(wr_httpd_req_t *req) {
    admission_t *a = req->srv->arg;
    bool path = req->url_len >= 8 && memcmp(req->url, "/metrics", 8) == 0 &&
                (req->url_len == 8 || req->url[8] == '?');
    if ((req->method != HTTP_GET && !req->head) || !path) {
        static const char nf[] = "not found: GET /metrics\n";
        wr_httpd_respond(req, 404, "Not Found", "text/plain", nf, sizeof nf - 1);
        return;
    }
    enum { BODY_MAX = 256 * 1024 };
    char *body = malloc(BODY_MAX);
    long len = body ? render_metrics(a, body, BODY_MAX) : -1;
    if (len < 0) {
        static const char oops[] = "metrics unavailable\n";
        wr_httpd_respond(req, 500, "Internal Server Error", "text/plain", oops, sizeof oops - 1);
    } else {
        wr_httpd_respond(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, (size_t)len);
    }
    free(body);
}

static void on_signal(uv_signal_t *s, int signum) {
    admission_t *a = s->data;
    WR_INFO("stopping", "signal=%d id=%s", signum, a->id);
    a->stopping = true;
    uv_timer_stop(&a->timer);
    uv_close((uv_handle_t *)&a->timer, NULL);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    if (a->metrics_on)
        wr_httpd_close(&a->metrics);
    wr_redis_close(&a->redis);
}

static const char usage[] =
    "usage: wr-admission -c FILE [--check] [--id NAME] [--metrics HOST:PORT]\n"
    "  -c FILE     the configuration (the same file as wr-gateway's)\n"
    "  --check     validate the configuration and exit (0 valid, 2 invalid)\n"
    "  --id NAME   this controller's name in the lease (default: host:pid)\n"
    "  --metrics HOST:PORT  serve GET /metrics there (overrides [admission] metrics_listen)\n";

int main(int argc, char **argv) {
    const char *path = NULL, *id = NULL, *metrics = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--check"))
            check = true;
        else if (!strcmp(argv[i], "--id") && i + 1 < argc)
            id = argv[++i];
        else if (!strcmp(argv[i], "--metrics") && i + 1 < argc)
            metrics = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "wr-admission: unknown argument '%s'\n\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "wr-admission: -c FILE is required\n\n%s", usage);
        return 2;
    }
    char err[1024];
    wr_config_t *cfg = wr_config_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (check) {
        printf("%s: configuration is valid (%zu room%s)\n", path, cfg->nrooms, cfg->nrooms == 1 ? "" : "s");
        wr_config_free(cfg);
        return 0;
    }
    wr_log_min_level = (wr_log_level_t)cfg->log_level;
    signal(SIGPIPE, SIG_IGN);
    static admission_t a;
    a.loop = uv_default_loop();
    a.cfg = cfg;
    if (id) {
        snprintf(a.id, sizeof a.id, "%s", id);
    } else {
        char host[40] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(a.id, sizeof a.id, "%s:%d", host, (int)getpid());
    }
    a.nrooms = cfg->nrooms;
    a.rooms = calloc(cfg->nrooms ? cfg->nrooms : 1, sizeof *a.rooms);
    if (!a.rooms) {
        wr_config_free(cfg);
        return 1;
    }
    uint64_t now = (uint64_t)wr_wall_ms();
    for (size_t i = 0; i < cfg->nrooms; i++) {
        room_t *r = &a.rooms[i];
        r->a = &a;
        r->cfg = &cfg->rooms[i];
        r->inventory = -1;
        if (wr_room_keys_init(&r->keys, r->cfg->name) < 0) {
            WR_ERROR("room name too long for its Redis keys", "room=%s", r->cfg->name);
            free(a.rooms);
            wr_config_free(cfg);
            return 1;
        }
        wr_ctl_cfg_t cc = ctl_cfg(r->cfg, now);
        wr_ctl_init(&r->ctl, &cc, now);
    }
    for (int i = 0; i < WR_LUA_COUNT; i++) {
        a.scripts[i].name = wr_lua_names[i];
        a.scripts[i].source = wr_lua_sources[i];
    }
    int rc = wr_redis_init(&a.redis, a.loop, cfg->redis.host, cfg->redis.port, cfg->redis_timeout_ms,
                           a.scripts, WR_LUA_COUNT, NULL, NULL);
    if (rc < 0) {
        WR_ERROR("cannot start the Redis connection", "error=\"%s\"", uv_strerror(rc));
        free(a.rooms);
        wr_config_free(cfg);
        return 1;
    }
    wr_hostport_t mhp = cfg->admission_metrics;
    if (metrics && wr_parse_hostport(metrics, &mhp) < 0) {
        fprintf(stderr, "wr-admission: --metrics '%s' is not HOST:PORT\n", metrics);
        wr_redis_close(&a.redis);
        uv_run(a.loop, UV_RUN_DEFAULT);
        free(a.rooms);
        wr_config_free(cfg);
        return 2;
    }
    if (mhp.port) {
        rc = wr_httpd_start(&a.metrics, a.loop, mhp.host, mhp.port, 16, 4096, 5000, on_metrics_request, &a);
        if (rc < 0) {
            WR_ERROR("cannot listen", "address=%s:%u what=metrics error=\"%s\"", mhp.host, mhp.port,
                     uv_strerror(rc));
            wr_redis_close(&a.redis);
            uv_run(a.loop, UV_RUN_DEFAULT);
            free(a.rooms);
            wr_config_free(cfg);
            return 1;
        }
        a.metrics_on = true;
    }
    uv_timer_init(a.loop, &a.timer);
    a.timer.data = &a;
    uv_timer_start(&a.timer, on_tick, cfg->admission_tick_ms, cfg->admission_tick_ms);
    uv_signal_init(a.loop, &a.sigterm);
    uv_signal_init(a.loop, &a.sigint);
    a.sigterm.data = a.sigint.data = &a;
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    WR_INFO("started", "id=%s rooms=%zu redis=%s:%u tick_ms=%llu lease_ms=%llu", a.id, cfg->nrooms,
            cfg->redis.host, cfg->redis.port, (unsigned long long)cfg->admission_tick_ms,
            (unsigned long long)cfg->admission_lease_ms);
    uv_run(a.loop, UV_RUN_DEFAULT);
    uv_loop_close(a.loop);
    free(a.rooms);
    wr_config_free(cfg);
    WR_INFO("stopped", "%s", "");
    return 0;
}
