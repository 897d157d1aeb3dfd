"""Redis wiped mid-sale (issue 14, item 2): after any loss of Redis data no two visitors share a place,
nobody who already had their session gets a second one, and nobody loses a place. Real gateways (two
workers: each has its own view and its own knowledge) on a real Redis, wiped with FLUSHALL."""
import base64
import json
import os
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, RoomTest, Visitor, admit, wait_for  # noqa: E402


def status(v):
    return json.loads(v.get("/__waitroom/status?room=sale").body)


def token_field(text, at):
    raw = base64.urlsafe_b64decode(text.split(".")[0] + "==")
    return struct.unpack(">q", raw[at:at + 8])[0]


def token_mark(text):
    """max_until of a wr_q token (common/token.h: bytes 52..60 of the record); 3 = its place had its session."""
    return token_field(text, 52)


def token_serial(text):
    return token_field(text, 28)


class WipedWhileWaiting(RoomTest):
    WORKERS = 2
    ROOMS = "[room sale]\npaths = /checkout\nstate = paused\n"

    def test_newcomers_never_share_a_place_with_visitors_coming_back(self):
        early = [Visitor(self.gw.port) for _ in range(10)]
        for i, v in enumerate(early):
            self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["position"], i + 1)
        time.sleep(0.5)  # both workers' views have seen serial 10
        self.r.call("FLUSHALL")
        # at once, before any gateway noticed: three come back, three newcomers arrive
        newcomers = [Visitor(self.gw.port) for _ in range(3)]
        crowd = early[:3] + newcomers
        threads = [threading.Thread(target=v.get, args=("/checkout",), kwargs={"json_": True}) for v in crowd]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        everyone = early + newcomers

        def placed():
            return all(status(v).get("position") for v in everyone)

        self.assertTrue(wait_for(placed, timeout=15))
        positions = [status(v)["position"] for v in everyone]
        self.assertEqual(positions[:10], list(range(1, 11)), positions)  # nobody lost a place
        self.assertEqual(sorted(positions[10:]), [11, 12, 13], positions)  # nobody got one already held
        self.assertEqual(int(self.r.call("GET", "wr:{sale}:seq")), 13)
        events = [dict(zip(f[::2], f[1::2]))[b"ev"] for _, f in self.r.call("XRANGE", "wr:{sale}:log", "-", "+")]
        self.assertIn(b"restored", events)


class WipedAfterSessions(RoomTest):
    WORKERS = 2

    def session(self):
        """A visitor who joins, is admitted, claims (the origin sees a request) and finishes (release=done).
        Returns (visitor, their queue token before the claim, after it)."""
        v = Visitor(self.gw.port)
        self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["state"], "waiting")
        self.assertTrue(wait_for(lambda: status(v).get("position")))  # (a provisional place right after a restore)
        before = v.cookies["wr_q"]
        admit(self.r, 100, gw=self.gw)
        self.assertEqual(v.get("/checkout/seat").status, 302)  # admitted: the pass, then the same page
        self.assertIn("wr_p", v.cookies)
        self.assertEqual(v.get("/checkout/seat").body, b"hello from origin /checkout/seat\n")
        after = v.cookies["wr_q"]
        self.assertEqual(token_mark(after), 3)  # the place is marked: it had its session
        self.assertEqual(token_mark(before), 0)
        r = v.get("/checkout/pay?release=done")
        self.assertEqual(r.body, b"thanks for your order\n")
        return v, before, after

    def proxied(self, cookies, path):
        n0 = len(self.origin.requests)
        v = Visitor(self.gw.port)
        v.cookies = dict(cookies)
        r = v.get(path)
        return len(self.origin.requests) > n0, r, v

    def test_a_finished_buyer_gets_no_second_session_after_a_wipe(self):
        v, before, after = self.session()
        pass_cookie = v.cookies.get("wr_p")
        self.r.call("FLUSHALL")
        self.assertTrue(wait_for(lambda: int(self.r.call("GET", "wr:{sale}:boundary") or 0) >= 1))
        admit(self.r, 100, gw=self.gw)  # admission runs on after the wipe
        # the old pass replayed: refused (the gateways keep the revocations they read)
        went, r, _ = self.proxied({"wr_p": pass_cookie, "wr_q": before}, "/checkout/again")
        self.assertFalse(went, r.body[:200])
        # the queue token from before the claim alone: its 'ended' note was put back by the restore
        went, r, w = self.proxied({"wr_q": before}, "/checkout/again")
        self.assertFalse(went, r.body[:200])
        # the marked token alone: spent too
        went, r, w = self.proxied({"wr_q": after}, "/checkout/again")
        self.assertFalse(went, r.body[:200])
        self.assertEqual(json.loads(w.get("/checkout", json_=True).body)["state"], "waiting")  # a new place

    def test_the_mark_alone_keeps_a_place_spent_when_no_gateway_remembers(self):
        _, _, after = self.session()
        # every gateway restarted and Redis lost everything: only the buyer's cookie remembers
        gw2 = Gateway(self.origin.url(), "key_file = %s\n" % os.path.join(self.gw.dir, "waitroom.key"), rooms=self.ROOMS,
                      extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % self.redis.port)
        try:
            self.r.call("FLUSHALL")
            serial = token_serial(after)
            self.r.call("SET", "wr:{sale}:boundary", serial + 5)  # admission went on: the place is long passed
            self.r.call("SET", "wr:{sale}:seq", serial + 5)
            wait_for(lambda: (gw2.metric("waitroom_gateway_room_refreshes_total") or 0) >= 2)
            n0 = len(self.origin.requests)
            w = Visitor(gw2.port)
            w.cookies = {"wr_q": after}
            w.get("/checkout/again")
            doc = json.loads(w.get("/checkout", json_=True).body)
            self.assertEqual(len(self.origin.requests), n0)
            self.assertEqual(doc["state"], "waiting")
            self.assertGreater(doc["position"] or 0, 0)
            ended = self.r.call("ZRANGE", "wr:{sale}:ended", 0, -1)
            log = [dict(zip(f[::2], f[1::2])) for _, f in self.r.call("XRANGE", "wr:{sale}:log", "-", "+")]
            self.assertEqual(ended, [str(serial).encode()], (serial, log))
        finally:
            self.assertEqual(gw2.stop(), 0)


if __name__ == "__main__":
    unittest.main()
