/* Waiting page templates and their rendering. See waitpage.h. */
#include "gateway/queue/waitpage.h"

#include "common/buf.h"
#include "queue_assets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const var_names[GW_PV_COUNT] = {
    [GW_PV_ROOM] = "room",
    [GW_PV_STATE] = "state",
    [GW_PV_HEADLINE] = "headline",
    [GW_PV_MESSAGE] = "message",
    [GW_PV_POSITION] = "position",
    [GW_PV_AHEAD] = "ahead",
    [GW_PV_ETA] = "eta",
    [GW_PV_UPDATED] = "updated",
    [GW_PV_REFRESH] = "refresh",
    [GW_PV_OPEN_AT] = "open_at",
    [GW_PV_COMMITMENT] = "commitment",
    [GW_PV_SEED] = "seed",
    [GW_PV_LEAVE_URL] = "leave_url",
    [GW_PV_PLACE_HIDDEN] = "place_hidden",
    [GW_PV_FAIR_HIDDEN] = "fair_hidden",
    [GW_PV_SEED_HIDDEN] = "seed_hidden",
    [GW_PV_LEAVE_HIDDEN] = "leave_hidden",
    [GW_PV_SCRIPT] = "script",
};

/* What each state says, in plain words. The page's script gets the same table. */
static const struct {
    const char *state, *headline, *message;
} texts[] = {
    {"waiting", "You are in the queue", "When it is your turn, this page takes you to the site."},
    {"joining", "You are in the queue", "Your place is being confirmed."},
    {"scheduled", "The sale has not opened yet",
     "You are in the pre-queue. At the opening everyone in it gets a place drawn at random, so there "
     "is no need to arrive early or to refresh."},
    {"prequeue_full", "The sale has not opened yet",
     "The pre-queue is full. Keep this page open: at the opening you join the queue in order of arrival, "
     "after everyone drawn from the pre-queue."},
    {"paused", "The sale is paused",
     "Nobody is being let in for now. You keep your place, and the queue moves again when the sale "
     "resumes."},
    {"sold_out", "Sold out for now",
     "Tickets are sold out for now. You keep your place in case more are released, or you may leave "
     "the queue."},
    {"trouble", "Keep this tab open",
     "We are having trouble reaching the queue. Keep this tab open: you keep your place."},
    {"admitted", "It is your turn", "Taking you to the site now."},
    {"closed", "The queue is closed", "This queue is closed."},
};

void gw_page_texts(const char *state, const char **headline, const char **message) {
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if (!strcmp(texts[i].state, state)) {
            *headline = texts[i].headline;
            *message = texts[i].message;
            return;
        }
    }
    *headline = texts[5].headline; /* trouble: never an empty page */
    *message = texts[5].message;
}

static const char opens_at[] = "It opens at %s.";
static const char likely_sold_out[] =
    "There may not be enough tickets left for your place in the queue. You may stay, and keep your "
    "place, or leave.";
static const char no_eta[] = "not known yet (the queue has not moved enough to tell)";
static const char no_eta_state[] = "none while nobody is being let in";

/* ---- templates ---------------------------------------------------------------------------------- */

static int seg_add(gw_page_tpl_t *t, uint32_t off, uint32_t len, int var, char *err, size_t err_size) {
    if (var < 0 && len == 0)
        return 0;
    if (t->nsegs == GW_PAGE_MAX_SEGMENTS) {
        snprintf(err, err_size, "more than %d pieces (placeholders and the text between them)",
                 GW_PAGE_MAX_SEGMENTS);
        return -1;
    }
    t->segs[t->nsegs++] = (gw_page_seg_t){off, len, var};
    return 0;
}

