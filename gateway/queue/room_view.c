/* The left list is kept sorted so ahead() is a binary search: O(log L) per poll. */
#include "gateway/queue/room_view.h"

#include <stdlib.h>
#include <string.h>

void gw_room_view_free(gw_room_view_t *v) {
    free(v->left);
    memset(v, 0, sizeof *v);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int gw_room_view_set(gw_room_view_t *v, uint64_t boundary, uint64_t seq, const uint64_t *left, size_t nleft,
                     uint64_t now_ms) {
    if (nleft > v->cap) {
        size_t cap = nleft < 64 ? 64 : nleft * 2;
        uint64_t *p = realloc(v->left, cap * sizeof *p);
        if (!p)
            return -1;
        v->left = p;
        v->cap = cap;
    }
    size_t n = 0;
    for (size_t i = 0; i < nleft; i++)
        if (left[i] > boundary && left[i] <= seq)
            v->left[n++] = left[i];
    if (n > 1) /* qsort(NULL, 0, ...) is undefined, and an empty view has no array yet */
        qsort(v->left, n, sizeof *v->left, cmp_u64);
    size_t u = 0; /* drop duplicates */
    for (size_t i = 0; i < n; i++)
        if (u == 0 || v->left[u - 1] != v->left[i])
            v->left[u++] = v->left[i];
    v->nleft = u;
    v->boundary = boundary;
    v->seq = seq > boundary ? seq : boundary;
    v->refreshed_ms = now_ms;
    return 0;
}

/* number of left serials < s */
static size_t left_below(const gw_room_view_t *v, uint64_t s) {
    size_t lo = 0, hi = v->nleft;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v->left[mid] < s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t gw_room_view_ahead(const gw_room_view_t *v, uint64_t s) {
    if (s <= v->boundary + 1)
        return 0;
    return s - v->boundary - 1 - left_below(v, s);
}

uint64_t gw_room_view_waiting(const gw_room_view_t *v) {
    return v->seq - v->boundary - v->nleft;
}

bool gw_room_view_has_left(const gw_room_view_t *v, uint64_t s) {
    size_t i = left_below(v, s);
    return i < v->nleft && v->left[i] == s;
}

int gw_room_view_add_left(gw_room_view_t *v, uint64_t s) {
    if (s <= v->boundary || gw_room_view_has_left(v, s))
        return 0;
    if (v->nleft == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        uint64_t *p = realloc(v->left, cap * sizeof *p);
        if (!p)
            return -1;
        v->left = p;
        v->cap = cap;
    }
    size_t i = left_below(v, s);
    memmove(v->left + i + 1, v->left + i, (v->nleft - i) * sizeof *v->left);
    v->left[i] = s;
    v->nleft++;
    return 0;
}
