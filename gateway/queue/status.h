/* The status JSON of the public contract (GET /__waitroom/status, or Accept: application/json on a
 * protected path):
 *   {"room","state","position","ahead","eta_seconds","eta_p90_seconds","estimate":true,
 *    "poll_after_ms","admitted","redirect","likely_sold_out","shuffle_commitment"[,"shuffle_seed"]
 *    [,"open_at"]}   (open_at: unix seconds, while the room is scheduled; the organiser may move it)
 * Written straight into a caller buffer on every poll, so no allocation and no JSON library: every
 * string that goes in is one we made safe first (room names are [A-Za-z0-9_-] by config, states are
 * constants, the commitment and seed are hex, and the redirect goes through gw_redirect_sanitize),
 * and the writer refuses (-1) any string with a quote, backslash or control byte rather than escape it. */
#ifndef GW_STATUS_H
#define GW_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *room;
    const char *state; /* scheduled|waiting|admitted|paused|sold_out|closed|trouble */
    bool has_position; /* false: "position":null,"ahead":null (no valid token) */
    uint64_t ahead;    /* position = ahead + 1 */
    bool has_eta;      /* false: the etas are null (no honest estimate yet) */
    uint64_t eta_s, eta_p90_s;
    uint32_t poll_after_ms;
    bool admitted;
    const char *redirect; /* NULL: "redirect":null */
    size_t redirect_len;
    bool likely_sold_out;
    bool prequeue_full; /* true: "prequeue_full":true (a scheduled room's pre-queue was full: first-come) */
    const char *shuffle_commitment; /* hex, or NULL */
    const char *shuffle_seed;       /* hex once revealed, else NULL (then the key is left out) */
    int64_t open_at;                /* > 0: the opening time in force (scheduled rooms), else left out */
} gw_status_t;

/* Returns the length written (no NUL), or -1 if cap is too small or a string is not JSON-safe. */
long gw_status_json(const gw_status_t *s, char *out, size_t cap);

/* Makes the URL a buyer first asked for safe to send back as a redirect: it must be a path on this
 * site ("/..." but not "//..." or "/\\...", which browsers read as another host); bytes outside the URL
 * characters of RFC 3986 are percent-encoded. Returns the length, or -1 (then redirect to "/"). */
long gw_redirect_sanitize(const char *in, size_t len, char *out, size_t cap);

#endif