int gw_page_tpl_parse(gw_page_tpl_t *t, const char *text, size_t len, char *err, size_t err_size) {
    memset(t, 0, sizeof *t);
    if (len > GW_PAGE_MAX_TEMPLATE_BYTES) {
        snprintf(err, err_size, "template larger than %d bytes", GW_PAGE_MAX_TEMPLATE_BYTES);
        return -1;
    }
    t->text = malloc(len + 1);
    if (!t->text) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(t->text, text, len);
    t->text[len] = '\0';
    t->len = len;
    size_t lit = 0, i = 0;
    while (i + 1 < len) {
        if (text[i] != '{' || text[i + 1] != '{') {
            i++;
            continue;
        }
        const char *close = NULL;
        for (size_t k = i + 2; k + 1 < len && k < i + 2 + 40; k++) {
            if (text[k] == '}' && text[k + 1] == '}') {
                close = text + k;
                break;
            }
        }
        size_t line = 1;
        for (size_t k = 0; k < i; k++)
            line += text[k] == '\n';
        if (!close) {
            snprintf(err, err_size, "line %zu: '{{' without a closing '}}'", line);
            goto fail;
        }
        const char *name = text + i + 2;
        size_t nl = (size_t)(close - name);
        int var = -1;
        for (int v = 0; v < GW_PV_COUNT; v++)
            if (strlen(var_names[v]) == nl && memcmp(var_names[v], name, nl) == 0)
                var = v;
        if (var < 0) {
            snprintf(err, err_size, "line %zu: unknown placeholder {{%.*s}} (see gateway/waitpage.h)", line,
                     (int)nl, name);
            goto fail;
        }
        if (seg_add(t, (uint32_t)lit, (uint32_t)(i - lit), -1, err, err_size) < 0 ||
            seg_add(t, 0, 0, var, err, err_size) < 0)
            goto fail;
        i = (size_t)(close - text) + 2;
        lit = i;
    }
    if (seg_add(t, (uint32_t)lit, (uint32_t)(len - lit), -1, err, err_size) < 0)
        goto fail;
    return 0;
fail:
    gw_page_tpl_free(t);
    return -1;
}

int gw_page_tpl_load(gw_page_tpl_t *t, const char *path, char *err, size_t err_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(GW_PAGE_MAX_TEMPLATE_BYTES + 1);
    size_t n = buf ? fread(buf, 1, GW_PAGE_MAX_TEMPLATE_BYTES + 1, f) : 0;
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, err_size, "%s: cannot read", path);
        free(buf);
        return -1;
    }
    char msg[256];
    int rc = gw_page_tpl_parse(t, buf, n, msg, sizeof msg);
    free(buf);
    if (rc < 0)
        snprintf(err, err_size, "%s: %s", path, msg);
    return rc;
}

void gw_page_tpl_free(gw_page_tpl_t *t) {
    free(t->text);
    t->text = NULL;
    t->nsegs = 0;
}

/* ---- per room ----------------------------------------------------------------------------------- */

/* The static tail of the script block: the room's data for the script, then the script. Every string
 * in it is ours (room names are [A-Za-z0-9_-], the texts are constants without quotes or '<'). */
static char *script_tail(const wr_room_cfg_t *room, const gw_page_room_t *p, size_t *len) {
    size_t cap = 8192 + wr_asset_waitpage_js_len;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    wr_buf_t w = wr_buf_init(out, cap);
    wr_buf_puts(&w, "\",\"room\":\"");
    wr_buf_puts(&w, room->name);
    wr_buf_puts(&w, "\",\"status\":\"");
    wr_buf_puts(&w, p->status_url);
    wr_buf_puts(&w, "\",\"poll\":2000,\"open_at\":");
    wr_buf_u64(&w, room->open_at > 0 ? (unsigned long long)room->open_at : 0);
    wr_buf_puts(&w, ",\"opens_at\":\"");
    wr_buf_puts(&w, opens_at);
    wr_buf_puts(&w, "\",\"likely_sold_out\":\"");
    wr_buf_puts(&w, likely_sold_out);
    wr_buf_puts(&w, "\",\"no_eta\":\"");
    wr_buf_puts(&w, no_eta);
    wr_buf_puts(&w, "\",\"no_eta_state\":\"");
    wr_buf_puts(&w, no_eta_state);
    wr_buf_puts(&w, "\",\"texts\":{");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        wr_buf_puts(&w, i ? ",\"" : "\"");
        wr_buf_puts(&w, texts[i].state);
        wr_buf_puts(&w, "\":[\"");
        wr_buf_puts(&w, texts[i].headline);
        wr_buf_puts(&w, "\",\"");
        wr_buf_puts(&w, texts[i].message);
        wr_buf_puts(&w, "\"]");
    }
    wr_buf_puts(&w, "}}</script>\n<script>\n");
    wr_buf_put(&w, wr_asset_waitpage_js, wr_asset_waitpage_js_len);
    wr_buf_puts(&w, "</script>");
    long n = wr_buf_result(&w);
    if (n < 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)n;
    return out;
}

