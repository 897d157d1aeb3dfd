/* The queue's decision for one request on a protected path, as a pure function: what the request
 * carries (a pass, a queue token) and what the worker knows of the room (its state, whether its cached
 * view is fresh, whether Redis is connected, the boundary and the last serial given) in; one action
 * out. gate.c gathers the inputs, calls gw_decide and carries the action out; tests/unit/test_decide.c
 * walks every branch. No clock, no I/O. */
#ifndef GW_QUEUE_DECIDE_H
#define GW_QUEUE_DECIDE_H

#include "config/config.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    GW_DO_ORIGIN,      /* to the origin: the room is closed (it lets traffic through) */
    GW_DO_PASS,        /* to the origin: an admitted visitor with a valid pass, no Redis */
    GW_DO_RENEW,       /* a valid pass due for renewal: extend.lua first (Redis must confirm the session) */
    GW_DO_ENDED,       /* a pass for a session that is over (revoked): told so, never the origin */
    GW_DO_FAIL_OPEN,   /* to the origin unqueued: Redis unreachable and the room's fail_open is on */
    GW_DO_WAIT,        /* the waiting answer, from the cached view: no Redis */
    GW_DO_JOIN,        /* join.lua: a new place, or (with_token) the token's place registered (again) */
    GW_DO_PREJOIN,     /* prequeue.lua: into a scheduled room's pre-queue (with_token: this visitor) */
    GW_DO_CLAIM,       /* claim.lua: the boundary passed the visitor's serial: a pass */
    GW_DO_PROVISIONAL, /* Redis unreachable, or the draw not known yet: a token without a serial */
} gw_do_t;

typedef struct {
    wr_room_state_t state; /* the room's state now (a scheduled room counts as open once drawn) */
    bool status_endpoint;  /* GET /__waitroom/status: never makes a place, never passes */
    bool fresh;            /* the cached view is recent (Redis answered lately) */
    bool connected;        /* the worker's Redis connection is up */
    bool fail_open;        /* the room's fail_open setting */
    bool has_pass;         /* a valid pass for this room */
    bool pass_revoked;     /* ... whose session ended after it was issued (revoked.h) */
    bool renew_due;        /* ... in the second half of its session, and able to grow */
    bool has_token;        /* a valid queue token for this room */
    uint64_t serial;       /* the token's serial; 0 = pre-queued or provisional */
    bool serial_left;      /* the view says that serial left the queue */
    bool prequeued;        /* a serial-less token marked as in the pre-queue (max_until = 1) */
    bool prequeue_full;    /* ... or as turned away by a full pre-queue (max_until = 2): first-come later */
    int64_t issued_s;      /* the token's issue time */
    bool draw_known;       /* a scheduled room's draw commitment is known */
    int64_t draw_s;        /* when the current draw's seed was drawn */
    uint64_t seq;          /* the last serial the view knows of */
    uint64_t boundary;     /* the admission boundary */
} gw_decide_in_t;

typedef struct {
    gw_do_t act;
    bool with_token; /* the action is for the visitor's token (else a new visitor) */
    bool placed;     /* WAIT: the visitor has a place with the token's serial */
    bool heartbeat;  /* the visitor holding the serial showed a sign of life */
} gw_decision_t;

gw_decision_t gw_decide(const gw_decide_in_t *in);

#endif
