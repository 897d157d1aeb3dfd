/* Status JSON and redirect sanitising. */
#include "gateway/queue/status.h"

#include "common/buf.h"

#include <stdio.h>
#include <string.h>

static void str(wr_buf_t *w, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) {
            w->failed = true;
            return;
        }
    }
    wr_buf_put(w, "\"", 1);
    wr_buf_put(w, s, n);
    wr_buf_put(w, "\"", 1);
}

static void num(wr_buf_t *w, uint64_t v) {
    wr_buf_u64(w, v);
}

long gw_status_json(const gw_status_t *s, char *out, size_t cap) {
    wr_buf_t w = wr_buf_init(out, cap);
    wr_buf_puts(&w, "{\"room\":");
    str(&w, s->room, strlen(s->room));
    wr_buf_puts(&w, ",\"state\":");
    str(&w, s->state, strlen(s->state));
    if (s->has_position) {
        wr_buf_puts(&w, ",\"position\":");
        num(&w, s->ahead + 1);
        wr_buf_puts(&w, ",\"ahead\":");
        num(&w, s->ahead);
    } else {
        wr_buf_puts(&w, ",\"position\":null,\"ahead\":null");
    }
    if (s->has_eta) {
        wr_buf_puts(&w, ",\"eta_seconds\":");
        num(&w, s->eta_s);
        wr_buf_puts(&w, ",\"eta_p90_seconds\":");
        num(&w, s->eta_p90_s);
    } else {
        wr_buf_puts(&w, ",\"eta_seconds\":null,\"eta_p90_seconds\":null");
    }
    wr_buf_puts(&w, ",\"estimate\":true,\"poll_after_ms\":");
    num(&w, s->poll_after_ms);
    wr_buf_puts(&w, s->admitted ? ",\"admitted\":true" : ",\"admitted\":false");
    wr_buf_puts(&w, ",\"redirect\":");
    if (s->redirect)
        str(&w, s->redirect, s->redirect_len);
    else
        wr_buf_puts(&w, "null");
    wr_buf_puts(&w, s->likely_sold_out ? ",\"likely_sold_out\":true" : ",\"likely_sold_out\":false");
    if (s->prequeue_full)
        wr_buf_puts(&w, ",\"prequeue_full\":true");
    wr_buf_puts(&w, ",\"shuffle_commitment\":");
    if (s->shuffle_commitment)
        str(&w, s->shuffle_commitment, strlen(s->shuffle_commitment));
    else
        wr_buf_puts(&w, "null");
    if (s->shuffle_seed) {
        wr_buf_puts(&w, ",\"shuffle_seed\":");
        str(&w, s->shuffle_seed, strlen(s->shuffle_seed));
    }
    if (s->open_at > 0) {
        wr_buf_puts(&w, ",\"open_at\":");
        wr_buf_u64(&w, (unsigned long long)s->open_at);
    }
    wr_buf_puts(&w, "}");
    return wr_buf_result(&w);
}

static bool url_char(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return strchr("-._~:/?[]@!$&'()*+,;=%", c) != NULL && c != '\0';
}

long gw_redirect_sanitize(const char *in, size_t len, char *out, size_t cap) {
    if (len == 0 || in[0] != '/' || (len > 1 && (in[1] == '/' || in[1] == '\\')))
        return -1;
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '#')
            break; /* a fragment is the browser's business */
        if (url_char(c) && c != '\'') {
            if (o + 1 > cap)
                return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 > cap)
                return -1;
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return (long)o;
}
