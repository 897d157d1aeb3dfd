/* The rooms as one worker sees them: a Redis connection of its own (on its loop), and per room a
 * cached view (boundary, seq, leavers) refreshed every GW_ROOM_REFRESH_MS with one view.lua call, the
 * wait-estimate history, and the heartbeats of polling visitors, flushed in one BITFIELD per room
 * every GW_ROOM_HEARTBEAT_MS. Polls are answered from the view: no Redis round trip per poll.
 * When Redis is unreachable the view keeps its last contents and the room reports `trouble`; the
 * connection comes back on its own (common/redis.c). Not thread-safe: one gw_rooms_t per worker. */
#ifndef GW_QUEUE_ROOM_H
#define GW_QUEUE_ROOM_H

#include "common/keys.h"
#include "common/redis.h"
#include "config/config.h"
#include "gateway/queue/eta.h"
#include "gateway/queue/queue.h"
#include "gateway/queue/revoked.h"
#include "gateway/queue/room_view.h"
#include "common/signals.h"
#include "lua_scripts.h"

#include <stdbool.h>
#include <stdint.h>

#define GW_ROOM_REFRESH_MS 200
#define GW_ROOM_HEARTBEAT_MS 2000
#define GW_ROOM_VIEW_MAX_LEFT 100000
#define GW_ROOM_SCHEDULE_CHECK_MS 5000 /* a scheduled room checks its draw's seed is still in Redis */
#define GW_ROOM_STALE_MS 2000
#define GW_ROOM_DRAW_SLICE "2000" /* visitors drawn per open.lua call: a few ms of Redis each */
/* After a restore raised a room's boundary or seq, join.lua gives no new place for this long, so every
 * gateway's worker (each refreshes its view every GW_ROOM_REFRESH_MS) has put back the serials it gave
 * out; newcomers meanwhile get a provisional place. */
#define GW_ROOM_RESTORE_SETTLE_MS "1000"
#define GW_ROOM_RESTORE_ENDED_MAX 20000 /* ended sessions one restore puts back (the most a call carries) */
#define GW_ROOM_SIGNAL_MS                                                                                    \
    1000 /* origin signals published this often (wr-admission treats > 3 s as stale) */ /* a view older than \
                                                                                           this is not       \
                                                                                           trusted: the room \
                                                                                           is in trouble */

typedef struct gw_rooms gw_rooms_t;

typedef struct {
    gw_rooms_t *owner;
    const wr_room_cfg_t *cfg;
    wr_room_keys_t keys;   /* wr:{ROOM}:... (common/keys.h), as KEYS for the scripts */
    char log_maxlen[24];   /* the room's audit stream cap, as an argument for the scripts */
    char pass_life_ms[24]; /* wr_room_pass_life_ms: how long revocations are kept, as an argument */
    char prequeue_max[24]; /* the pre-queue's cap, as an argument */
    char rejoin_window_ms[24];
    /* a scheduled room's fair draw (schedule.lua, open.lua): the commitment is known once Redis has
     * the seed, the seed itself only after the opening */
    char commitment[65], seed[65];
    uint64_t schedule_checked_ms;
    int64_t scheduled_s; /* when the current seed was drawn: pre-queue tokens from before it are re-queued */
    bool scheduling, opening;
    bool opened; /* open_at has passed and the pre-queue was drawn: the room counts as open */
    gw_room_view_t view;
    gw_revoked_t revoked;   /* passes of sessions that ended (revoked.h), from wr:{R}:revoked */
    char revoked_after[48]; /* the last revocation stream id read ("0": none yet) */
    gw_eta_t eta;
    bool refreshing;
    bool restoring;
    uint64_t max_boundary;    /* highest boundary ever seen: put back if Redis loses the room */
    uint64_t max_serial;      /* highest serial ever seen (views, own joins): likewise; join.lua's floor */
    uint64_t *hb;             /* set of serials (+1) that showed a sign of life since the last flush */
    wr_sig_counts_t sig;      /* the origin's answers to this room's admitted visitors, this interval */
    int64_t inventory;        /* last Waitroom-Inventory the origin sent this worker, -1 = none */
    int64_t inventory_left;   /* tickets left as wr-admission last recorded it (the view), -1 = unknown */
    bool sold_out;            /* wr-admission saw the inventory reach zero: the room is sold out */
    int state_override;       /* the organiser's live state (wr:{ROOM}:cfg), -1 = as configured */
    int64_t open_at_override; /* the organiser's live open_at (unix s), 0 = as configured */
    int64_t session_ttl_override; /* the organiser's live session_ttl_s, 0 = as configured */
    uint64_t inventory_ms;
    size_t nhb, hbcap;
} gw_room_t;

