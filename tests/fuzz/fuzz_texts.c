/* Fuzz target: the text records one process reads from another through Redis (the gateways' origin
 * signals, the dashboard's history samples) and the signed Waitroom-Pass header an origin checks.
 * None may crash or read out of bounds; a signal or sample that parses must format back to a text that
 * parses to the same record; a header that verifies must be one this key signed. */
#include "common/history.h"
#include "common/passsig.h"
#include "common/signals.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    static int ready;
    if (!ready) {
        uint8_t seed[crypto_sign_SEEDBYTES] = {7};
        if (sodium_init() < 0)
            abort();
        crypto_sign_seed_keypair(pk, sk, seed);
        ready = 1;
    }
    const char *text = (const char *)data;

    wr_hist_sample_t h, h2;
    if (wr_hist_parse(text, size, &h) == 0) {
        char again[WR_HIST_TEXT_MAX];
        int n = wr_hist_format(&h, again, sizeof again);
        if (n < 0 || wr_hist_parse(again, (size_t)n, &h2) != 0 || h2.ms != h.ms || h2.waiting != h.waiting ||
            strcmp(h2.reason, h.reason) != 0)
            abort();
    }

    uint64_t end_ms;
    int64_t inventory;
    wr_sig_counts_t c = {0};
    if (wr_sig_parse(text, size, &end_ms, &inventory, &c) == 0) {
        char again[WR_SIG_TEXT_MAX];
        int n = wr_sig_format(&c, end_ms, inventory, again, sizeof again);
        uint64_t end2;
        int64_t inv2;
        wr_sig_counts_t c2 = {0};
        if (n < 0 || wr_sig_parse(again, (size_t)n, &end2, &inv2, &c2) != 0 || end2 != end_ms ||
            c2.requests != c.requests)
            abort();
    }

    wr_passsig_t p;
    if (wr_passsig_verify(pk, text, size, 0, &p) == WR_PASSSIG_OK) {
        char again[WR_PASSSIG_VALUE_MAX];
        long n = wr_passsig_sign(sk, &p, again, sizeof again);
        if (n < 0 || (size_t)n != size || memcmp(again, text, size) != 0)
            abort(); /* Ed25519 signatures are deterministic: a valid value is the one we would sign */
    }
    return 0;
}
