/* The one table of a room's key suffixes (see keys.h). The table is indexed by wr_key_t with designated
 * initializers, so reordering the enum cannot pair a key with another's name; the unit test
 * (tests/unit/test_keys.c) pins every name's text and that the longest room name fits. */
#include "common/keys.h"
#include "config/config.h"

#include <stdio.h>
#include <string.h>

static const char *const suffixes[WR_KEY_COUNT] = {
    [WR_KEY_SEQ] = "seq",
    [WR_KEY_BOUNDARY] = "boundary",
    [WR_KEY_SEEN] = "seen",
    [WR_KEY_LEFT] = "left",
    [WR_KEY_ADMITTED] = "admitted",
    [WR_KEY_ACTIVE] = "active",
    [WR_KEY_OWED] = "owed",
    [WR_KEY_REJOIN] = "rejoin",
    [WR_KEY_ENDED] = "ended",
    [WR_KEY_LOG] = "log",
    [WR_KEY_SIG] = "sig",
    [WR_KEY_CTL] = "ctl",
    [WR_KEY_CFG] = "cfg",
    [WR_KEY_HIST] = "hist",
    [WR_KEY_TICK] = "tick",
    [WR_KEY_EPOCH] = "epoch",
    [WR_KEY_SHUFFLE] = "shuffle",
    [WR_KEY_PRE] = "pre",
    [WR_KEY_PRESORTED] = "presorted",
    [WR_KEY_REVOKED] = "revoked",
    [WR_KEY_SKIPPED] = "skipped",
};

/* "presorted" is the longest suffix: a room name config accepts must never be refused here. */
_Static_assert(sizeof "wr:{}:presorted" + WR_ROOM_NAME_MAX_BYTES <= WR_KEY_MAX_BYTES,
               "WR_KEY_MAX_BYTES too small for the longest room name");

int wr_room_keys_init(wr_room_keys_t *keys, const char *room) {
    for (int i = 0; i < WR_KEY_COUNT; i++) {
        int n = snprintf(keys->k[i], sizeof keys->k[i], "wr:{%s}:%s", room, suffixes[i]);
        if (n < 0 || (size_t)n >= sizeof keys->k[i]) {
            memset(keys, 0, sizeof *keys);
            return -1;
        }
    }
    return 0;
}