struct gw_rooms {
    uv_loop_t *loop;
    int worker;
    char gateway_id[80]; /* host:pid:worker, this worker's field in each room's signal hash */
    uint64_t last_signal_ms;
    wr_redis_t redis;
    wr_redis_script_t scripts[WR_LUA_COUNT];
    gw_room_t *rooms;
    size_t n;
    uv_timer_t timer;
    uint64_t last_heartbeat_ms;
    uint64_t refreshes;          /* successful view refreshes, all rooms */
    gw_queue_metrics_t *metrics; /* the worker's: redis_connected, room_refreshes, rooms */
    bool closing;
};

int gw_rooms_init(gw_rooms_t *rs, uv_loop_t *loop, const wr_config_t *cfg, gw_queue_metrics_t *metrics,
                  int worker);
/* The worker drains: the timer and the Redis connection close (pending calls answer now, with no
 * reply); the rooms and their views stay, answering as in a Redis outage, until gw_rooms_free. */
void gw_rooms_close(gw_rooms_t *rs);
/* The loop has ended: closes if still open, then frees the rooms. */
void gw_rooms_free(gw_rooms_t *rs);

gw_room_t *gw_rooms_find(gw_rooms_t *rs, const wr_room_cfg_t *cfg);
/* True while the view is fresh (Redis reachable and refreshed lately). */
bool gw_room_fresh(const gw_room_t *r, uint64_t now_ms);
/* The room's metrics in its worker's gw_queue_metrics_t (NULL past the first GW_METRICS_ROOMS rooms). */
static inline gw_room_metrics_t *gw_room_metrics(gw_room_t *r) {
    size_t i = (size_t)(r - r->owner->rooms);
    return i < GW_METRICS_ROOMS && r->owner->metrics ? &r->owner->metrics->rooms[i] : NULL;
}
#define GW_ROOM_INC(r, f)                                                                                    \
    do {                                                                                                     \
        gw_room_metrics_t *m_ = gw_room_metrics(r);                                                          \
        if (m_)                                                                                              \
            atomic_fetch_add_explicit(&m_->f, 1, memory_order_relaxed);                                      \
    } while (0)

/* The opening time and session length in force: the organiser's live setting, else the file's. */
static inline int64_t gw_room_open_at(const gw_room_t *r) {
    return r->open_at_override > 0 ? r->open_at_override : r->cfg->open_at;
}
static inline int64_t gw_room_session_ttl(const gw_room_t *r) {
    return r->session_ttl_override > 0 ? r->session_ttl_override : r->cfg->session_ttl_s;
}

/* The room's state now: a scheduled room is open once its pre-queue has been drawn. */
wr_room_state_t gw_room_state(const gw_room_t *r);
/* Counts an origin answer (or failure: status >= 500, timeout) to an admitted visitor's request, for
 * the room's signals; published every GW_ROOM_SIGNAL_MS to wr:{ROOM}:sig for wr-admission. */
void gw_room_signal(gw_room_t *r, int status, uint64_t latency_us, bool timeout);
/* The origin said how many tickets are left (Waitroom-Inventory: N). */
void gw_room_inventory(gw_room_t *r, int64_t left, uint64_t now_ms);
/* Remembers that the visitor holding `serial` is still there (flushed in batches). */
void gw_room_heartbeat(gw_room_t *r, uint64_t serial);

#endif
