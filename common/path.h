/* URL path normalisation for route matching. Protected prefixes are only as strong as the
 * normalisation in front of them: "/Checkout", "/./checkout", "//checkout" and "/%63heckout" must all
 * be seen as "/checkout". Pure functions on (ptr, len) slices; no allocation. */
#ifndef WR_PATH_H
#define WR_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Normalises the path part of a request target (no query) into out (out_size >= len + 1; the result
 * is never longer than the input):
 *  - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded, other escapes keep their
 *    encoding with upper-case hex;
 *  - repeated slashes are merged, "." and ".." segments removed (".." never climbs above "/");
 * Returns the normalised length, or -1 when the path cannot be normalised safely: not starting with
 * "/", an encoded "/" "\" or NUL, a raw "\", a control byte, or bad percent-encoding. */
long wr_path_normalize(const char *in, size_t len, char *out, size_t out_size);

/* True when path (normalised) lies under prefix (normalised) on a segment boundary: "/checkout"
 * matches "/checkout" and "/checkout/2", not "/checkoutfoo". A prefix ending in "/" matches anything
 * below it. */
bool wr_path_has_prefix(const char *path, size_t path_len, const char *prefix, size_t prefix_len,
                        bool case_sensitive);

/* The value of a hex digit (either case), or -1. */
int wr_hexval(unsigned char c);

#endif
