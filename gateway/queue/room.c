/* Room caches: one timer per worker drives both the view refresh and the heartbeat flush. A refresh
 * is skipped for a room whose previous one has not answered yet, so a slow Redis never piles up
 * requests. */
#include "gateway/queue/room.h"

#include "common/clock.h"
#include "common/log.h"
#include "lua_scripts.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_restored(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_room_t *r = arg;
    r->restoring = false;
    if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1)
        WR_WARN("room data lost in Redis: restored what this gateway knew", "room=%s boundary=%llu seq=%llu",
                r->cfg->name, (unsigned long long)r->max_boundary, (unsigned long long)r->max_serial);
}

/* Redis answered with a boundary or seq below one we saw: its data was lost (restart without
 * persistence, FLUSHALL, failover to a stale replica). Put back what this worker knows before trusting
 * the view again: the boundary, the highest serial (join.lua gives no new place until then), and the
 * sessions it knows ended (the revocations it keeps), so none of them is let in again. */
static void restore(gw_room_t *r) {
    if (r->restoring)
        return;
    size_t npairs = 0;
    for (size_t i = 0; i < r->revoked.cap && npairs < GW_ROOM_RESTORE_ENDED_MAX; i++)
        npairs += r->revoked.slots[i].serial != 0;
    size_t argc = 12 + 2 * npairs;
    const char **argv = malloc(argc * sizeof *argv);
    char(*nums)[24] = malloc((4 + 2 * npairs) * sizeof *nums);
    if (!argv || !nums) {
        free(argv);
        free(nums);
        return; /* the next refresh tries again */
    }
    snprintf(nums[0], sizeof nums[0], "%llu", (unsigned long long)r->max_boundary);
    snprintf(nums[1], sizeof nums[1], "%llu", (unsigned long long)r->max_serial);
    snprintf(nums[2], sizeof nums[2], "%lld", (long long)wr_wall_ms());
    size_t k = 0;
    argv[k++] = r->keys.k[WR_KEY_BOUNDARY];
    argv[k++] = r->keys.k[WR_KEY_SEQ];
    argv[k++] = r->keys.k[WR_KEY_LOG];
    argv[k++] = r->keys.k[WR_KEY_TICK];
    argv[k++] = r->keys.k[WR_KEY_ENDED];
    argv[k++] = r->keys.k[WR_KEY_REVOKED];
    argv[k++] = nums[0];
    argv[k++] = r->owner->gateway_id;
    argv[k++] = r->log_maxlen;
    argv[k++] = nums[1];
    argv[k++] = nums[2];
    argv[k++] = r->pass_life_ms;
    size_t n = 3;
    for (size_t i = 0; i < r->revoked.cap && k + 1 < argc; i++) {
        const gw_revoked_entry_t *e = &r->revoked.slots[i];
        if (!e->serial)
            continue;
        snprintf(nums[n], sizeof nums[n], "%llu", (unsigned long long)(e->serial - 1));
        snprintf(nums[n + 1], sizeof nums[n + 1], "%llu", (unsigned long long)e->at_ms);
        argv[k++] = nums[n];
        argv[k++] = nums[n + 1];
        n += 2;
    }
    r->restoring = true;
    /* the revocation stream was lost too: read the new one from its start (restore.lua refills it) */
    strcpy(r->revoked_after, "0");
    wr_redis_eval(&r->owner->redis, WR_LUA_RESTORE, on_restored, r, 6, (int)k, argv, NULL);
    free(argv);
    free(nums);
}

/* view.lua's answer: 10 figures, the last revocation id, n, n (serial, ms) pairs, then the left serials */
enum { GW_VIEW_FIXED = 10, GW_VIEW_REVOKED_MAX = 5000 };

