"""What a buyer gets when things go wrong or are customised: provisional places while Redis is down
(confirmed in arrival order when it is back), the fail_open switch, a room's own page template (and a
bad one refused at start), and the admitted redirect of the status endpoint (?return=, same site only)."""
import functools
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import GATEWAY, Gateway, Origin, Visitor, admit  # noqa: E402
from resp import RedisServer  # noqa: E402



wait_for = functools.partial(harness.wait_for, timeout=15)


def restart(redis):
    """Kills redis-server and starts an empty one on the same port."""
    redis.proc.terminate()
    redis.proc.wait(5)
    return subprocess.Popen(["redis-server", "--port", str(redis.port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", redis.dir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Page(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        self.origin = Origin()
        self.addCleanup(self.origin.stop)

    def gateway(self, rooms, workers=1):
        gw = Gateway(self.origin.url(), workers=workers,
                     extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % self.redis.port, rooms=rooms)
        self.assertTrue(wait_for(lambda: (gw.metric("waitroom_gateway_room_refreshes_total") or 0) >= 2))
        return gw

    def stop(self, gw):
        self.assertEqual(gw.stop(), 0, getattr(gw, "final_log", "")[-3000:])

    def redis_admit(self, room, n):
        r = self.redis.client()
        try:
            return admit(r, n, room=room)
        finally:
            r.sock.close()
            time.sleep(0.6)  # a view refresh or two in each worker

    def test_provisional_places_while_redis_is_down(self):
        gw = self.gateway("[room sale]\npaths = /checkout\n")
        try:
            first = Visitor(gw.port)
            self.assertEqual(json.loads(first.get("/checkout", json_=True).body)["position"], 1)
            self.redis.proc.terminate()
            self.redis.proc.wait(5)
            self.assertTrue(wait_for(lambda: json.loads(
                first.get("/checkout", json_=True).body)["state"] == "trouble"))
            # newcomers: a provisional place (a token), a plain page, never a 5xx
            a, b = Visitor(gw.port), Visitor(gw.port)
            r = a.get("/checkout/seat")
            self.assertEqual(r.status, 200)
            self.assertIn(b"Keep this tab open: you keep your place.", r.body)
            self.assertIn("wr_q", a.cookies)
            doc = json.loads(b.get("/checkout", json_=True).body)
            self.assertEqual((doc["state"], doc["position"]), ("trouble", None))
            self.assertIn("wr_q", b.cookies)
            token_a = a.cookies["wr_q"]
            self.assertEqual(json.loads(a.get("/checkout", json_=True).body)["state"], "trouble")
            self.assertEqual(a.cookies["wr_q"], token_a)  # the same provisional place on every poll
            self.assertGreaterEqual(gw.metric("waitroom_gateway_provisional_places_total"), 2)
            self.assertEqual(len(self.origin.requests), 0)
            # Redis is back (empty): the earlier visitor keeps place 1, the provisional ones join behind
            self.redis.proc = restart(self.redis)
            self.assertTrue(wait_for(lambda: json.loads(
                Visitor(gw.port).get("/__waitroom/status?room=sale").body)["state"] == "waiting"))
            body = first.get("/checkout", json_=True).body
            self.assertEqual(json.loads(body)["position"], 1, body)
            # (a second after Redis came back empty no new place is given: every gateway puts back the
            # serials it gave out first; the provisional places join on the polls after that)
            self.assertTrue(wait_for(lambda: json.loads(a.get("/checkout", json_=True).body)["position"]))
            pa = json.loads(a.get("/__waitroom/status?room=sale").body)
            b.get("/checkout", json_=True)
            pb = json.loads(b.get("/__waitroom/status?room=sale").body)
            self.assertEqual((pa["state"], pa["position"]), ("waiting", 2))
            self.assertEqual((pb["state"], pb["position"]), ("waiting", 3))
            self.assertNotEqual(a.cookies["wr_q"], token_a)  # now with its serial
            self.assertEqual(json.loads(a.get("/checkout", json_=True).body)["position"], 2)  # kept
        finally:
            self.stop(gw)

    def test_fail_open_lets_everyone_through_only_while_redis_is_down(self):
        gw = self.gateway("[room sale]\npaths = /checkout\nfail_open = true\n")
        try:
            v = Visitor(gw.port)
            self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["state"], "waiting")
            self.assertEqual(len(self.origin.requests), 0)
            self.redis.proc.terminate()
            self.redis.proc.wait(5)
            self.assertTrue(wait_for(lambda: v.get("/checkout/x").status == 200 and len(self.origin.requests) > 0))
            r = Visitor(gw.port).get("/checkout/y")
            self.assertEqual(r.body, b"hello from origin /checkout/y\n")
            self.assertGreaterEqual(gw.metric("waitroom_gateway_fail_open_passes_total"), 2)
            # the status endpoint still tells the truth
            self.assertEqual(json.loads(v.get("/__waitroom/status?room=sale").body)["state"], "trouble")
            self.redis.proc = restart(self.redis)
            # back to queueing: a newcomer gets a place, not the origin
            self.assertTrue(wait_for(lambda: Visitor(gw.port).get("/checkout", json_=True).body.startswith(
                b'{"room":"sale","state":"waiting"')))
        finally:
            self.stop(gw)

    def test_room_template_and_bad_template(self):
        tdir = os.path.join(self.redis.dir, "tpl")
        os.makedirs(tdir)
        with open(os.path.join(tdir, "mine.html"), "w") as f:
            f.write("<p>Room {{room}}: place {{position}} ({{ahead}}) {{state}}</p>{{script}}\n")
        gw = self.gateway("[room sale]\npaths = /checkout\npage_template = %s\n[room other]\npaths = /other\n"
                          % os.path.join(tdir, "mine.html"))
        try:
            v = Visitor(gw.port)
            v.get("/checkout", json_=True)
            body = v.get("/checkout").body
            self.assertTrue(body.startswith(b"<p>Room sale: place 1 (0 people) waiting</p><script id=\"wr-data\""),
                            body[:200])
            self.assertIn(b"You are in the queue", Visitor(gw.port).get("/other").body)  # the built-in page
        finally:
            self.stop(gw)
        with open(os.path.join(tdir, "bad.html"), "w") as f:
            f.write("<p>\n{{position}} {{postion}}</p>\n")
        cfg = os.path.join(tdir, "bad.ini")
        with open(cfg, "w") as f:
            f.write("[origin]\nurl = http://127.0.0.1:9\n[room sale]\npaths = /checkout\npage_template = bad.html\n")
        res = subprocess.run([GATEWAY, "-c", cfg, "--check"], capture_output=True, text=True, timeout=20)
        self.assertEqual(res.returncode, 2)
        self.assertIn("[room sale] page_template: %s: line 2: unknown placeholder {{postion}}"
                      % os.path.join(tdir, "bad.html"), res.stderr)

    def test_two_rooms_on_one_host_keep_both_places(self):
        # one wr_q cookie carries one token per room: joining the second queue must not cost the first place
        gw = self.gateway("[room sale]\npaths = /checkout\n[room merch]\npaths = /merch\n", workers=2)
        try:
            ahead = Visitor(gw.port)
            ahead.get("/checkout", json_=True)
            ahead.get("/merch", json_=True)
            v = Visitor(gw.port)
            self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["position"], 2)
            self.assertEqual(json.loads(v.get("/merch", json_=True).body)["position"], 2)
            self.assertEqual(v.cookies["wr_q"].count("."), 1)  # two tokens
            for _ in range(2):
                self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["position"], 2)
                self.assertEqual(json.loads(v.get("/merch", json_=True).body)["position"], 2)
            # admitted in one room: a pass for it, the place in the other kept
            self.redis_admit("sale", 2)
            self.assertEqual(v.get("/checkout").status, 302)
            self.assertEqual(v.get("/checkout/pay").body, b"hello from origin /checkout/pay\n")
            self.assertEqual(json.loads(v.get("/merch", json_=True).body)["position"], 2)
            self.redis_admit("merch", 2)
            self.assertEqual(v.get("/merch").status, 302)
            self.assertEqual(v.cookies["wr_p"].count("."), 1)  # two passes
            self.assertEqual(v.get("/merch/x").status, 200)
            self.assertEqual(v.get("/checkout/y").status, 200)
            # the origin ends the sale session: the merch pass stays
            self.assertEqual(v.get("/checkout/z?release=done").status, 200)
            self.assertEqual(v.cookies["wr_p"].count("."), 0)
            self.assertEqual(v.get("/merch/x").body, b"hello from origin /merch/x\n")
            self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["state"], "waiting")
            # leaving one queue keeps the other place
            w = Visitor(gw.port)
            w.get("/checkout", json_=True)
            w.get("/merch", json_=True)
            pos = json.loads(w.get("/merch", json_=True).body)["position"]
            r = w.leave()
            self.assertEqual(json.loads(r.body), {"left": True})
            self.assertNotEqual(w.cookies.get("wr_q", ""), "")
            self.assertEqual(json.loads(w.get("/merch", json_=True).body)["position"], pos)
        finally:
            self.stop(gw)

    def test_cookie_of_many_pieces_is_bounded(self):
        # a hostile wr_q of hundreds of token-sized pieces: a bounded number of MACs, then "no token"
        gw = self.gateway("[room sale]\npaths = /checkout\n[room merch]\npaths = /merch\n")
        try:
            v = Visitor(gw.port)
            v.get("/checkout", json_=True)
            good = v.cookies["wr_q"]
            v.cookies["wr_q"] = ".".join(["A" * 123] * 60 + [good])
            t0 = time.time()
            doc = json.loads(v.get("/checkout", json_=True).body)
            self.assertLess(time.time() - t0, 1.0)
            self.assertEqual(doc["state"], "waiting")
            self.assertEqual(doc["position"], 2)  # the good token was past the bound: a new place
            v.cookies["wr_q"] = ".".join(["A" * 123] * 3 + [good])
            self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["position"], 1)  # within it
        finally:
            self.stop(gw)

    def test_status_endpoint_sends_the_admitted_buyer_back_on_this_site_only(self):
        gw = self.gateway("[room sale]\npaths = /checkout\n")
        try:
            good, evil = Visitor(gw.port), Visitor(gw.port)
            good.get("/checkout", json_=True)
            evil.get("/checkout", json_=True)
            self.redis_admit("sale", 2)
            doc = json.loads(good.get("/__waitroom/status?room=sale&return=%2Fcheckout%2Fseat%3Fx%3D1").body)
            self.assertTrue(doc["admitted"])
            self.assertEqual(doc["redirect"], "/checkout/seat?x=1")
            self.assertIn("wr_p", good.cookies)
            doc = json.loads(evil.get("/__waitroom/status?room=sale&return=%2F%2Fevil.example%2Fx").body)
            self.assertTrue(doc["admitted"])
            self.assertEqual(doc["redirect"], "/")
        finally:
            self.stop(gw)


if __name__ == "__main__":
    unittest.main()
