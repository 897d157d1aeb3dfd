/* The waiting page a buyer sees on a protected path: an HTML template (the built-in
 * config/waiting-page.html, or a room's page_template file) with {{name}} placeholders, filled in per
 * request. Every value is HTML-escaped, except {{script}}, which is the gateway's own script block.
 * A template is parsed once at start-up into literal pieces and placeholders, so a render is a list of
 * buffers (the literals are not copied) plus a few hundred bytes of escaped values.
 *
 * Placeholders: room, state, headline, message, position, ahead, eta, updated, refresh, open_at,
 * commitment, seed, leave_url, place_hidden, fair_hidden, seed_hidden, leave_hidden (these four are
 * "hidden" or empty, for use as an attribute), script. A template that names anything else is refused
 * at start-up. For live updates keep the ids the built-in page uses (wr-headline, wr-message,
 * wr-place, wr-position, wr-ahead, wr-eta, wr-progress, wr-updated, wr-fair, wr-commitment,
 * wr-seed-line, wr-seed, wr-leave); the page works without them, refreshing itself. */
#ifndef GW_WAITPAGE_H
#define GW_WAITPAGE_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define GW_PAGE_MAX_TEMPLATE_BYTES 65536
#define GW_PAGE_MAX_SEGMENTS 96

typedef enum {
    GW_PV_ROOM,
    GW_PV_STATE,
    GW_PV_HEADLINE,
    GW_PV_MESSAGE,
    GW_PV_POSITION,
    GW_PV_AHEAD,
    GW_PV_ETA,
    GW_PV_UPDATED,
    GW_PV_REFRESH,
    GW_PV_OPEN_AT,
    GW_PV_COMMITMENT,
    GW_PV_SEED,
    GW_PV_LEAVE_URL,
    GW_PV_PLACE_HIDDEN,
    GW_PV_FAIR_HIDDEN,
    GW_PV_SEED_HIDDEN,
    GW_PV_LEAVE_HIDDEN,
    GW_PV_SCRIPT,
    GW_PV_COUNT
} gw_page_var_t;

typedef struct {
    uint32_t off, len; /* literal text in the template, when var < 0 */
    int var;
} gw_page_seg_t;

typedef struct {
    char *text;
    size_t len;
    gw_page_seg_t segs[GW_PAGE_MAX_SEGMENTS];
    size_t nsegs;
} gw_page_tpl_t;

/* Parses a template (the text is copied). Returns 0, or -1 with a message naming the problem. */
int gw_page_tpl_parse(gw_page_tpl_t *t, const char *text, size_t len, char *err, size_t err_size);
/* Reads and parses a template file (at most GW_PAGE_MAX_TEMPLATE_BYTES). */
int gw_page_tpl_load(gw_page_tpl_t *t, const char *path, char *err, size_t err_size);
void gw_page_tpl_free(gw_page_tpl_t *t);

/* What a room's page needs that does not change between requests: its template and script block. */
typedef struct gw_page_room {
    gw_page_tpl_t tpl;
    char *script; /* <script id="wr-data" type="application/json">…</script><script>…</script> */
    size_t script_len;
    char leave_url[128];
    char status_url[128];
} gw_page_room_t;

/* One per room of cfg, in the same order. Returns NULL with a message on a bad template file. */
gw_page_room_t *gw_pages_create(const wr_config_t *cfg, char *err, size_t err_size);
void gw_pages_free(gw_page_room_t *pages, size_t n);

/* The buyer's state as the page shows it. */
typedef struct {
    const char *state; /* status JSON state: waiting, scheduled, paused, sold_out, trouble, ... */
    bool has_position;
    uint64_t ahead; /* position = ahead + 1 */
    bool has_eta;
    uint64_t eta_s, eta_p90_s;
    bool can_leave;
    bool likely_sold_out;
    int64_t open_at; /* unix seconds, 0 = none */
    int64_t now_s;
    const char *commitment, *seed; /* hex or NULL */
    const char *leave_proof;       /* hex (queue/tokens.c), for the leave URL; NULL = none */
    bool prequeue_full;            /* scheduled, but the pre-queue was full: first-come at the opening */
    const char *back;              /* the sanitised URL the buyer asked for */
    size_t back_len;
} gw_page_state_t;

/* Renders into bufs (at most nbufs; literals point into the template, values into scratch). Returns
 * the number of buffers and sets *total, or -1 if scratch or bufs are too small. */
long gw_page_render(const gw_page_room_t *page, const wr_room_cfg_t *room, const gw_page_state_t *s,
                    uv_buf_t *bufs, size_t nbufs, char *scratch, size_t scratch_cap, size_t *total);

/* The headline and message for a state (also sent to the page's script, so both say the same). */
void gw_page_texts(const char *state, const char **headline, const char **message);

#endif