/* Takes the new revocations in; returns the index of the first left serial, or 0 if malformed. */
static size_t take_revocations(gw_room_t *r, const redisReply *rep) {
    if (rep->elements < GW_VIEW_FIXED + 2 || rep->element[GW_VIEW_FIXED]->type != REDIS_REPLY_STRING ||
        rep->element[GW_VIEW_FIXED]->len >= sizeof r->revoked_after ||
        rep->element[GW_VIEW_FIXED + 1]->type != REDIS_REPLY_INTEGER)
        return 0;
    long long n = rep->element[GW_VIEW_FIXED + 1]->integer;
    size_t first = GW_VIEW_FIXED + 2;
    if (n < 0 || n > GW_VIEW_REVOKED_MAX || rep->elements < first + 2 * (size_t)n)
        return 0;
    uint64_t now = (uint64_t)wr_wall_ms();
    for (size_t i = 0; i < (size_t)n; i++) {
        const redisReply *s = rep->element[first + 2 * i], *ms = rep->element[first + 2 * i + 1];
        if (s->type != REDIS_REPLY_INTEGER || ms->type != REDIS_REPLY_INTEGER || s->integer <= 0 ||
            ms->integer < 0)
            continue;
        if (gw_revoked_add(&r->revoked, (uint64_t)s->integer, (uint64_t)ms->integer, now) < 0)
            WR_WARN("revoked passes table full: a revoked pass may be let through until it expires",
                    "room=%s serial=%lld", r->cfg->name, s->integer);
    }
    memcpy(r->revoked_after, rep->element[GW_VIEW_FIXED]->str, rep->element[GW_VIEW_FIXED]->len);
    r->revoked_after[rep->element[GW_VIEW_FIXED]->len] = '\0';
    return first + 2 * (size_t)n;
}

static void on_view(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_room_t *r = arg;
    r->refreshing = false;
    if (r->owner->closing || !rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < GW_VIEW_FIXED + 2)
        return; /* Redis in trouble: the view ages, and gw_room_fresh says so */
    for (size_t i = 0; i < GW_VIEW_FIXED; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER || rep->element[i]->integer < 0)
            return;
    size_t first_left = take_revocations(r, rep);
    if (!first_left)
        return;
    size_t nleft = rep->elements - first_left;
    uint64_t stack[256], *left = nleft <= 256 ? stack : malloc(nleft * sizeof *left);
    if (!left)
        return;
    for (size_t i = 0; i < nleft; i++) {
        if (rep->element[first_left + i]->type != REDIS_REPLY_INTEGER ||
            rep->element[first_left + i]->integer < 0)
            goto out;
        left[i] = (uint64_t)rep->element[first_left + i]->integer;
    }
    r->inventory_left = rep->element[2]->integer - 1;
    r->sold_out = rep->element[3]->integer == 1;
    long long st = rep->element[4]->integer;
    r->state_override = st >= 1 && st <= 5 ? (int)(st - 1) : -1;
    r->open_at_override = rep->element[8]->integer;
    r->session_ttl_override = rep->element[9]->integer;
    uint64_t now = uv_now(r->owner->loop);
    uint64_t boundary = (uint64_t)rep->element[0]->integer, seq = (uint64_t)rep->element[1]->integer;
    if (boundary < r->max_boundary || seq < r->max_serial) {
        restore(r);
        goto out; /* keep the old view until Redis has its boundary and serials back */
    }
    r->max_boundary = boundary;
    r->max_serial = seq;
    if (gw_room_view_set(&r->view, boundary, (uint64_t)rep->element[1]->integer, left, nleft, now) == 0) {
        gw_eta_sample(&r->eta, now, boundary);
        r->owner->refreshes++;
        gw_room_metrics_t *m = gw_room_metrics(r);
        if (m) {
            uint64_t seq = r->view.seq, b = r->view.boundary;
            atomic_store_explicit(&m->boundary, b, memory_order_relaxed);
            atomic_store_explicit(&m->last_serial, seq, memory_order_relaxed);
            atomic_store_explicit(&m->waiting, seq > b + r->view.nleft ? seq - b - r->view.nleft : 0,
                                  memory_order_relaxed);
            atomic_store_explicit(&m->admitted_not_claimed, (uint64_t)rep->element[5]->integer,
                                  memory_order_relaxed);
            atomic_store_explicit(&m->active, (uint64_t)rep->element[6]->integer, memory_order_relaxed);
            atomic_store_explicit(&m->rate_milli, (uint64_t)rep->element[7]->integer, memory_order_relaxed);
        }
    }
out:
    if (left != stack)
        free(left);
}