#define SCRIPT_HEAD "<script id=\"wr-data\" type=\"application/json\">{\"back\":\""

gw_page_room_t *gw_pages_create(const wr_config_t *cfg, char *err, size_t err_size) {
    gw_page_room_t *pages = calloc(cfg->nrooms ? cfg->nrooms : 1, sizeof *pages);
    if (!pages) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->nrooms; i++) {
        const wr_room_cfg_t *room = &cfg->rooms[i];
        gw_page_room_t *p = &pages[i];
        snprintf(p->status_url, sizeof p->status_url, "/__waitroom/status?room=%s", room->name);
        snprintf(p->leave_url, sizeof p->leave_url, "/__waitroom/leave?room=%s", room->name);
        int rc;
        if (room->page_template) {
            char msg[512];
            rc = gw_page_tpl_load(&p->tpl, room->page_template, msg, sizeof msg);
            if (rc < 0)
                snprintf(err, err_size, "[room %s] page_template: %s", room->name, msg);
        } else {
            rc = gw_page_tpl_parse(&p->tpl, wr_asset_waiting_page_html, wr_asset_waiting_page_html_len, err,
                                   err_size);
        }
        if (rc == 0 && !(p->script = script_tail(room, p, &p->script_len))) {
            snprintf(err, err_size, "out of memory");
            rc = -1;
        }
        if (rc < 0) {
            gw_pages_free(pages, i + 1);
            return NULL;
        }
    }
    return pages;
}

void gw_pages_free(gw_page_room_t *pages, size_t n) {
    if (!pages)
        return;
    for (size_t i = 0; i < n; i++) {
        gw_page_tpl_free(&pages[i].tpl);
        free(pages[i].script);
    }
    free(pages);
}

/* ---- rendering ---------------------------------------------------------------------------------- */

static void escape(wr_buf_t *w, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '&':
            wr_buf_puts(w, "&amp;");
            break;
        case '<':
            wr_buf_puts(w, "&lt;");
            break;
        case '>':
            wr_buf_puts(w, "&gt;");
            break;
        case '"':
            wr_buf_puts(w, "&quot;");
            break;
        case '\'':
            wr_buf_puts(w, "&#39;");
            break;
        default:
            wr_buf_put(w, s + i, 1);
        }
    }
}

static void human_wait(char *out, size_t cap, uint64_t s) {
    if (s < 90)
        snprintf(out, cap, "about a minute");
    else if (s < 90 * 60)
        snprintf(out, cap, "about %llu minutes", (unsigned long long)((s + 30) / 60));
    else
        snprintf(out, cap, "about %llu hours", (unsigned long long)((s + 1800) / 3600));
}

static void utc(char *out, size_t cap, int64_t t, const char *fmt) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, fmt, &tm);
}

