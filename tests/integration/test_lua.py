"""The room scripts (common/lua/*.lua) against a real redis-server: joins, leaves, admission order,
abandonment, claim window, rejoin lane, fencing, tick idempotency, and the exact 'people ahead'
formula the gateways will answer polls with."""
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from resp import LuaRoom, RedisError, RedisServer  # noqa: E402

KEEP_MS = 86400000  # how long revocations are kept (the longest a pass lives)
REJOIN_MS = 900000  # rejoin_window_s: a skipped place comes back to the front only this soon
MAXLEN = 100000
ABANDON_MS = 60000
CLAIM_MS = 120000
SESSION_MS = 600000


def script(name):
    return LuaRoom.source(name)


class Room(LuaRoom):
    """Calls the scripts with the key layout of common/lua/README.md."""

    def __init__(self, r, name):
        super().__init__(r, name, ("join", "leave", "admit", "claim", "release", "view", "extend", "restore"))
        self.tick = 0

    def join(self, visitor, now, want=0, floor=0, settle_ms=1000):
        return self.ev("join", ["seq", "seen", "log", "presorted", "tick"],
                       [visitor, now, "gw1", want, MAXLEN, floor, settle_ms])

    def restore(self, boundary, seq, now, ended=()):
        args = [boundary, "gw1", MAXLEN, seq, now, KEEP_MS]
        for s, ms in ended:
            args += [s, ms]
        return self.ev("restore", ["boundary", "seq", "log", "tick", "ended", "revoked"], args)

    def leave(self, serial, now):
        return self.ev("leave", ["boundary", "left", "log"], [serial, "v%d" % serial, now, "gw1", MAXLEN])

    def heartbeat(self, serials, now):
        args = []
        for s in serials:
            args += ["SET", "u16", "#%d" % s, (now // 4000) % 65535 + 1]
        self.r.call("BITFIELD", self.k("seen"), *args)

    def admit(self, n, now, epoch="1", tick=None, max_scan=10000):
        if tick is None:
            self.tick += 1
            tick = self.tick
        return self.ev("admit", ["seq", "boundary", "seen", "left", "admitted", "rejoin", "log", "tick", "epoch",
                                 "active", "ended", "owed", "revoked", "skipped"],
                       [n, now, ABANDON_MS, CLAIM_MS, tick, epoch, "ctl", MAXLEN, max_scan, KEEP_MS, REJOIN_MS])

    def claim(self, serial, now, had_session=0):
        return self.ev("claim", ["boundary", "admitted", "active", "rejoin", "log", "ended", "owed", "revoked",
                                 "skipped", "tick"],
                       [serial, "v%d" % serial, now, SESSION_MS, CLAIM_MS, "gw1", MAXLEN, KEEP_MS, REJOIN_MS,
                        had_session])

    def admitted(self, n):
        """Visitors v1..vn join and poll at 1,000 ms and are admitted at once; returns admit's answer."""
        for i in range(1, n + 1):
            self.join("v%d" % i, 1000)
        self.heartbeat(list(range(1, n + 1)), 1000)
        return self.admit(n, 1000)

    def in_session(self, n):
        """admitted(n), then each claims at 2,000 ms; returns the claims' answers."""
        self.admitted(n)
        return [self.claim(s, 2000) for s in range(1, n + 1)]

    def release(self, serial, now, reason="released"):
        return self.ev("release", ["active", "log", "ended", "owed", "revoked"],
                       [serial, "v%d" % serial, now, reason, "gw1", MAXLEN, KEEP_MS])

    def view(self, max_left=1000, revoked_after="0", max_revoked=5000):
        return self.ev("view", ["boundary", "seq", "left", "ctl", "cfg", "admitted", "active", "revoked"],
                       [max_left, revoked_after, max_revoked])

    def revoked(self):
        """The revocation stream: [(serial, ms)] in order."""
        out = []
        for _, fields in self.r.call("XRANGE", self.k("revoked"), "-", "+"):
            f = dict(zip(fields[::2], fields[1::2]))
            out.append((int(f[b"s"]), int(f[b"ms"])))
        return out

    def boundary(self):
        return int(self.r.call("GET", self.k("boundary")) or 0)

    def ahead(self, serial):
        """What a gateway computes from its cache: boundary and the left set."""
        b = self.boundary()
        left = [int(x) for x in self.r.call("ZRANGEBYSCORE", self.k("left"), "(%d" % b, "(%d" % serial)]
        return serial - b - 1 - len(left)

    def log(self):
        out = []
        for _id, fields in self.r.call("XRANGE", self.k("log"), "-", "+"):
            d = dict(zip(fields[::2], fields[1::2]))
            out.append((d[b"ev"].decode(), int(d[b"serial"])))
        return out


class Scripts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = RedisServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.r = self.server.client()
        self.r.call("FLUSHALL")
        self.room = Room(self.r, self.id().split(".")[-1])

    def tearDown(self):
        self.r.sock.close()

    def test_join_gives_dense_serials_and_keeps_a_lost_place(self):
        room = self.room
        self.assertEqual([room.join("v%d" % i, 1000) for i in range(1, 4)], [1, 2, 3])
        # Redis lost the room; a visitor returns with serial 2 in their token
        self.r.call("FLUSHALL")
        self.assertEqual(room.join("v2", 2000, want=2), 2)
        self.assertEqual(room.join("new", 2000), 3)  # next place is after the kept one
        self.assertEqual(room.join("v9", 2000, want=9), 9)
        self.assertEqual(room.join("newer", 2000), 10)
        self.assertEqual([e for e, _ in room.log()], ["rejoined", "joined", "rejoined", "joined"])

    def test_no_new_place_below_a_gateways_floor_until_restored_and_settled(self):
        room = self.room
        self.assertEqual([room.join("v%d" % i, 1000) for i in range(1, 6)], [1, 2, 3, 4, 5])
        self.r.call("FLUSHALL")  # Redis lost the room; a gateway that saw serial 5 calls with floor 5
        self.assertEqual(room.join("new", 2000, floor=5), -3)  # a provisional place, not serial 1
        self.assertEqual(room.join("v2", 2000, want=2, floor=5), 2)  # returning visitors keep theirs
        # one gateway puts back what it saw (serial 3); another saw 5 and restores a moment later
        self.assertEqual(room.restore(0, 3, 2100), 1)
        self.assertEqual(room.join("new", 2500, floor=3), -3)  # settling: not yet
        self.assertEqual(room.restore(0, 5, 2600), 1)
        self.assertEqual(room.restore(0, 4, 2700), 0)  # nothing to raise: the settle is not extended
        self.assertEqual(room.join("new", 3500, floor=5), -3)
        self.assertEqual(room.join("new", 3601, floor=5), 6)  # after everything anyone gave out
        self.assertEqual(room.join("v4", 3700, want=4), 4)
        self.assertEqual(room.join("newer", 3800, floor=6), 7)
        evs = [e for e, _ in room.log()]
        self.assertEqual(evs.count("restored"), 2)

    def test_places_not_seen_since_a_loss_get_one_abandon_timeout(self):
        room = self.room
        for i in range(1, 4):
            room.join("v%d" % i, 1000)
        self.r.call("FLUSHALL")  # their heartbeats are gone with everything else
        room.restore(0, 3, 2000)
        self.assertEqual(room.admit(2, 3000)[:4], [2, 2, 0, 0])  # not counted abandoned
        self.assertEqual(room.admit(1, 2000 + ABANDON_MS + 1)[:4], [0, 3, 0, 1])  # after the timeout: they are

    def test_restore_puts_back_the_sessions_a_gateway_knows_ended(self):
        room = self.room
        room.in_session(3)
        room.release(2, 3000)
        self.r.call("FLUSHALL")
        self.assertEqual(room.restore(3, 3, 4000, ended=[(2, 3000)]), 1)
        self.assertEqual(room.revoked(), [(2, 3000)])  # gateways that lost their table learn it again
        self.assertEqual(room.claim(2, 5000), [5, 0])  # spent: no second session
        self.assertEqual(room.restore(3, 3, 4100, ended=[(2, 3000)]), 0)  # idempotent
        self.assertEqual(room.revoked(), [(2, 3000)])

    def test_a_token_marked_as_having_had_its_session_stays_spent_after_a_loss(self):
        room = self.room
        room.in_session(2)
        self.r.call("FLUSHALL")
        room.restore(2, 2, 4000)
        self.assertEqual(room.claim(1, 5000, had_session=1), [5, 0])
        self.assertEqual(room.claim(1, 5100), [5, 0])  # and now noted as ended
        self.assertEqual(room.claim(2, 5200), [2, 0])  # unmarked: the benefit of the doubt (rejoins)

    def test_admission_in_join_order_with_exact_positions(self):
        room = self.room
        for i in range(1, 101):
            room.join("v%d" % i, 1000)
        self.assertEqual(room.ahead(1), 0)
        self.assertEqual(room.ahead(100), 99)
        order = []
        now = 1000
        while room.boundary() < 100:
            now += 1000
            room.heartbeat(range(room.boundary() + 1, 101), now)
            a = room.admit(7, now)
            self.assertLessEqual(a[0], 7)
            # one tick admits at one time: its members are in serial order among themselves
            order += sorted(int(x) for x in self.r.call("ZRANGE", room.k("admitted"), 0, -1))
            self.r.call("DEL", room.k("admitted"))
            for s in range(room.boundary() + 1, 101):
                self.assertEqual(room.ahead(s), s - room.boundary() - 1)
        self.assertEqual(order, list(range(1, 101)))  # zero inversions

    def test_leave_frees_the_place_at_once(self):
        room = self.room
        for i in range(1, 11):
            room.join("v%d" % i, 1000)
        self.assertEqual(room.ahead(10), 9)
        self.assertEqual(room.leave(4, 1500), 1)
        self.assertEqual(room.leave(4, 1600), 1)  # twice: still one place freed
        self.assertEqual(room.ahead(10), 8)
        self.assertEqual(room.ahead(3), 2)
        room.heartbeat(range(1, 11), 2000)
        a = room.admit(5, 2000)
        self.assertEqual(a[0], 5)
        self.assertEqual(a[4], 1)  # one left place skipped
        self.assertEqual(sorted(int(x) for x in self.r.call("ZRANGE", room.k("admitted"), 0, -1)), [1, 2, 3, 5, 6])
        self.assertEqual(room.boundary(), 6)
        self.assertEqual(room.leave(2, 2100), 0)  # already past the boundary: nothing to free
        self.assertEqual(self.r.call("ZCARD", room.k("left")), 0)  # pruned as the boundary passed
        self.assertIn(("left", 4), room.log())
        room.leave(8, 2200)
        room.leave(9, 2200)
        # boundary, seq, inventory + 1 (unknown), sold out (no), live state (none), admitted not claimed,
        # active sessions, controller rate x 1000, live open_at (none), live session_ttl_s (none), the last
        # revocation read ("0": none), new revocations (none), leavers beyond the boundary
        self.assertEqual(room.view(), [6, 10, 0, 0, 0, 5, 0, 0, 0, 0, b"0", 0, 8, 9])  # admitted 5 (1-6 minus a leaver)
        self.assertEqual(room.view(max_left=1), [6, 10, 0, 0, 0, 5, 0, 0, 0, 0, b"0", 0, 8])
        self.r.call("HSET", room.k("ctl"), "inventory", 0, "sold_out", 1, "rate_per_minute", "12.5")
        self.r.call("HSET", room.k("cfg"), "state", "paused", "open_at", 1800000000, "session_ttl_s", 120)
        self.assertEqual(room.view(max_left=0), [6, 10, 1, 1, 3, 5, 0, 12500, 1800000000, 120, b"0", 0])

    def test_abandoned_visitors_are_skipped_and_rejoin_first(self):
        room = self.room
        for i in range(1, 6):
            room.join("v%d" % i, 0)
        now = ABANDON_MS + 20000
        room.heartbeat([1, 3, 5], now)  # 2 and 4 stopped polling long ago
        a = room.admit(10, now)
        self.assertEqual(a[0], 3)
        self.assertEqual(a[3], 2)
        self.assertEqual(room.boundary(), 5)
        self.assertIn(("abandoned", 2), room.log())
        # 4 comes back: not admitted yet, queued in the rejoin lane, admitted before newcomers
        self.assertEqual(room.claim(4, now + 1000), [2, 0])
        room.join("v6", now + 1000)
        room.heartbeat([6], now + 1000)
        self.r.call("DEL", room.k("admitted"))
        a = room.admit(1, now + 2000)
        self.assertEqual(a[0], 1)
        self.assertEqual(self.r.call("ZRANGE", room.k("admitted"), 0, -1), [b"4"])
        self.assertEqual(room.boundary(), 5)  # 6 still waits
        self.assertEqual(room.claim(6, now + 2000), [3, 0])

    def test_rejoin_only_within_the_window(self):
        """Issue 13: a place skipped without its visitor (abandoned, no-show) comes back to the front only
        within rejoin_window_s of being skipped; later it is spent: no hoarding early places for free."""
        room = self.room
        for i in range(1, 5):
            room.join("v%d" % i, 0)
        now = ABANDON_MS + 20000
        room.heartbeat([3, 4], now)  # 1 and 2 stopped polling
        room.admit(10, now)  # 1 and 2 skipped (abandoned), 3 and 4 admitted
        self.assertEqual(room.claim(1, now + REJOIN_MS), [2, 0])  # just within the window: the front
        self.assertEqual(room.claim(2, now + REJOIN_MS + 1), [5, 0])  # too late: spent, a new place
        self.assertIn(("rejoin_refused", 2), room.log())
        # a no-show (admitted, never came) is bound the same way
        later = now + CLAIM_MS + 1000
        room.admit(0, later)  # 3 and 4: no-shows
        self.assertEqual(room.claim(3, later + 1000), [2, 0])
        self.assertEqual(room.claim(4, later + REJOIN_MS + 1), [5, 0])
        # the notes are trimmed past the window, and a note missing then still means "too late"
        room.admit(0, later + 2 * REJOIN_MS)
        self.assertEqual(self.r.call("ZCARD", room.k("skipped")), 0)
        self.assertEqual(room.claim(4, later + 2 * REJOIN_MS + 1), [5, 0])

    def test_rejoin_after_redis_lost_the_notes(self):
        """No note and no record of when the notes began (Redis lost its data): the benefit of the doubt."""
        room = self.room
        for i in range(1, 4):
            room.join("v%d" % i, 0)
        room.heartbeat([1, 2, 3], 1000)
        room.admit(3, 1000)
        self.r.call("DEL", room.k("admitted"), room.k("skipped"), room.k("tick"))  # the data is gone
        self.assertEqual(room.claim(2, 10 * REJOIN_MS), [2, 0])  # rejoins at the front

    def test_claim_window_session_and_release(self):
        room = self.room
        room.admitted(3)
        self.assertEqual(room.claim(1, 5000), [1, 5000 + SESSION_MS])
        self.assertEqual(room.claim(1, 6000), [4, 5000 + SESSION_MS])  # second tab: same session
        # 2 never shows: the next tick after the claim window counts a no-show and frees the slot
        a = room.admit(0, 1000 + CLAIM_MS + 1)
        self.assertEqual(a[2], 2)  # 2 and 3 were both no-shows
        self.assertIn(("no_show", 2), room.log())
        self.assertEqual(room.claim(2, 1000 + CLAIM_MS + 5000), [2, 0])  # late: back via the rejoin lane
        self.assertEqual(room.release(1, 9000), 1)
        self.assertEqual(room.release(1, 9001), 0)
        self.assertIn(("released", 1), room.log())
        self.assertEqual(self.r.call("ZCARD", room.k("active")), 0)

    def extend(self, serial, now, end, reason="extended", status=0):
        return self.room.ev("extend", ["active", "log", "owed", "ended"], [serial, "v%d" % serial, now, end, reason, "gw1", MAXLEN,
                                                          status])

    def test_session_end_spends_the_place(self):
        room = self.room
        self.assertEqual([c[0] for c in room.in_session(3)], [1, 1, 1])
        # 1 is released by the origin: its token can never claim again (no second turn by replay)
        self.assertEqual(room.release(1, 3000), 1)
        self.assertEqual(room.claim(1, 3001), [5, 0])
        # 2's session runs out; the next tick ends it, logs it and frees its capacity
        a = room.admit(0, 2000 + SESSION_MS + 1)
        self.assertEqual(a[5], 2)  # 2 and 3 both expired
        self.assertIn(("expired", 2), room.log())
        self.assertEqual(self.r.call("ZCARD", room.k("active")), 0)
        self.assertEqual(room.claim(2, 2000 + SESSION_MS + 2), [5, 0])
        # a repeated tick id returns the stored result, expiries included
        self.assertEqual(room.admit(0, 2000 + SESSION_MS + 1, tick=room.tick)[5], 2)

    def test_every_session_end_is_revoked_and_read_incrementally(self):
        """Released, completed, expired at a tick, run out at a claim, owed: each goes to wr:{R}:revoked,
        and view.lua hands each gateway the ones after the last it read."""
        room = self.room
        room.in_session(4)
        end = 2000 + SESSION_MS
        room.release(1, 3000)
        room.release(2, 3100, "completed")
        self.extend(4, 3200, end, "grace", 502)  # owed: runs out, lets in again later, revoked all the same
        room.admit(0, end + 1)  # 3 expired, 4 owed
        self.assertEqual(room.revoked(), [(1, 3000), (2, 3100), (3, end + 1), (4, end + 1)])
        v = room.view(max_left=0)
        self.assertEqual(v[11], 4)
        self.assertEqual(v[12:], [1, 3000, 2, 3100, 3, end + 1, 4, end + 1])
        last = v[10]
        self.assertEqual(room.view(max_left=0, revoked_after=last.decode())[10:12], [last, 0])  # nothing new
        page = room.view(max_left=0, max_revoked=2)
        self.assertEqual(page[11:], [2, 1, 3000, 2, 3100])  # paged
        self.assertEqual(room.view(max_left=0, revoked_after=page[10].decode())[11:], [2, 3, end + 1, 4, end + 1])

    def test_claim_after_expiry_is_revoked(self):
        room = self.room
        room.in_session(1)
        self.assertEqual(room.claim(1, 2000 + SESSION_MS), [5, 0])
        self.assertEqual(room.revoked(), [(1, 2000 + SESSION_MS)])

    def test_claim_after_expiry_before_tick(self):
        room = self.room
        room.in_session(1)
        self.assertEqual(room.claim(1, 2000 + SESSION_MS), [5, 0])
        self.assertIn(("expired", 1), room.log())
        self.assertEqual(self.r.call("ZCARD", room.k("active")), 0)

    def test_extend_and_grace(self):
        room = self.room
        room.in_session(1)
        end = 2000 + SESSION_MS
        self.assertEqual(self.extend(1, 3000, end + 5000), 1)
        self.assertEqual(int(float(self.r.call("ZSCORE", room.k("active"), 1))), end + 5000)
        self.assertEqual(self.extend(1, 3000, end), 0)  # never shortens
        self.assertEqual([e for e in room.log() if e[0] == "extended"], [("extended", 1)])
        # a grace that moves nothing is still logged: the origin failed this buyer
        self.assertEqual(self.extend(1, 3000, end, "grace", 502), 0)
        self.assertIn(("origin_error", 1), room.log())
        # an ended session is not brought back, and says so (-1: no pass may be renewed)
        room.release(1, 4000)
        self.assertEqual(self.extend(1, 4001, end + 10000), -1)
        self.assertEqual(self.extend(2, 4001, end + 10000), -2)  # never known (Redis lost it): not renewed
        self.assertEqual(self.r.call("ZCARD", room.k("active")), 0)

    def test_owed_first_after_an_origin_failure(self):
        # the origin failed buyer 1 during checkout (a grace); the session runs out without completing:
        # buyer 1 is owed a turn and goes before anyone new; buyer 3 completed after a failure: not owed
        room = self.room
        room.in_session(3)
        end = 2000 + SESSION_MS
        self.assertEqual(self.extend(1, 3000, end + 60000, "grace", 502), 1)
        self.assertEqual(self.extend(3, 3000, end + 60000, "grace", 504), 1)
        self.assertEqual(room.release(3, 4000), 1)  # bought after all
        for i in range(4, 6):
            room.join("v%d" % i, end)
        room.heartbeat([4, 5], end + 70000)
        a = room.admit(0, end + 61000)
        self.assertEqual(a[5], 2)  # two sessions ran out: 1 (owed) and 2 (expired)
        log = room.log()
        self.assertIn(("owed", 1), log)
        self.assertIn(("expired", 2), log)
        self.assertNotIn(("owed", 3), log)
        self.assertEqual(room.claim(2, end + 61001), [5, 0])  # 2's turn is spent
        a = room.admit(1, end + 62000)
        self.assertEqual(self.r.call("ZRANGE", room.k("admitted"), 0, -1), [b"1"])  # owed first, not 4
        self.assertEqual(room.claim(1, end + 63000)[0], 1)  # and gets a new session
        self.assertEqual(room.boundary(), 3)

    def test_owed_noticed_at_claim(self):
        room = self.room
        room.in_session(1)
        self.extend(1, 3000, 2000 + SESSION_MS, "grace", 502)  # logged, the end does not move, owed
        self.assertEqual(room.claim(1, 2000 + SESSION_MS + 1), [2, 0])  # ran out: in the lane, not spent
        self.assertIn(("owed", 1), room.log())
        self.assertEqual(self.r.call("ZSCORE", room.k("rejoin"), 1), b"0")

    def test_fencing_and_tick_idempotency(self):
        room = self.room
        for i in range(1, 11):
            room.join("v%d" % i, 1000)
        room.heartbeat(range(1, 11), 1000)
        self.r.call("SET", room.k("epoch"), 7)
        with self.assertRaises(RedisError) as e:
            room.admit(3, 1000, epoch="6")
        self.assertIn("FENCED", str(e.exception))
        self.assertEqual(room.boundary(), 0)
        first = room.admit(3, 1000, epoch="7", tick=42)
        again = room.admit(3, 1000, epoch="7", tick=42)  # a retried call: nothing moves
        older = room.admit(3, 1000, epoch="7", tick=41)
        self.assertEqual(first, again)
        self.assertEqual(first, older)
        self.assertEqual(room.boundary(), 3)
        self.assertEqual(room.admit(3, 1000, epoch="7", tick=43)[1], 6)
        # a new leader (epoch 8) takes over: its first call raises the room's epoch, the old one is refused
        self.assertEqual(room.admit(1, 1000, epoch="8", tick=(8 << 32) + 1)[1], 7)
        self.assertEqual(self.r.call("GET", room.k("epoch")), b"8")
        with self.assertRaises(RedisError):
            room.admit(3, 1000, epoch="7", tick=44)
        self.assertEqual(room.boundary(), 7)

    def test_lease_and_epoch(self):
        sha = self.r.call("SCRIPT", "LOAD", script("lease")).decode()

        def lease(who, ttl=300):
            return self.r.call("EVALSHA", sha, 2, "wr:leader", "wr:epoch", who, ttl, 0)

        self.assertEqual(lease("a"), [2, 1])  # took it: epoch 1
        self.assertEqual(lease("a"), [1, 1])  # renewed
        self.assertEqual(lease("b"), [0, 1])  # someone else leads
        time.sleep(0.4)  # a's lease runs out (a paused, or gone)
        self.assertEqual(lease("b"), [2, 2])  # b takes over with a new epoch
        self.assertEqual(lease("a"), [0, 2])  # a comes back: not the leader, and its epoch 1 is fenced

    def test_scan_is_bounded_per_call(self):
        room = self.room
        for i in range(1, 2001):
            room.join("v%d" % i, 0)  # all abandoned by the time admission runs
        a = room.admit(10, ABANDON_MS * 10, max_scan=500)
        self.assertEqual(a[0], 0)
        self.assertEqual(room.boundary(), 500)

    def test_random_history_positions_stay_exact_and_never_increase(self):
        rnd = random.Random(7)
        room = self.room
        waiting, gone = [], set()
        last_ahead = {}
        now = 0
        for step in range(400):
            now += 250
            op = rnd.random()
            if op < 0.5:
                waiting.append(room.join("v", now))
            elif op < 0.6 and waiting:
                s = rnd.choice(waiting)
                if s > room.boundary():
                    room.leave(s, now)
                    gone.add(s)
            else:
                room.heartbeat([s for s in waiting if s not in gone], now)
                room.admit(rnd.randint(0, 3), now)
            b = room.boundary()
            left = set(int(x) for x in self.r.call("ZRANGE", room.k("left"), 0, -1))
            for s in waiting:
                if s > b and s not in gone:
                    true_ahead = len([t for t in waiting if b < t < s and t not in gone])
                    self.assertEqual(room.ahead(s), true_ahead)
                    self.assertLessEqual(true_ahead, last_ahead.get(s, true_ahead))
                    last_ahead[s] = true_ahead
            self.assertTrue(all(x > b for x in left))


if __name__ == "__main__":
    unittest.main()
