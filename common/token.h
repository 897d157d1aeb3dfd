/* Queue tokens (cookie wr_q) and passes (cookie wr_p): small signed records a visitor carries, so the
 * gateway can recognise a place in the queue or an admitted session without asking Redis.
 *
 * Wire form: base64url (no padding) of a fixed 92-byte record
 *   version(1)=1 | type(1) 'q'|'p' | key_id(2) | room_tag(8) | visitor(16) | serial(8) |
 *   issued_at(8) | expires_at(8) | max_until(8) | MAC(32)
 * integers big-endian; MAC = crypto_auth (HMAC-SHA-512-256) over everything before it, under the key
 * named by key_id. room_tag = the first 8 bytes of BLAKE2b(room name), so a token of one room is no
 * token in another. Anything that does not verify exactly — wrong length, version, type, key, room,
 * MAC, or an expired record — is "no token": callers never see why, and never crash.
 * Times are unix seconds and are always passed in by the caller (tests drive the clock). */
#ifndef WR_TOKEN_H
#define WR_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WR_TOKEN_RAW_BYTES 92
#define WR_TOKEN_TEXT_BYTES 123 /* base64url without padding, without the NUL */
#define WR_TOKEN_KEY_BYTES 32
#define WR_TOKEN_MAX_KEYS 2 /* current + previous */

typedef enum { WR_TOKEN_QUEUE = 'q', WR_TOKEN_PASS = 'p' } wr_token_type_t;

typedef struct {
    wr_token_type_t type;
    uint16_t key_id; /* filled in by wr_token_encode */
    uint8_t visitor[16];
    uint64_t serial;    /* place in the queue (kept in the pass too, for the audit trail) */
    int64_t issued_at;  /* queue: join time (s); pass: admitted, or renewal confirmed, at (ms) */
    int64_t expires_at; /* the record is refused from this second on */
    int64_t max_until;  /* pass: no extension past this; queue: 1 = in the pre-queue (serial 0), 2 = the
                           pre-queue was full (first-come at the opening), else 0 */
} wr_token_t;

typedef struct {
    uint16_t id;
    uint8_t key[WR_TOKEN_KEY_BYTES];
} wr_token_key_t;

/* keys[0] signs; every key verifies. Owned by the caller; wipe with wr_keyring_wipe. */
typedef struct {
    wr_token_key_t keys[WR_TOKEN_MAX_KEYS];
    int n;
} wr_keyring_t;

/* Reads a key file ("KEYID HEX64" lines, current first, '#' comments). Returns 0, or -1 with err. */
int wr_keyring_load(wr_keyring_t *kr, const char *path, char *err, size_t err_size);
/* Same from text (tests). */
int wr_keyring_parse(wr_keyring_t *kr, const char *text, char *err, size_t err_size);
void wr_keyring_wipe(wr_keyring_t *kr);

/* Writes the token's text form (WR_TOKEN_TEXT_BYTES + NUL) into out. Returns 0 or -1. */
int wr_token_encode(const wr_keyring_t *kr, const char *room, size_t room_len, wr_token_t *t, char *out,
                    size_t out_size);

/* Why a text is no token (all mean "no token" to the caller; the reason is for metrics). */
enum {
    WR_TOKEN_MALFORMED = -1, /* wrong length, not base64url, unknown version, another token type */
    WR_TOKEN_FORGED = -2, /* unknown key id or a MAC that does not verify (tampered, forged, rotated out) */
    WR_TOKEN_OTHER_ROOM = -3, /* genuine, but another room's (normal when rooms share a host) */
    WR_TOKEN_EXPIRED = -4,
};

/* Verifies text (len bytes, not NUL-terminated) as a token of `type` for `room`, valid at `now`.
 * Returns 0 and fills *t, or one of the negative reasons above. */
int wr_token_decode(const wr_keyring_t *kr, const char *room, size_t room_len, wr_token_type_t type,
                    const char *text, size_t len, int64_t now, wr_token_t *t);

#endif
