/* The binaries carry the room scripts: the embedded text must be exactly the files in common/lua. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lua_scripts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_embedded_equals_files(void **state) {
    (void)state;
    const char *dir = getenv("WR_LUA_DIR");
    assert_non_null(dir);
    for (int i = 0; i < WR_LUA_COUNT; i++) {
        char path[512], text[65536];
        snprintf(path, sizeof path, "%s/%s.lua", dir, wr_lua_names[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        assert_true(n > 100);
        assert_string_equal(wr_lua_sources[i], text);
    }
    assert_string_equal(wr_lua_names[WR_LUA_ADMIT], "admit");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_embedded_equals_files)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
