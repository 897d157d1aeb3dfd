/* Queue decisions on the request path of a protected route (and for /__waitroom/status):
 *   valid pass (wr_p) for the room                 → proxied, no Redis
 *   valid queue token (wr_q), boundary not reached → waiting answer from the cached view, no Redis
 *   valid queue token, boundary reached            → claim (one Redis call): a pass, then the page
 *   no valid token                                 → join (one Redis call): a token and a place
 * Answers are JSON (Accept: application/json, or the status endpoint) or a small HTML page.
 * A Redis call in flight belongs to a gw_room_op_t; if the client goes away first, the op is orphaned
 * and its answer is dropped (the place it took stays in the queue and is skipped as abandoned). */
#ifndef GW_GATE_H
#define GW_GATE_H

#include "gateway/worker.h"

#include <stdbool.h>

/* Decides for a request on a protected path of `room`. Returns true when the gateway answers it
 * itself (now or after a Redis call), false when it goes to the origin. */
bool gw_gate_request(gw_conn_t *c, const wr_room_cfg_t *room, const gw_hdrs_t *hs, const char *target,
                     size_t target_len, bool status_endpoint);

/* POST /__waitroom/leave: frees the visitor's place at once (leave.lua) and deletes the cookie. */
void gw_gate_leave(gw_conn_t *c, const wr_room_cfg_t *room, const gw_hdrs_t *hs);

/* The origin answered a request that carried a pass (or the gateway answers for a failed origin with
 * status >= 500). Ends the session when the origin said so (`release`: Waitroom-Release: done) or a
 * completion path succeeded; extends it by the room's grace_s on a 5xx or timeout (and logs the
 * failure as origin_error); renews it on activity in its second half, up to session_max_s. Returns
 * the header line for the client (the renewed pass, or the pass deleted), or NULL. */
const char *gw_gate_pass_answered(gw_conn_t *c, int status, bool release);

/* The signed "Waitroom-Pass: ...\r\n" line for the origin when this request carries a valid pass and
 * [origin] pass_signing_key_file is set (else NULL); *len is its length. */
const char *gw_gate_pass_header(gw_conn_t *c, size_t *len);

/* The origin answered a proxied request: counted in the room's signals when the visitor was admitted
 * (wr-admission steers by them), and a Waitroom-Inventory header is remembered for the room. */
void gw_gate_origin_answered(gw_conn_t *c, const gw_hdrs_t *hs, int status, uint64_t latency_us);
/* The origin failed an admitted visitor's request (502/503/504 by the gateway): counted as an error. */
void gw_gate_origin_failed(gw_conn_t *c, int status);

#endif