static void refresh(gw_room_t *r) {
    if (r->refreshing || !r->owner->redis.connected)
        return;
    char max_revoked[16];
    snprintf(max_revoked, sizeof max_revoked, "%d", GW_VIEW_REVOKED_MAX);
    const char *argv[] = {r->keys.k[WR_KEY_BOUNDARY],
                          r->keys.k[WR_KEY_SEQ],
                          r->keys.k[WR_KEY_LEFT],
                          r->keys.k[WR_KEY_CTL],
                          r->keys.k[WR_KEY_CFG],
                          r->keys.k[WR_KEY_ADMITTED],
                          r->keys.k[WR_KEY_ACTIVE],
                          r->keys.k[WR_KEY_REVOKED],
                          "100000",
                          r->revoked_after,
                          max_revoked};
    r->refreshing = true;
    wr_redis_eval(&r->owner->redis, WR_LUA_VIEW, on_view, r, 8, 11, argv, NULL);
}

/* ---- the fair draw of a scheduled room ---------------------------------------------------------- */

static bool hex64(const redisReply *e) {
    if (!e || e->type != REDIS_REPLY_STRING || e->len != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((e->str[i] >= '0' && e->str[i] <= '9') || (e->str[i] >= 'a' && e->str[i] <= 'f')))
            return false;
    return true;
}

static void on_scheduled(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_room_t *r = arg;
    r->scheduling = false;
    if (r->owner->closing || !rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 4 ||
        !hex64(rep->element[0]) || rep->element[3]->type != REDIS_REPLY_INTEGER) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            WR_WARN("schedule refused", "room=%s error=\"%.200s\"", r->cfg->name, rep->str);
        return;
    }
    if (r->commitment[0] && memcmp(r->commitment, rep->element[0]->str, 64) != 0)
        WR_WARN("draw seed lost in Redis: a new one was drawn and its commitment published; visitors "
                "pre-queued before are put in again as they come back",
                "room=%s commitment=%.64s", r->cfg->name, rep->element[0]->str);
    memcpy(r->commitment, rep->element[0]->str, 64);
    r->commitment[64] = '\0';
    r->scheduled_s = rep->element[3]->integer / 1000;
    if (hex64(rep->element[2])) {
        memcpy(r->seed, rep->element[2]->str, 64);
        r->seed[64] = '\0';
    }
}

/* A scheduled room needs its seed in Redis before anyone is pre-queued: this gateway proposes one it
 * drew; the first proposal wins and everyone learns the commitment. */
static void schedule(gw_room_t *r, uint64_t wall_ms) {
    uint8_t seed[32], digest[crypto_hash_sha256_BYTES];
    char seed_hex[65], commit_hex[65], now[24];
    randombytes_buf(seed, sizeof seed);
    crypto_hash_sha256(digest, seed, sizeof seed);
    sodium_bin2hex(seed_hex, sizeof seed_hex, seed, sizeof seed);
    sodium_bin2hex(commit_hex, sizeof commit_hex, digest, sizeof digest);
    sodium_memzero(seed, sizeof seed);
    snprintf(now, sizeof now, "%llu", (unsigned long long)wall_ms);
    const char *argv[] = {
        r->keys.k[WR_KEY_SHUFFLE], r->keys.k[WR_KEY_LOG], seed_hex, commit_hex, now, "gw", r->log_maxlen};
    r->scheduling = true;
    wr_redis_eval(&r->owner->redis, WR_LUA_SCHEDULE, on_scheduled, r, 2, 7, argv, NULL);
    sodium_memzero(seed_hex, sizeof seed_hex);
}

static void open_room(gw_room_t *r, uint64_t wall_ms);

static void on_opened(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    gw_room_t *r = arg;
    r->opening = false;
    if (r->owner->closing || !rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER || rep->element[1]->type != REDIS_REPLY_INTEGER) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            WR_WARN("opening refused", "room=%s error=\"%.200s\"", r->cfg->name, rep->str);
        return;
    }
    if (rep->element[0]->integer == -2) {
        /* the draw goes on: one worker of each gateway asks for the next slice at once; the others at
         * their next tick, so a draw never fills Redis's queue ahead of joins and view refreshes */
        if (r->owner->worker == 0)
            open_room(r, (uint64_t)wr_wall_ms());
        return;
    }
    if (rep->element[0]->integer < 0)
        return; /* the organiser moved open_at later: this view had not seen it yet */
    if (hex64(rep->element[2])) {
        memcpy(r->seed, rep->element[2]->str, 64);
        r->seed[64] = '\0';
    }
    r->opened = true;
    WR_INFO("room opened", "room=%s prequeued=%lld first_serial=%lld", r->cfg->name,
            (long long)rep->element[1]->integer, (long long)rep->element[0]->integer + 1);
}

