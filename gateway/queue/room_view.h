/* What a gateway knows of a room's queue between refreshes: the admission boundary, the last serial
 * given out, and the serials beyond the boundary whose visitors left. From it, the exact number of
 * people ahead of any waiting visitor (see common/lua/README.md):
 *     ahead(s) = s - boundary - 1 - |{ l in left : boundary < l < s }|
 * so a status poll costs no Redis round trip. Pure; the gateway refreshes it every 100-250 ms. */
#ifndef GW_ROOM_VIEW_H
#define GW_ROOM_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t boundary;
    uint64_t seq;
    uint64_t *left; /* sorted ascending, all > boundary; owned */
    size_t nleft, cap;
    uint64_t refreshed_ms; /* uv_now() of the last successful refresh; 0 = never */
} gw_room_view_t;

void gw_room_view_free(gw_room_view_t *v);

/* Replaces the view's contents: boundary, seq and the left serials (any order; those at or below the
 * boundary are dropped). Returns 0, or -1 on allocation failure (the old view is kept). */
int gw_room_view_set(gw_room_view_t *v, uint64_t boundary, uint64_t seq, const uint64_t *left, size_t nleft,
                     uint64_t now_ms);

/* People still waiting in front of serial s; 0 once the boundary has reached s. */
uint64_t gw_room_view_ahead(const gw_room_view_t *v, uint64_t s);

/* True if serial s left (and the boundary has not passed it yet). */
bool gw_room_view_has_left(const gw_room_view_t *v, uint64_t s);
/* Records a leave at once, before the next refresh brings it. Returns 0 or -1 (no memory). */
int gw_room_view_add_left(gw_room_view_t *v, uint64_t s);

/* Visitors waiting in all: serials beyond the boundary that did not leave. */
uint64_t gw_room_view_waiting(const gw_room_view_t *v);

#endif
