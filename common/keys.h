/* The Redis key schema of a room, written once: every key of room R is "wr:{R}:<suffix>", the hash tag
 * keeping a room on one shard so each script touches one slot. The names are a public contract (the Lua
 * scripts, the tests and operators' tooling read them; common/lua/README.md documents them): change
 * none without changing all of those. The gateway's workers and wr-admission keep one wr_room_keys_t per
 * room, formatted at start-up; the admin API formats one per request (they are rare). */
#ifndef WR_KEYS_H
#define WR_KEYS_H

typedef enum {
    WR_KEY_SEQ,
    WR_KEY_BOUNDARY,
    WR_KEY_SEEN,
    WR_KEY_LEFT,
    WR_KEY_ADMITTED,
    WR_KEY_ACTIVE,
    WR_KEY_OWED,
    WR_KEY_REJOIN,
    WR_KEY_ENDED,
    WR_KEY_LOG,
    WR_KEY_SIG,
    WR_KEY_CTL,
    WR_KEY_CFG,
    WR_KEY_HIST,
    WR_KEY_TICK,
    WR_KEY_EPOCH,
    WR_KEY_SHUFFLE,
    WR_KEY_PRE,
    WR_KEY_PRESORTED,
    WR_KEY_REVOKED,
    WR_KEY_SKIPPED,
    WR_KEY_COUNT
} wr_key_t;

/* Room names are at most WR_ROOM_NAME_MAX_BYTES (64, config/config.h): the longest key,
 * "wr:{<64>}:presorted", is 79 bytes and a NUL; keys.c checks this at compile time. */
#define WR_KEY_MAX_BYTES 96

/* One deployment's controller lease (lease.lua): not per room, so without a hash tag. */
#define WR_KEY_LEADER "wr:leader"
#define WR_KEY_LEADER_EPOCH "wr:epoch"

/* Every key of one room, NUL-terminated; owned by whoever embeds the struct. */
typedef struct {
    char k[WR_KEY_COUNT][WR_KEY_MAX_BYTES];
} wr_room_keys_t;

/* Formats every key of `room`; -1 (and the struct zeroed) if a key would not fit, which cannot happen
 * for a name config accepted. */
int wr_room_keys_init(wr_room_keys_t *keys, const char *room);

#endif