static void open_room(gw_room_t *r, uint64_t wall_ms) {
    char now[24];
    snprintf(now, sizeof now, "%llu", (unsigned long long)wall_ms);
    char at[24];
    snprintf(at, sizeof at, "%lld", (long long)r->cfg->open_at);
    const char *argv[] = {r->keys.k[WR_KEY_PRE],
                          r->keys.k[WR_KEY_SHUFFLE],
                          r->keys.k[WR_KEY_LOG],
                          r->keys.k[WR_KEY_SEQ],
                          r->keys.k[WR_KEY_SEEN],
                          r->keys.k[WR_KEY_PRESORTED],
                          r->keys.k[WR_KEY_CFG],
                          r->keys.k[WR_KEY_LEFT],
                          now,
                          "gw",
                          r->log_maxlen,
                          at,
                          GW_ROOM_DRAW_SLICE};
    r->opening = true;
    wr_redis_eval(&r->owner->redis, WR_LUA_OPEN, on_opened, r, 8, 13, argv, NULL);
}

static void draw(gw_room_t *r, uint64_t wall_ms) {
    if (r->cfg->state != WR_ROOM_SCHEDULED || r->opened || r->scheduling || r->opening ||
        !r->owner->redis.connected)
        return;
    if (!r->commitment[0] || wall_ms >= r->schedule_checked_ms + GW_ROOM_SCHEDULE_CHECK_MS) {
        r->schedule_checked_ms = wall_ms; /* also notices a Redis that lost the seed */
        schedule(r, wall_ms);
    } else if ((int64_t)(wall_ms / 1000) >= gw_room_open_at(r))
        open_room(r, wall_ms);
}

wr_room_state_t gw_room_state(const gw_room_t *r) {
    wr_room_state_t st = r->state_override >= 0 ? (wr_room_state_t)r->state_override : r->cfg->state;
    if (st == WR_ROOM_SCHEDULED && r->opened)
        st = WR_ROOM_OPEN;
    if (st == WR_ROOM_OPEN && r->sold_out)
        st = WR_ROOM_SOLD_OUT; /* the origin said no tickets are left */
    return st;
}

static void on_heartbeat_done(wr_redis_t *redis, const redisReply *rep, void *arg) {
    (void)redis;
    (void)arg;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        WR_WARN("heartbeat flush refused", "error=\"%.200s\"", rep->str);
}

/* One BITFIELD per room: "SET u16 #serial value" for every visitor seen since the last flush. */
static void flush_heartbeats(gw_room_t *r, uint64_t now_wall_ms) {
    if (!r->nhb || !r->owner->redis.connected)
        return;
    size_t n = r->nhb, argc = 2 + 4 * n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char *text = malloc(n * 48);
    if (!argv || !lens || !text)
        goto out;
    char value[16];
    int vl = snprintf(value, sizeof value, "%llu", (unsigned long long)((now_wall_ms / 4000) % 65535 + 1));
    argv[0] = "BITFIELD";
    argv[1] = r->keys.k[WR_KEY_SEEN];
    size_t k = 2;
    char *t = text;
    for (size_t i = 0; i < r->hbcap; i++) {
        if (!r->hb[i])
            continue;
        int l = snprintf(t, 48, "#%llu", (unsigned long long)(r->hb[i] - 1));
        argv[k] = "SET";
        argv[k + 1] = "u16";
        argv[k + 2] = t;
        argv[k + 3] = value;
        lens[k] = 3;
        lens[k + 1] = 3;
        lens[k + 2] = (size_t)l;
        lens[k + 3] = (size_t)vl;
        k += 4;
        t += l + 1;
    }
    lens[0] = 8;
    lens[1] = strlen(r->keys.k[WR_KEY_SEEN]);
    wr_redis_argv(&r->owner->redis, on_heartbeat_done, NULL, (int)argc, argv, lens);
    memset(r->hb, 0, r->hbcap * sizeof *r->hb);
    r->nhb = 0;
out:
    free(argv);
    free(lens);
    free(text);
}

/* ---- origin signals ------------------------------------------------------------------------------ */

