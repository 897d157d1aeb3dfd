/* Stand-alone driver for the fuzz targets when the compiler has no libFuzzer (gcc builds, CI's
 * default): runs LLVMFuzzerTestOneInput over every file given, then over a fixed number of seeded
 * random mutations of them, so `meson test --suite fuzz` exercises each target deterministically
 * under the sanitizers. With clang, build with -Dfuzzing=true for real coverage-guided fuzzing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 4096

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv) {
    static uint8_t seeds[64][MAX_INPUT];
    static size_t lens[64];
    int nseeds = 0;
    long iterations = 20000;
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "-runs=", 6)) {
            iterations = atol(argv[i] + 6);
            continue;
        }
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 2;
        }
        if (nseeds < 64) {
            lens[nseeds] = fread(seeds[nseeds], 1, MAX_INPUT, f);
            LLVMFuzzerTestOneInput(seeds[nseeds], lens[nseeds]);
            nseeds++;
        }
        fclose(f);
    }
    if (nseeds == 0) {
        lens[0] = 0;
        nseeds = 1;
    }
    uint8_t buf[MAX_INPUT];
    for (long it = 0; it < iterations; it++) {
        int s = (int)(next() % (uint64_t)nseeds);
        size_t n = lens[s];
        memcpy(buf, seeds[s], n);
        int edits = 1 + (int)(next() % 6);
        for (int e = 0; e < edits; e++) {
            size_t pos = n ? (size_t)(next() % n) : 0;
            switch (next() % 4) {
            case 0: /* flip a bit */
                if (n)
                    buf[pos] ^= (uint8_t)(1u << (next() % 8));
                break;
            case 1: /* random byte */
                if (n)
                    buf[pos] = (uint8_t)next();
                break;
            case 2: /* delete a run */
                if (n) {
                    size_t k = 1 + (size_t)(next() % 8);
                    if (pos + k > n)
                        k = n - pos;
                    memmove(buf + pos, buf + pos + k, n - pos - k);
                    n -= k;
                }
                break;
            default: /* duplicate a run */
                if (n && n < MAX_INPUT - 16) {
                    size_t k = 1 + (size_t)(next() % 16), from = (size_t)(next() % n);
                    if (from + k > n)
                        k = n - from;
                    memmove(buf + pos + k, buf + pos, n - pos);
                    memmove(buf + pos, buf + from + (from >= pos ? k : 0), k);
                    n += k;
                }
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("%ld inputs from %d seeds: no crash\n", iterations + nseeds, nseeds);
    return 0;
}