long gw_page_render(const gw_page_room_t *page, const wr_room_cfg_t *room, const gw_page_state_t *s,
                    uv_buf_t *bufs, size_t nbufs, char *scratch, size_t scratch_cap, size_t *total) {
    const char *state = s->state;
    if (!strcmp(state, "waiting") && !s->has_position)
        state = "joining";
    const char *headline, *message;
    gw_page_texts(s->prequeue_full && !strcmp(state, "scheduled") ? "prequeue_full" : state, &headline,
                  &message);
    char msg[768], position[24] = "", ahead[40] = "", eta[160] = "", updated[40], open_at[48] = "";
    snprintf(msg, sizeof msg, "%s", message);
    if (!strcmp(state, "scheduled") && s->open_at > 0) {
        utc(open_at, sizeof open_at, s->open_at, "%Y-%m-%d %H:%M UTC");
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof msg - l, " It opens at %s.", open_at);
    }
    if (s->likely_sold_out) {
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof msg - l, " %s", likely_sold_out);
    }
    if (s->has_position) {
        snprintf(position, sizeof position, "%llu", (unsigned long long)(s->ahead + 1));
        snprintf(ahead, sizeof ahead, "%llu %s", (unsigned long long)s->ahead,
                 s->ahead == 1 ? "person" : "people");
        if (!strcmp(state, "waiting") && s->has_eta) {
            char a[48], b[48];
            human_wait(a, sizeof a, s->eta_s);
            human_wait(b, sizeof b, s->eta_p90_s);
            if (!strcmp(a, b))
                snprintf(eta, sizeof eta, "%s", a);
            else
                snprintf(eta, sizeof eta, "%s, perhaps up to %s", a, b + 6); /* b without "about " */
        } else {
            snprintf(eta, sizeof eta, "%s", strcmp(state, "waiting") ? no_eta_state : no_eta);
        }
    }
    utc(updated, sizeof updated, s->now_s, "%H:%M:%S UTC");
    char leave_url[sizeof page->leave_url + 32];
    snprintf(leave_url, sizeof leave_url, "%s%s%s", page->leave_url, s->leave_proof ? "&proof=" : "",
             s->leave_proof ? s->leave_proof : "");
    const char *vals[GW_PV_COUNT] = {
        [GW_PV_ROOM] = room->name,
        [GW_PV_STATE] = state,
        [GW_PV_HEADLINE] = headline,
        [GW_PV_MESSAGE] = msg,
        [GW_PV_POSITION] = position,
        [GW_PV_AHEAD] = ahead,
        [GW_PV_ETA] = eta,
        [GW_PV_UPDATED] = updated,
        [GW_PV_REFRESH] = "5",
        [GW_PV_OPEN_AT] = open_at,
        [GW_PV_COMMITMENT] = s->commitment ? s->commitment : "",
        [GW_PV_SEED] = s->seed ? s->seed : "",
        [GW_PV_LEAVE_URL] = leave_url,
        [GW_PV_PLACE_HIDDEN] = s->has_position ? "" : "hidden",
        [GW_PV_FAIR_HIDDEN] = s->commitment && !s->prequeue_full ? "" : "hidden",
        [GW_PV_SEED_HIDDEN] = s->seed ? "" : "hidden",
        [GW_PV_LEAVE_HIDDEN] = s->can_leave ? "" : "hidden",
        [GW_PV_SCRIPT] = "",
    };
    wr_buf_t w = wr_buf_init(scratch, scratch_cap);
    size_t nb = 0, sum = 0;
#define PUSH(ptr_, len_)                                                                                     \
    do {                                                                                                     \
        if (nb == nbufs)                                                                                     \
            return -1;                                                                                       \
        bufs[nb++] = uv_buf_init((char *)(ptr_), (unsigned)(len_));                                          \
        sum += (len_);                                                                                       \
    } while (0)
    for (size_t i = 0; i < page->tpl.nsegs; i++) {
        const gw_page_seg_t *g = &page->tpl.segs[i];
        if (g->var < 0) {
            PUSH(page->tpl.text + g->off, g->len);
        } else if (g->var == GW_PV_SCRIPT) {
            PUSH(SCRIPT_HEAD, sizeof SCRIPT_HEAD - 1);
            size_t start = w.len;
            wr_buf_put(&w, s->back, s->back_len); /* sanitised: URL characters only, no quote or '<' */
            if (wr_buf_result(&w) < 0)
                return -1;
            PUSH(scratch + start, w.len - start);
            PUSH(page->script, page->script_len);
        } else {
            size_t start = w.len;
            escape(&w, vals[g->var], strlen(vals[g->var]));
            if (wr_buf_result(&w) < 0)
                return -1;
            if (w.len > start)
                PUSH(scratch + start, w.len - start);
        }
    }
#undef PUSH
    *total = sum;
    return (long)nb;
}