void gw_room_signal(gw_room_t *r, int status, uint64_t latency_us, bool timeout) {
    r->sig.requests++;
    GW_ROOM_INC(r, origin_requests);
    if (status >= 500 || timeout) {
        GW_ROOM_INC(r, origin_errors);
        r->sig.server_5xx++;
        if (timeout)
            r->sig.timeouts++;
    } else if (status >= 400) {
        r->sig.client_4xx++;
    } else {
        r->sig.ok++;
    }
    if (latency_us) {
        wr_sig_add_latency(&r->sig, latency_us);
        gw_room_metrics_t *m = gw_room_metrics(r);
        if (m)
            wr_histo_observe(&m->origin_latency, latency_us);
    }
}

void gw_room_inventory(gw_room_t *r, int64_t left, uint64_t now_ms) {
    r->inventory = left;
    r->inventory_ms = now_ms;
}

/* HSET wr:{ROOM}:sig <gateway> "end_ms requests ok 4xx 5xx timeouts inventory l0 .. l53": one field per
 * gateway worker, overwritten every interval; wr-admission merges the fresh ones. */
static void publish_signals(gw_room_t *r, uint64_t wall_ms) {
    if (!r->owner->redis.connected)
        return;
    char text[WR_SIG_TEXT_MAX];
    bool inv = r->inventory_ms && uv_now(r->owner->loop) < r->inventory_ms + 60000;
    int n = wr_sig_format(&r->sig, wall_ms, inv ? r->inventory : -1, text, sizeof text);
    if (n < 0)
        return;
    const char *argv[] = {"HSET", r->keys.k[WR_KEY_SIG], r->owner->gateway_id, text};
    size_t lens[] = {4, strlen(r->keys.k[WR_KEY_SIG]), strlen(r->owner->gateway_id), (size_t)n};
    wr_redis_argv(&r->owner->redis, on_heartbeat_done, NULL, 4, argv, lens);
    memset(&r->sig, 0, sizeof r->sig);
}

static void on_tick(uv_timer_t *t) {
    gw_rooms_t *rs = t->data;
    uint64_t now = uv_now(rs->loop);
    bool beat = now >= rs->last_heartbeat_ms + GW_ROOM_HEARTBEAT_MS;
    uint64_t wall_ms = (uint64_t)wr_wall_ms();
    bool publish = now >= rs->last_signal_ms + GW_ROOM_SIGNAL_MS;
    for (size_t i = 0; i < rs->n; i++) {
        draw(&rs->rooms[i], wall_ms);
        refresh(&rs->rooms[i]);
        if (beat)
            flush_heartbeats(&rs->rooms[i], wall_ms);
        if (publish)
            publish_signals(&rs->rooms[i], wall_ms);
    }
    if (publish)
        rs->last_signal_ms = now;
    if (beat)
        rs->last_heartbeat_ms = now;
    GW_SET(rs->metrics, redis_connected, rs->redis.connected ? 1 : 0);
    GW_SET(rs->metrics, room_refreshes, rs->refreshes);
}

static void on_redis_state(wr_redis_t *redis, bool up, void *arg) {
    (void)redis;
    gw_rooms_t *rs = arg;
    if (up)
        on_tick(&rs->timer); /* a fresh view at once */
}

