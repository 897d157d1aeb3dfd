/* Status JSON and redirect sanitising. */
#include "gateway/status.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    char *p;
    size_t cap, len;
    bool bad;
} w_t;

static void raw(w_t *w, const char *s, size_t n) {
    if (w->bad || w->len + n > w->cap) {
        w->bad = true;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void lit(w_t *w, const char *s) {
    raw(w, s, strlen(s));
}

static void str(w_t *w, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) {
            w->bad = true;
            return;
        }
    }
    raw(w, "\"", 1);
    raw(w, s, n);
    raw(w, "\"", 1);
}

static void num(w_t *w, uint64_t v) {
    char b[24];
    int n = snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    raw(w, b, (size_t)n);
}

long gw_status_json(const gw_status_t *s, char *out, size_t cap) {
    w_t w = {.p = out, .cap = cap};
    lit(&w, "{\"room\":");
    str(&w, s->room, strlen(s->room));
    lit(&w, ",\"state\":");
    str(&w, s->state, strlen(s->state));
    if (s->has_position) {
        lit(&w, ",\"position\":");
        num(&w, s->ahead + 1);
        lit(&w, ",\"ahead\":");
        num(&w, s->ahead);
    } else {
        lit(&w, ",\"position\":null,\"ahead\":null");
    }
    if (s->has_eta) {
        lit(&w, ",\"eta_seconds\":");
        num(&w, s->eta_s);
        lit(&w, ",\"eta_p90_seconds\":");
        num(&w, s->eta_p90_s);
    } else {
        lit(&w, ",\"eta_seconds\":null,\"eta_p90_seconds\":null");
    }
    lit(&w, ",\"estimate\":true,\"poll_after_ms\":");
    num(&w, s->poll_after_ms);
    lit(&w, s->admitted ? ",\"admitted\":true" : ",\"admitted\":false");
    lit(&w, ",\"redirect\":");
    if (s->redirect)
        str(&w, s->redirect, s->redirect_len);
    else
        lit(&w, "null");
    lit(&w, s->likely_sold_out ? ",\"likely_sold_out\":true" : ",\"likely_sold_out\":false");
    lit(&w, ",\"shuffle_commitment\":");
    if (s->shuffle_commitment)
        str(&w, s->shuffle_commitment, strlen(s->shuffle_commitment));
    else
        lit(&w, "null");
    if (s->shuffle_seed) {
        lit(&w, ",\"shuffle_seed\":");
        str(&w, s->shuffle_seed, strlen(s->shuffle_seed));
    }
    lit(&w, "}");
    return w.bad ? -1 : (long)w.len;
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
