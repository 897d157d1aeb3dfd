/* The optional Waitroom-Pass request header: proof, for the origin, that a request comes from a visitor
 * who passed the queue. The gateway signs it with Ed25519 (libsodium crypto_sign_detached) using the key
 * in [origin] pass_signing_key_file; the origin verifies it with the public key (the file's ".pub"
 * companion, hex) and needs no secret. Its value:
 *
 *   v1 room=ROOM visitor=HEX32 serial=N expires=UNIX sig=BASE64URL
 *
 * where sig signs every byte before " sig=". A client's own Waitroom-Pass header is always dropped, so
 * the origin sees only the gateway's. Signing costs ~20 us; the gateway keeps the last value per visitor
 * (it changes only when the pass is renewed). */
#ifndef WR_PASSSIG_H
#define WR_PASSSIG_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WR_PASSSIG_VALUE_MAX 320

enum { WR_PASSSIG_OK = 0, WR_PASSSIG_MALFORMED = -1, WR_PASSSIG_FORGED = -2, WR_PASSSIG_EXPIRED = -3 };

typedef struct {
    char room[65];
    uint8_t visitor[16];
    uint64_t serial;
    int64_t expires;
} wr_passsig_t;

/* Creates the secret key file (hex, mode 0600) and PATH.pub (the public key, hex) if the secret is
 * missing; *created says whether it did. Returns 0, or -1 with err. */
int wr_passsig_key_ensure(const char *path, bool *created, char *err, size_t err_size);

/* Reads the secret key file. Returns 0, or -1 with err. */
int wr_passsig_key_load(const char *path, uint8_t sk[crypto_sign_SECRETKEYBYTES], char *err, size_t err_size);

/* Reads a public key file (64 hex digits). Returns 0, or -1 with err. */
int wr_passsig_pub_load(const char *path, uint8_t pk[crypto_sign_PUBLICKEYBYTES], char *err, size_t err_size);

/* Writes the header value (no name, no CRLF) into out. Returns its length, or -1 if cap is too small
 * or the room name is longer than 64 bytes. */
long wr_passsig_sign(const uint8_t sk[crypto_sign_SECRETKEYBYTES], const wr_passsig_t *p, char *out,
                     size_t cap);

/* Checks a header value against the public key and the time. Fills *p when the format is right.
 * Returns WR_PASSSIG_OK, _MALFORMED, _FORGED (bad signature) or _EXPIRED. */
int wr_passsig_verify(const uint8_t pk[crypto_sign_PUBLICKEYBYTES], const char *value, size_t len,
                      int64_t now_s, wr_passsig_t *p);

#endif
