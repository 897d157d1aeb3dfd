/* The decision table of decide.h. The order of the tests is the order of precedence: a closed room
 * lets everyone through, a pass beats a queue token, fail_open only when the view is stale, a token
 * that left the queue counts as none. */
#include "gateway/queue/decide.h"

gw_decision_t gw_decide(const gw_decide_in_t *in) {
    gw_decision_t d = {.act = GW_DO_WAIT};
    if (in->state == WR_ROOM_CLOSED) {
        d.act = GW_DO_ORIGIN;
        return d;
    }
    if (in->has_pass && !in->status_endpoint) {
        /* a revoked pass is refused even with Redis down: the gateway already knows the session ended */
        d.act = in->pass_revoked ? GW_DO_ENDED : in->renew_due && in->connected ? GW_DO_RENEW : GW_DO_PASS;
        return d;
    }
    if (!in->fresh && in->fail_open && !in->status_endpoint) {
        d.act = GW_DO_FAIL_OPEN; /* the operator chose to let everyone through while the queue is down */
        return d;
    }
    if (in->has_token && !(in->serial && in->serial_left)) {
        d.with_token = true;
        if (in->serial == 0) {
            /* pre-queued, or a provisional place from a Redis outage: a serial once the room is open and
             * Redis answers (the draw's serial for a pre-queued visitor, else the back of the queue) */
            if (in->state != WR_ROOM_SCHEDULED && in->fresh && in->connected)
                d.act = GW_DO_JOIN;
            else if (in->state == WR_ROOM_SCHEDULED && in->connected && in->draw_known &&
                     !in->prequeue_full && (!in->prequeued || in->issued_s <= in->draw_s))
                /* provisional, or pre-queued under a seed Redis has since lost: tokens carry whole
                 * seconds, so one issued in the new seed's second is put in again too (prequeue.lua
                 * does nothing twice, and the re-issued token soon postdates the seed) */
                d.act = GW_DO_PREJOIN;
            return d;
        }
        if (in->fresh && in->serial > in->seq && in->connected) {
            /* Redis does not know this place (its data was lost): register it again at this serial */
            d.act = GW_DO_JOIN;
            return d;
        }
        d.heartbeat = true;
        d.placed = true;
        if (in->fresh && in->serial <= in->boundary && in->state == WR_ROOM_OPEN)
            d.act = GW_DO_CLAIM;
        return d;
    }
    if (in->status_endpoint)
        return d; /* no place is made by a status poll */
    if (in->state == WR_ROOM_SCHEDULED) {
        if (in->connected && in->draw_known) {
            d.act = GW_DO_PREJOIN;
            return d;
        }
    } else if (in->fresh && in->connected) {
        d.act = GW_DO_JOIN;
        return d;
    }
    /* Redis unreachable (or the draw's seed not known yet): a provisional place, confirmed when the
     * visitor next shows up with Redis back */
    d.act = GW_DO_PROVISIONAL;
    return d;
}
