/* The revoked-pass table (revoked.h): a hash of serials, grown by doubling, pruned of stale entries
 * before it grows, so its size follows the revocations of the last keep_ms. */
#include "gateway/queue/revoked.h"

#include <stdlib.h>
#include <string.h>

static size_t slot_of(uint64_t key, size_t cap) {
    return (size_t)(key * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

void gw_revoked_init(gw_revoked_t *t, uint64_t keep_ms) {
    memset(t, 0, sizeof *t);
    t->keep_ms = keep_ms;
}

void gw_revoked_free(gw_revoked_t *t) {
    free(t->slots);
    t->slots = NULL;
    t->cap = t->n = 0;
}

static void put(gw_revoked_entry_t *slots, size_t cap, uint64_t key, uint64_t at_ms, size_t *n) {
    size_t j = slot_of(key, cap);
    while (slots[j].serial && slots[j].serial != key)
        j = (j + 1) & (cap - 1);
    if (!slots[j].serial) {
        slots[j].serial = key;
        (*n)++;
    }
    if (at_ms > slots[j].at_ms)
        slots[j].at_ms = at_ms;
}

/* A new table of cap slots with the entries still fresh at now_ms. */
static int rebuild(gw_revoked_t *t, size_t cap, uint64_t now_ms) {
    gw_revoked_entry_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].serial && t->slots[i].at_ms + t->keep_ms >= now_ms)
            put(slots, cap, t->slots[i].serial, t->slots[i].at_ms, &n);
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->n = n;
    return 0;
}

int gw_revoked_add(gw_revoked_t *t, uint64_t serial, uint64_t at_ms, uint64_t now_ms) {
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        if (t->cap && rebuild(t, cap, now_ms) < 0) /* first drop what is stale */
            return -1;
        if ((t->n + 1) * 2 > cap) {
            if (cap * 2 > GW_REVOKED_MAX_ENTRIES * 2)
                return -1;
            cap *= 2;
        }
        if (cap != t->cap && rebuild(t, cap, now_ms) < 0)
            return -1;
    }
    put(t->slots, t->cap, serial + 1, at_ms, &t->n);
    return 0;
}

bool gw_revoked_refuses(const gw_revoked_t *t, uint64_t serial, int64_t issued_ms) {
    if (!t->n)
        return false;
    uint64_t key = serial + 1;
    for (size_t j = slot_of(key, t->cap); t->slots[j].serial; j = (j + 1) & (t->cap - 1))
        if (t->slots[j].serial == key)
            return issued_ms < 0 || (uint64_t)issued_ms <= t->slots[j].at_ms;
    return false;
}
