/* Passes that ended before their cookie did. A pass is checked with no Redis call, so when a session
 * ends (released, completed, expired) every gateway must learn it: each worker reads the room's
 * revocation stream (wr:{R}:revoked) with its view, every 200 ms, into this table, and refuses a pass
 * for a revoked serial issued no later than the revocation (both wall-clock milliseconds: the clocks
 * of the gateways and wr-admission must agree to well under the time a buyer takes to come back) (a later
 * pass for the same serial, after the buyer was let in again, is a new session). Entries are kept keep_ms,
 * the longest a pass can live (session_max_s + grace_s), then dropped. Pure: the clock is a parameter; not
 * thread-safe. */
#ifndef GW_QUEUE_REVOKED_H
#define GW_QUEUE_REVOKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_REVOKED_MAX_ENTRIES ((size_t)1 << 22) /* per room and worker: 64 MiB at most */

typedef struct {
    uint64_t serial; /* + 1: 0 = empty slot */
    uint64_t at_ms;  /* wall clock: when the session ended */
} gw_revoked_entry_t;

typedef struct {
    gw_revoked_entry_t *slots; /* open addressing, cap a power of two; owned */
    size_t cap, n;
    uint64_t keep_ms;
} gw_revoked_t;

void gw_revoked_init(gw_revoked_t *t, uint64_t keep_ms);
void gw_revoked_free(gw_revoked_t *t);
/* Records that serial's session ended at at_ms (the latest wins). Entries older than keep_ms at now_ms
 * are dropped when the table would grow. Returns 0, or -1 when full or out of memory. */
int gw_revoked_add(gw_revoked_t *t, uint64_t serial, uint64_t at_ms, uint64_t now_ms);
/* True when a pass for serial issued at issued_ms predates the session's end: refuse it. (Milliseconds:
 * a buyer let in again after an origin failure gets a new pass within the second their old session
 * was revoked.) */
bool gw_revoked_refuses(const gw_revoked_t *t, uint64_t serial, int64_t issued_ms);

#endif