int gw_rooms_init(gw_rooms_t *rs, uv_loop_t *loop, const wr_config_t *cfg, gw_queue_metrics_t *metrics,
                  int worker) {
    memset(rs, 0, sizeof *rs);
    rs->loop = loop;
    rs->worker = worker;
    char host[40] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(rs->gateway_id, sizeof rs->gateway_id, "%s:%d:w%d", host, (int)getpid(), worker);
    rs->metrics = metrics;
    rs->n = cfg->nrooms;
    rs->rooms = calloc(cfg->nrooms ? cfg->nrooms : 1, sizeof *rs->rooms);
    if (!rs->rooms)
        return UV_ENOMEM;
    for (size_t i = 0; i < rs->n; i++) {
        gw_room_t *r = &rs->rooms[i];
        r->owner = rs;
        r->cfg = &cfg->rooms[i];
        if (wr_room_keys_init(&r->keys, r->cfg->name) < 0) {
            free(rs->rooms);
            rs->rooms = NULL;
            return UV_EINVAL;
        }
        r->state_override = -1;
        r->open_at_override = 0;
        r->session_ttl_override = 0;
        r->inventory_left = -1;
        r->inventory = -1;
        gw_revoked_init(&r->revoked, (uint64_t)wr_room_pass_life_ms(r->cfg));
        strcpy(r->revoked_after, "0");
        snprintf(r->log_maxlen, sizeof r->log_maxlen, "%lld", (long long)r->cfg->log_max_entries);
        snprintf(r->prequeue_max, sizeof r->prequeue_max, "%lld", (long long)r->cfg->prequeue_max);
        snprintf(r->rejoin_window_ms, sizeof r->rejoin_window_ms, "%lld",
                 (long long)r->cfg->rejoin_window_s * 1000);
        snprintf(r->pass_life_ms, sizeof r->pass_life_ms, "%lld", (long long)wr_room_pass_life_ms(r->cfg));
    }
    for (int i = 0; i < WR_LUA_COUNT; i++) {
        rs->scripts[i].name = wr_lua_names[i];
        rs->scripts[i].source = wr_lua_sources[i];
    }
    uv_timer_init(loop, &rs->timer);
    rs->timer.data = rs;
    int rc = wr_redis_init(&rs->redis, loop, cfg->redis.host, cfg->redis.port, cfg->redis_timeout_ms,
                           rs->scripts, WR_LUA_COUNT, on_redis_state, rs);
    if (metrics)
        rs->redis.stats = &metrics->redis;
    if (rc < 0) {
        uv_close((uv_handle_t *)&rs->timer, NULL);
        free(rs->rooms);
        rs->rooms = NULL;
        return rc;
    }
    uv_timer_start(&rs->timer, on_tick, GW_ROOM_REFRESH_MS, GW_ROOM_REFRESH_MS);
    return 0;
}

void gw_rooms_close(gw_rooms_t *rs) {
    if (rs->closing || !rs->rooms)
        return;
    rs->closing = true;
    uv_timer_stop(&rs->timer);
    uv_close((uv_handle_t *)&rs->timer, NULL);
    wr_redis_close(&rs->redis); /* pending callbacks run now, with NULL */
}

void gw_rooms_free(gw_rooms_t *rs) {
    gw_rooms_close(rs);
    if (!rs->rooms)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        gw_room_view_free(&rs->rooms[i].view);
        gw_revoked_free(&rs->rooms[i].revoked);
        free(rs->rooms[i].hb);
    }
    free(rs->rooms);
    rs->rooms = NULL;
    rs->n = 0;
}

gw_room_t *gw_rooms_find(gw_rooms_t *rs, const wr_room_cfg_t *cfg) {
    for (size_t i = 0; i < rs->n; i++)
        if (rs->rooms[i].cfg == cfg)
            return &rs->rooms[i];
    return NULL;
}

bool gw_room_fresh(const gw_room_t *r, uint64_t now_ms) {
    return r->owner->redis.connected && r->view.refreshed_ms &&
           now_ms <= r->view.refreshed_ms + GW_ROOM_STALE_MS;
}

/* Heartbeats are kept in an open-addressing set (serial + 1 as key, 0 = empty), so a visitor polling
 * many times between two flushes costs one slot and one BITFIELD operation, not one per poll. */
void gw_room_heartbeat(gw_room_t *r, uint64_t serial) {
    uint64_t key = serial + 1;
    if ((r->nhb + 1) * 2 > r->hbcap) {
        size_t cap = r->hbcap ? r->hbcap * 2 : 1024;
        if (cap > (size_t)1 << 24)
            return; /* a flood between two flushes: later ones wait for the next interval */
        uint64_t *t = calloc(cap, sizeof *t);
        if (!t)
            return;
        for (size_t i = 0; i < r->hbcap; i++) {
            if (!r->hb[i])
                continue;
            size_t j = (size_t)(r->hb[i] * 0x9e3779b97f4a7c15ull) & (cap - 1);
            while (t[j])
                j = (j + 1) & (cap - 1);
            t[j] = r->hb[i];
        }
        free(r->hb);
        r->hb = t;
        r->hbcap = cap;
    }
    size_t j = (size_t)(key * 0x9e3779b97f4a7c15ull) & (r->hbcap - 1);
    while (r->hb[j]) {
        if (r->hb[j] == key)
            return;
        j = (j + 1) & (r->hbcap - 1);
    }
    r->hb[j] = key;
    r->nhb++;
}
