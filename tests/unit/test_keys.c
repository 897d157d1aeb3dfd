/* The Redis key schema (common/keys.h): every key's exact text, since the Lua scripts, the integration
 * tests and common/lua/README.md name them; the longest room name config accepts fits, a longer one is
 * refused rather than cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/keys.h"
#include "config/config.h"

#include <string.h>

static void test_every_key_text(void **state) {
    (void)state;
    static const struct {
        wr_key_t which;
        const char *text;
    } want[] = {
        {WR_KEY_SEQ, "wr:{drop-1_A}:seq"},
        {WR_KEY_BOUNDARY, "wr:{drop-1_A}:boundary"},
        {WR_KEY_SEEN, "wr:{drop-1_A}:seen"},
        {WR_KEY_LEFT, "wr:{drop-1_A}:left"},
        {WR_KEY_ADMITTED, "wr:{drop-1_A}:admitted"},
        {WR_KEY_ACTIVE, "wr:{drop-1_A}:active"},
        {WR_KEY_OWED, "wr:{drop-1_A}:owed"},
        {WR_KEY_REJOIN, "wr:{drop-1_A}:rejoin"},
        {WR_KEY_ENDED, "wr:{drop-1_A}:ended"},
        {WR_KEY_LOG, "wr:{drop-1_A}:log"},
        {WR_KEY_SIG, "wr:{drop-1_A}:sig"},
        {WR_KEY_CTL, "wr:{drop-1_A}:ctl"},
        {WR_KEY_CFG, "wr:{drop-1_A}:cfg"},
        {WR_KEY_HIST, "wr:{drop-1_A}:hist"},
        {WR_KEY_TICK, "wr:{drop-1_A}:tick"},
        {WR_KEY_EPOCH, "wr:{drop-1_A}:epoch"},
        {WR_KEY_SHUFFLE, "wr:{drop-1_A}:shuffle"},
        {WR_KEY_PRE, "wr:{drop-1_A}:pre"},
        {WR_KEY_PRESORTED, "wr:{drop-1_A}:presorted"},
        {WR_KEY_REVOKED, "wr:{drop-1_A}:revoked"},
        {WR_KEY_SKIPPED, "wr:{drop-1_A}:skipped"},
    };
    /* a key added to the enum without a line here fails: its name has to be written down once more */
    assert_int_equal(sizeof want / sizeof want[0], WR_KEY_COUNT);
    wr_room_keys_t keys;
    assert_int_equal(wr_room_keys_init(&keys, "drop-1_A"), 0);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_string_equal(keys.k[want[i].which], want[i].text);
    assert_string_equal(WR_KEY_LEADER, "wr:leader");
    assert_string_equal(WR_KEY_LEADER_EPOCH, "wr:epoch");
}

static void test_longest_room_name_fits(void **state) {
    (void)state;
    char name[WR_ROOM_NAME_MAX_BYTES + 1];
    memset(name, 'r', WR_ROOM_NAME_MAX_BYTES);
    name[WR_ROOM_NAME_MAX_BYTES] = '\0';
    wr_room_keys_t keys;
    assert_int_equal(wr_room_keys_init(&keys, name), 0);
    for (int i = 0; i < WR_KEY_COUNT; i++) {
        assert_int_equal(memcmp(keys.k[i], "wr:{", 4), 0);
        assert_int_equal(memcmp(keys.k[i] + 4, name, WR_ROOM_NAME_MAX_BYTES), 0);
        assert_int_equal(memcmp(keys.k[i] + 4 + WR_ROOM_NAME_MAX_BYTES, "}:", 2), 0);
    }
    assert_string_equal(keys.k[WR_KEY_PRESORTED] + 4 + WR_ROOM_NAME_MAX_BYTES, "}:presorted");
}

static void test_too_long_name_refused(void **state) {
    (void)state;
    char name[WR_KEY_MAX_BYTES];
    memset(name, 'r', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    wr_room_keys_t keys;
    memset(&keys, 'x', sizeof keys);
    assert_int_equal(wr_room_keys_init(&keys, name), -1);
    for (int i = 0; i < WR_KEY_COUNT; i++) /* nothing half-written is left to be sent to Redis */
        assert_string_equal(keys.k[i], "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key_text),
        cmocka_unit_test(test_longest_room_name_fits),
        cmocka_unit_test(test_too_long_name_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
