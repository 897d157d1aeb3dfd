/* The Waitroom-Pass header's signing and verification. See passsig.h. */
#include "common/passsig.h"

#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int load_hex(const char *path, uint8_t *out, size_t bytes, char *err, size_t err_size);

/* PATH.pub from the secret key, when it is missing (deleted, or a key made by hand). */
static int write_pub_from(const char *path, char *err, size_t err_size) {
    char pubpath[4096];
    if (snprintf(pubpath, sizeof pubpath, "%s.pub", path) >= (int)sizeof pubpath) {
        snprintf(err, err_size, "%s: path too long", path);
        return -1;
    }
    if (access(pubpath, F_OK) == 0)
        return 0;
    uint8_t sk[crypto_sign_SECRETKEYBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    if (load_hex(path, sk, sizeof sk, err, err_size) < 0)
        return -1;
    crypto_sign_ed25519_sk_to_pk(pk, sk);
    sodium_memzero(sk, sizeof sk);
    char pub[2 * crypto_sign_PUBLICKEYBYTES + 2];
    sodium_bin2hex(pub, sizeof pub - 1, pk, sizeof pk);
    strcat(pub, "\n");
    return wr_file_put(pubpath, pub, 0644, true, err, err_size) < 0 ? -1 : 0;
}

int wr_passsig_key_ensure(const char *path, bool *created, char *err, size_t err_size) {
    *created = false;
    if (access(path, F_OK) == 0)
        return write_pub_from(path, err, err_size);
    if (sodium_init() < 0) {
        snprintf(err, err_size, "%s: libsodium failed to initialise", path);
        return -1;
    }
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    char text[2 * crypto_sign_SECRETKEYBYTES + 2], pub[2 * crypto_sign_PUBLICKEYBYTES + 2];
    sodium_bin2hex(text, sizeof text - 1, sk, sizeof sk);
    strcat(text, "\n");
    sodium_bin2hex(pub, sizeof pub - 1, pk, sizeof pk);
    strcat(pub, "\n");
    sodium_memzero(sk, sizeof sk);
    /* all at once (common/secret.c): a second gateway starting at the same moment sees no key or the
     * whole key, and a crash leaves no empty key behind */
    int rc = wr_file_put(path, text, 0600, false, err, err_size);
    sodium_memzero(text, sizeof text);
    if (rc < 0)
        return -1;
    if (rc == 1) /* another gateway made it a moment ago */
        return write_pub_from(path, err, err_size);
    char pubpath[4096];
    if (snprintf(pubpath, sizeof pubpath, "%s.pub", path) >= (int)sizeof pubpath ||
        wr_file_put(pubpath, pub, 0644, true, err, err_size) < 0) {
        unlink(path);
        return -1;
    }
    *created = true;
    return 0;
}

/* Reads the first line of path as exactly `bytes` bytes of hex. */
static int load_hex(const char *path, uint8_t *out, size_t bytes, char *err, size_t err_size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char line[300];
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = ok ? strcspn(line, "\r\n") : 0;
    size_t got = 0;
    if (!ok || n != 2 * bytes || sodium_hex2bin(out, bytes, line, n, NULL, &got, NULL) != 0 || got != bytes) {
        sodium_memzero(line, sizeof line);
        snprintf(err, err_size, "%s: not a key (one line of %zu hex digits)", path, 2 * bytes);
        return -1;
    }
    sodium_memzero(line, sizeof line);
    return 0;
}

int wr_passsig_key_load(const char *path, uint8_t sk[crypto_sign_SECRETKEYBYTES], char *err,
                        size_t err_size) {
    return load_hex(path, sk, crypto_sign_SECRETKEYBYTES, err, err_size);
}

int wr_passsig_pub_load(const char *path, uint8_t pk[crypto_sign_PUBLICKEYBYTES], char *err,
                        size_t err_size) {
    return load_hex(path, pk, crypto_sign_PUBLICKEYBYTES, err, err_size);
}

long wr_passsig_sign(const uint8_t sk[crypto_sign_SECRETKEYBYTES], const wr_passsig_t *p, char *out,
                     size_t cap) {
    char vhex[33];
    size_t rl = strnlen(p->room, sizeof p->room);
    if (rl == 0 || rl > 64)
        return -1;
    sodium_bin2hex(vhex, sizeof vhex, p->visitor, sizeof p->visitor);
    int n = snprintf(out, cap, "v1 room=%.*s visitor=%s serial=%llu expires=%lld", (int)rl, p->room, vhex,
                     (unsigned long long)p->serial, (long long)p->expires);
    size_t b64 = sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (n < 0 || (size_t)n + 5 + b64 > cap)
        return -1;
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)out, (size_t)n, sk);
    memcpy(out + n, " sig=", 5);
    sodium_bin2base64(out + n + 5, b64, sig, sizeof sig, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return (long)strlen(out);
}

int wr_passsig_verify(const uint8_t pk[crypto_sign_PUBLICKEYBYTES], const char *value, size_t len,
                      int64_t now_s, wr_passsig_t *p) {
    char text[WR_PASSSIG_VALUE_MAX + 1];
    if (len == 0 || len > WR_PASSSIG_VALUE_MAX || memchr(value, '\0', len))
        return WR_PASSSIG_MALFORMED; /* (a NUL would hide what follows it from the checks below) */
    memcpy(text, value, len);
    text[len] = '\0';
    char *sig_at = strstr(text, " sig=");
    if (!sig_at)
        return WR_PASSSIG_MALFORMED;
    size_t signed_len = (size_t)(sig_at - text);
    uint8_t sig[crypto_sign_BYTES];
    size_t got = 0;
    const char *b64 = sig_at + 5;
    /* only URL-safe base64 characters: libsodium's decoder reads some bytes >= 0x80 as valid digits
     * (a signed char), so a changed byte could verify, and a value would not be the one we sign */
    for (const char *k = b64; *k; k++)
        if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '-' ||
              *k == '_'))
            return WR_PASSSIG_MALFORMED;
    if (sodium_base642bin(sig, sizeof sig, b64, strlen(b64), NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        got != sizeof sig)
        return WR_PASSSIG_MALFORMED;
    *sig_at = '\0';
    memset(p, 0, sizeof *p);
    char vhex[33];
    unsigned long long serial;
    long long expires;
    int end = 0;
    if (sscanf(text, "v1 room=%64[A-Za-z0-9_-] visitor=%32[0-9a-f] serial=%llu expires=%lld%n", p->room, vhex,
               &serial, &expires, &end) != 4 ||
        (size_t)end != signed_len || strlen(vhex) != 32 ||
        sodium_hex2bin(p->visitor, sizeof p->visitor, vhex, 32, NULL, &got, NULL) != 0)
        return WR_PASSSIG_MALFORMED;
    p->serial = serial;
    p->expires = expires;
    if (crypto_sign_verify_detached(sig, (const uint8_t *)text, signed_len, pk) != 0)
        return WR_PASSSIG_FORGED;
    return expires <= now_s ? WR_PASSSIG_EXPIRED : WR_PASSSIG_OK;
}
