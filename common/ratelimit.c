/* Limits (ratelimit.h). A key's slot is found by linear probing over a short neighbourhood; the hash
 * is 64 bits of FNV-1a over the key text (client addresses), so two keys sharing a slot by accident is
 * not a practical concern. */
#include "common/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#define PROBES 8

static uint64_t hash_of(const char *key, size_t len) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)key[i]) * 1099511628211ull;
    return h ? h : 1;
}

static int init(wr_limit_t *l, size_t nslots) {
    memset(l, 0, sizeof *l);
    size_t n = 1;
    while (n < nslots)
        n <<= 1;
    if (!(l->slots = calloc(n, sizeof *l->slots)))
        return -1;
    l->nslots = n;
    if (uv_mutex_init(&l->lock) != 0) {
        free(l->slots);
        l->slots = NULL;
        return -1;
    }
    return 0;
}

int wr_rate_init(wr_limit_t *l, uint64_t per_minute, size_t nslots) {
    if (per_minute == 0 || init(l, nslots) < 0)
        return -1;
    l->interval_us = 60000000ull / per_minute;
    if (l->interval_us == 0)
        l->interval_us = 1;
    l->tolerance_us = 60000000ull - l->interval_us;
    return 0;
}

int wr_count_init(wr_limit_t *l, uint64_t max, size_t nslots) {
    if (max == 0 || init(l, nslots) < 0)
        return -1;
    l->max = max;
    return 0;
}

void wr_limit_free(wr_limit_t *l) {
    if (!l->slots)
        return;
    uv_mutex_destroy(&l->lock);
    free(l->slots);
    l->slots = NULL;
}

/* The key's slot, or a free or replaceable one in its neighbourhood (stale(slot) says which may go);
 * NULL if every slot nearby is held. */
static wr_limit_slot_t *find(wr_limit_t *l, uint64_t h, bool (*stale)(const wr_limit_slot_t *, void *),
                             void *arg, bool *found) {
    size_t mask = l->nslots - 1, i = (size_t)h & mask;
    wr_limit_slot_t *spare = NULL;
    *found = false;
    for (int p = 0; p < PROBES; p++, i = (i + 1) & mask) {
        wr_limit_slot_t *s = &l->slots[i];
        if (s->hash == h) {
            *found = true;
            return s;
        }
        if (!spare && (s->hash == 0 || stale(s, arg)))
            spare = s;
    }
    return spare;
}

static bool rate_stale(const wr_limit_slot_t *s, void *arg) {
    return s->value <= *(const uint64_t *)arg; /* no debt left: forgetting it changes nothing */
}

uint64_t wr_rate_take(wr_limit_t *l, const char *key, size_t key_len, uint64_t now_us) {
    uint64_t h = hash_of(key, key_len), wait = 0;
    bool found;
    uv_mutex_lock(&l->lock);
    wr_limit_slot_t *s = find(l, h, rate_stale, &now_us, &found);
    if (!s) { /* a crowded neighbourhood: the entry nearest to free gives way */
        size_t mask = l->nslots - 1, i = (size_t)h & mask;
        s = &l->slots[i];
        for (int p = 1; p < PROBES; p++)
            if (l->slots[(i + p) & mask].value < s->value)
                s = &l->slots[(i + p) & mask];
    }
    uint64_t tat = found && s->value > now_us ? s->value : now_us;
    if (tat - now_us > l->tolerance_us) {
        wait = tat - now_us - l->tolerance_us;
    } else {
        s->hash = h;
        s->value = tat + l->interval_us;
    }
    uv_mutex_unlock(&l->lock);
    return wait;
}

static bool count_stale(const wr_limit_slot_t *s, void *arg) {
    (void)arg;
    return s->value == 0;
}

bool wr_count_acquire(wr_limit_t *l, const char *key, size_t key_len) {
    uint64_t h = hash_of(key, key_len);
    bool found, ok = false;
    uv_mutex_lock(&l->lock);
    wr_limit_slot_t *s = find(l, h, count_stale, NULL, &found);
    if (s && (!found || s->value < l->max)) {
        if (!found)
            s->value = 0;
        s->hash = h;
        s->value++;
        ok = true;
    }
    uv_mutex_unlock(&l->lock);
    return ok;
}

void wr_count_release(wr_limit_t *l, const char *key, size_t key_len) {
    uint64_t h = hash_of(key, key_len);
    bool found;
    uv_mutex_lock(&l->lock);
    wr_limit_slot_t *s = find(l, h, count_stale, NULL, &found);
    if (found && s->value > 0 && --s->value == 0)
        s->hash = 0; /* free for any key again */
    uv_mutex_unlock(&l->lock);
}
