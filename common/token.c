/* Token encoding and verification with libsodium: crypto_auth for the MAC (constant-time check in
 * crypto_auth_verify), crypto_generichash for the room tag, sodium's base64url codec. */
#include "common/token.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_BYTES (WR_TOKEN_RAW_BYTES - crypto_auth_BYTES)
#define KEYFILE_MAX_BYTES 4096

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void room_tag(const char *room, size_t len, uint8_t tag[8]) {
    uint8_t h[crypto_generichash_BYTES_MIN];
    crypto_generichash(h, sizeof h, (const unsigned char *)room, len, NULL, 0);
    memcpy(tag, h, 8);
}

int wr_keyring_parse(wr_keyring_t *kr, const char *text, char *err, size_t err_size) {
    memset(kr, 0, sizeof *kr);
    if (sodium_init() < 0) {
        snprintf(err, err_size, "libsodium failed to initialise");
        return -1;
    }
    int line = 0;
    const char *s = text;
    while (*s) {
        line++;
        const char *eol = strchr(s, '\n');
        size_t n = eol ? (size_t)(eol - s) : strlen(s);
        char buf[256];
        if (n >= sizeof buf) {
            snprintf(err, err_size, "line %d: too long", line);
            goto fail;
        }
        memcpy(buf, s, n);
        buf[n] = '\0';
        s += n + (eol ? 1 : 0);
        char *p = buf;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#')
            continue;
        char *end;
        errno = 0;
        unsigned long id = strtoul(p, &end, 10);
        if (errno || end == p || id == 0 || id > 65535 || !isspace((unsigned char)*end)) {
            snprintf(err, err_size, "line %d: expected 'KEYID HEX' with KEYID in 1..65535", line);
            goto fail;
        }
        while (isspace((unsigned char)*end))
            end++;
        size_t hl = strcspn(end, " \t\r");
        if (kr->n == WR_TOKEN_MAX_KEYS) {
            snprintf(err, err_size, "line %d: at most %d keys (current and previous)", line,
                     WR_TOKEN_MAX_KEYS);
            goto fail;
        }
        wr_token_key_t *k = &kr->keys[kr->n];
        size_t bl = 0;
        if (hl != 2 * WR_TOKEN_KEY_BYTES ||
            sodium_hex2bin(k->key, sizeof k->key, end, hl, NULL, &bl, NULL) != 0 ||
            bl != WR_TOKEN_KEY_BYTES) {
            sodium_memzero(buf, sizeof buf);
            snprintf(err, err_size, "line %d: the key must be %d hex digits", line, 2 * WR_TOKEN_KEY_BYTES);
            goto fail;
        }
        sodium_memzero(buf, sizeof buf);
        for (int i = 0; i < kr->n; i++) {
            if (kr->keys[i].id == id) {
                snprintf(err, err_size, "line %d: key id %lu used twice", line, id);
                goto fail;
            }
        }
        k->id = (uint16_t)id;
        kr->n++;
    }
    if (kr->n == 0) {
        snprintf(err, err_size, "no key found");
        goto fail;
    }
    return 0;
fail:
    wr_keyring_wipe(kr);
    return -1;
}

int wr_keyring_load(wr_keyring_t *kr, const char *path, char *err, size_t err_size) {
    char text[KEYFILE_MAX_BYTES + 1], inner[256];
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(text, 1, KEYFILE_MAX_BYTES + 1, f);
    fclose(f);
    if (n > KEYFILE_MAX_BYTES) {
        snprintf(err, err_size, "%s: larger than %d bytes", path, KEYFILE_MAX_BYTES);
        sodium_memzero(text, sizeof text);
        return -1;
    }
    text[n] = '\0';
    int rc = wr_keyring_parse(kr, text, inner, sizeof inner);
    sodium_memzero(text, sizeof text);
    if (rc < 0)
        snprintf(err, err_size, "%s: %s", path, inner);
    return rc;
}

void wr_keyring_wipe(wr_keyring_t *kr) {
    sodium_memzero(kr, sizeof *kr);
}

int wr_token_encode(const wr_keyring_t *kr, const char *room, size_t room_len, wr_token_t *t, char *out,
                    size_t out_size) {
    if (kr->n < 1 || out_size < WR_TOKEN_TEXT_BYTES + 1)
        return -1;
    const wr_token_key_t *k = &kr->keys[0];
    uint8_t raw[WR_TOKEN_RAW_BYTES];
    t->key_id = k->id;
    raw[0] = 1;
    raw[1] = (uint8_t)t->type;
    raw[2] = (uint8_t)(k->id >> 8);
    raw[3] = (uint8_t)k->id;
    room_tag(room, room_len, raw + 4);
    memcpy(raw + 12, t->visitor, 16);
    put_u64(raw + 28, t->serial);
    put_u64(raw + 36, (uint64_t)t->issued_at);
    put_u64(raw + 44, (uint64_t)t->expires_at);
    put_u64(raw + 52, (uint64_t)t->max_until);
    crypto_auth(raw + BODY_BYTES, raw, BODY_BYTES, k->key);
    sodium_bin2base64(out, out_size, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

/* base64url without padding, strict: only the 64 alphabet characters, and the spare low bits of the
 * last character must be zero, so one record has exactly one text. Our own table decoder rather than
 * sodium_base642bin: libsodium's is constant-time, which a token (public, MAC'd) does not need, and it
 * was 6 % of a status poll's CPU. The MAC check below stays constant-time (crypto_auth_verify). */
static int b64url_decode(const char *in, size_t len, uint8_t *out, size_t out_len) {
    static int8_t table[256];
    static int ready;
    if (!ready) { /* benign race: every thread writes the same values */
        memset(table, -1, sizeof table);
        const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (int i = 0; i < 64; i++)
            table[(unsigned char)a[i]] = (int8_t)i;
        ready = 1;
    }
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = table[(unsigned char)in[i]];
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == out_len)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (o != out_len || (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return 0;
}

int wr_token_decode(const wr_keyring_t *kr, const char *room, size_t room_len, wr_token_type_t type,
                    const char *text, size_t len, int64_t now, wr_token_t *t) {
    if (len != WR_TOKEN_TEXT_BYTES)
        return WR_TOKEN_MALFORMED;
    uint8_t raw[WR_TOKEN_RAW_BYTES];
    if (b64url_decode(text, len, raw, sizeof raw) < 0)
        return WR_TOKEN_MALFORMED;
    if (raw[0] != 1 || raw[1] != (uint8_t)type)
        return WR_TOKEN_MALFORMED;
    uint16_t id = (uint16_t)(raw[2] << 8 | raw[3]);
    const wr_token_key_t *k = NULL;
    for (int i = 0; i < kr->n; i++)
        if (kr->keys[i].id == id)
            k = &kr->keys[i];
    if (!k || crypto_auth_verify(raw + BODY_BYTES, raw, BODY_BYTES, k->key) != 0)
        return WR_TOKEN_FORGED;
    uint8_t tag[8];
    room_tag(room, room_len, tag);
    if (sodium_memcmp(tag, raw + 4, 8) != 0)
        return WR_TOKEN_OTHER_ROOM;
    wr_token_t v;
    v.type = type;
    v.key_id = id;
    memcpy(v.visitor, raw + 12, 16);
    v.serial = get_u64(raw + 28);
    v.issued_at = (int64_t)get_u64(raw + 36);
    v.expires_at = (int64_t)get_u64(raw + 44);
    v.max_until = (int64_t)get_u64(raw + 52);
    if (now >= v.expires_at)
        return WR_TOKEN_EXPIRED;
    *t = v;
    return 0;
}
