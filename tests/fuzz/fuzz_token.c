/* Fuzz target: cookie values as queue tokens and passes. Anything must decode to "no token" or to a
 * record that re-encodes to exactly the same text (the only text a record has). */
#include "common/token.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static wr_keyring_t kr;
    static int ready;
    if (!ready) {
        char err[128];
        if (wr_keyring_parse(&kr, "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", err,
                             sizeof err) != 0)
            abort();
        ready = 1;
    }
    wr_token_t t;
    for (int type = 0; type < 2; type++) {
        wr_token_type_t ty = type ? WR_TOKEN_PASS : WR_TOKEN_QUEUE;
        if (wr_token_decode(&kr, "sale", 4, ty, (const char *)data, size, 0, &t) == 0) {
            char again[WR_TOKEN_TEXT_BYTES + 1];
            if (wr_token_encode(&kr, "sale", 4, &t, again, sizeof again) != 0 ||
                size != WR_TOKEN_TEXT_BYTES || memcmp(again, data, size) != 0)
                abort();
        }
    }
    return 0;
}
