"""The queue end to end against a real redis-server: join, exact positions, multi-tab, claim, pass,
proxying with the pass. Admission is done here with the same admit.lua the controller will call."""
import json
import re
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import wait_for, Client, RoomTest, Visitor, admit  # noqa: E402



class Queue(RoomTest):
    WORKERS = 2

    def admit(self, n, **kw):
        return admit(self.r, n, gw=self.gw, refreshes=5, **kw)  # 2 workers: each refreshes at least twice

    def clear_queue(self):
        """Admits whoever earlier tests left waiting, so positions here start at 1."""
        self.admit(10 ** 6)

    def test_join_wait_claim_and_proxy(self):
        self.clear_queue()
        a, b = Visitor(self.gw.port), Visitor(self.gw.port)
        before = len(self.origin.requests)
        seq0 = int(self.r.call("GET", "wr:{sale}:seq") or 0)
        ra = a.get("/checkout?item=7", json_=True)
        self.assertEqual(ra.status, 200)
        doc = json.loads(ra.body)
        self.assertEqual((doc["state"], doc["position"], doc["ahead"], doc["admitted"]), ("waiting", 1, 0, False))
        self.assertIn("wr_q", a.cookies)
        self.assertRegex(ra.header("set-cookie"), r"HttpOnly; SameSite=Lax")
        self.assertEqual(json.loads(b.get("/checkout", json_=True).body)["position"], 2)
        # several tabs, several polls: one place each
        for _ in range(3):
            self.assertEqual(json.loads(a.get("/checkout", json_=True).body)["position"], 1)
            self.assertEqual(json.loads(a.get("/__waitroom/status?room=sale").body)["position"], 1)
        self.assertEqual(int(self.r.call("GET", "wr:{sale}:seq")), seq0 + 2)
        self.assertEqual(len(self.origin.requests), before, "a queued request reached the origin")
        # the HTML page a person sees, also without JavaScript
        page = b.get("/checkout")
        self.assertEqual(page.status, 200)
        self.assertIn(b'<p class="big" id="wr-position">2</p>', page.body)
        self.assertIn(b'<span id="wr-ahead">1 person</span> ahead of you.', page.body)
        self.assertIn(b'<noscript><meta http-equiv="refresh" content="5"></noscript>', page.body)
        self.assertIn(b'"back":"/checkout"', page.body)  # where the script goes once admitted
        self.assertIn(b'aria-live="polite"', page.body)
        # admit one: A's next request claims, gets a pass and goes back to the page it asked for
        self.assertEqual(self.admit(1)[0], 1)
        r = a.get("/checkout?item=7")
        self.assertEqual(r.status, 302)
        self.assertEqual(r.header("location"), "/checkout?item=7")
        self.assertIn("wr_p", a.cookies)
        r = a.get("/checkout?item=7")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello from origin /checkout?item=7\n")
        self.assertEqual(json.loads(b.get("/checkout", json_=True).body)["position"], 1)
        # a status poll after admission says so, with the pass
        st = json.loads(a.get("/__waitroom/status?room=sale").body)
        self.assertIn(st["state"], ("admitted", "waiting"))

    def test_redis_restarted_empty_keeps_every_place(self):
        self.clear_queue()
        vs = [Visitor(self.gw.port) for _ in range(6)]
        for v in vs:
            v.get("/checkout", json_=True)
        self.admit(2)
        self.assertEqual(vs[0].get("/checkout").status, 302)  # claims, gets a pass
        before = [json.loads(v.get("/checkout", json_=True).body)["position"] for v in vs[2:]]
        self.assertEqual(before, [1, 2, 3, 4])
        # Redis dies and comes back with nothing in it
        port = self.redis.port
        self.r.sock.close()
        self.redis.proc.terminate()
        self.redis.proc.wait(5)
        import subprocess
        self.redis.proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                            "--appendonly", "no", "--dir", self.redis.dir],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                Queue.r = self.redis.client()
                Queue.r.call("PING")
                break
            except OSError:
                self.assertLess(time.time(), deadline)
                time.sleep(0.1)
        deadline = time.time() + 15
        while time.time() < deadline and self.gw.metric("waitroom_gateway_redis_connected") != 2:
            time.sleep(0.1)
        time.sleep(1.0)  # a refresh sees the empty room and puts the boundary back
        # the visitor with a pass is still let in, with no Redis involved
        self.assertEqual(vs[0].get("/checkout").status, 200)
        # everyone waiting keeps their place (once every worker has put back what it knew and refreshed:
        # a loaded ASan run can take more than the second above; until then they see "trouble")
        after = []

        def kept():
            after[:] = [json.loads(v.get("/checkout", json_=True).body)["position"] for v in vs[2:]]
            return after == before

        wait_for(kept, timeout=10)
        self.assertEqual(after, before)
        time.sleep(0.5)
        self.assertEqual([json.loads(v.get("/checkout", json_=True).body)["position"] for v in vs[2:]], before)
        # and admission goes on from where it was
        self.admit(1)
        self.assertEqual(vs[2].get("/checkout").status, 302)
        self.assertEqual(json.loads(vs[3].get("/checkout", json_=True).body)["position"], 1)

    def test_abandoned_visitor_rejoins_first(self):
        # a visitor who stops polling is skipped when the boundary passes; coming back, they keep their
        # turn: first in the rejoin lane, before anyone who joined later
        self.clear_queue()
        seq0 = int(self.r.call("GET", "wr:{sale}:seq") or 0)
        gone, stays, later = Visitor(self.gw.port), Visitor(self.gw.port), Visitor(self.gw.port)
        for v in (gone, stays, later):
            v.get("/checkout", json_=True)
        time.sleep(2.5)  # the gateways' heartbeat flush has happened
        # `gone` was last seen ten minutes ago (last-seen is kept in 4-second units)
        stale = (int(time.time() * 1000) - 600000) // 4000 % 65535 + 1
        self.r.call("BITFIELD", "wr:{sale}:seen", "SET", "u16", "#%d" % (seq0 + 1), stale)
        res = self.admit(1)
        self.assertEqual(res[3], 1)  # `gone` skipped as abandoned
        self.assertEqual(stays.get("/checkout").status, 302)
        doc = json.loads(gone.get("/checkout", json_=True).body)  # back: queued in the rejoin lane
        self.assertFalse(doc["admitted"])
        self.assertEqual(doc["position"], 1)
        self.admit(1)
        self.assertEqual(gone.get("/checkout").status, 302)  # admitted before `later`
        self.assertFalse(json.loads(later.get("/checkout", json_=True).body)["admitted"])
        log = [dict(zip(f[::2], f[1::2]))[b"ev"] for _, f in self.r.call("XRANGE", "wr:{sale}:log", "-", "+")]
        self.assertIn(b"abandoned", log)
        self.assertIn(b"rejoined", log)

    def test_origin_releases_the_session(self):
        self.clear_queue()
        v = Visitor(self.gw.port)
        v.get("/checkout", json_=True)
        self.admit(1)
        active0 = self.r.call("ZCARD", "wr:{sale}:active")
        self.assertEqual(v.get("/checkout").status, 302)
        self.assertEqual(self.r.call("ZCARD", "wr:{sale}:active"), active0 + 1)
        r = v.get("/checkout/pay?release=done")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"thanks for your order\n")
        self.assertIsNone(r.header("waitroom-release"))  # for the gateway only
        self.assertRegex(r.header("set-cookie"), r"^wr_p=; Path=/; Max-Age=0")
        time.sleep(0.3)
        self.assertEqual(self.r.call("ZCARD", "wr:{sale}:active"), active0)  # its capacity is free at once
        log = [dict(zip(f[::2], f[1::2]))[b"ev"] for _, f in self.r.call("XRANGE", "wr:{sale}:log", "-", "+")]
        self.assertIn(b"released", log)
        # without the pass, the checkout is behind the queue again
        self.assertEqual(v.cookies.get("wr_p"), "")
        self.assertNotEqual(v.get("/checkout", json_=True).body.find(b'"state"'), -1)

    def test_status_without_token_makes_no_place(self):
        v = Visitor(self.gw.port)
        seq = int(self.r.call("GET", "wr:{sale}:seq") or 0)
        doc = json.loads(v.get("/__waitroom/status?room=sale").body)
        self.assertIsNone(doc["position"])
        self.assertEqual(int(self.r.call("GET", "wr:{sale}:seq") or 0), seq)
        self.assertNotIn("wr_q", v.cookies)

    def test_forged_or_foreign_token_is_a_new_visitor(self):
        v = Visitor(self.gw.port)
        v.cookies["wr_q"] = "A" * 123
        doc = json.loads(v.get("/checkout", json_=True).body)
        self.assertEqual(doc["state"], "waiting")
        self.assertNotEqual(v.cookies["wr_q"], "A" * 123)

    def test_a_third_party_page_cannot_make_a_buyer_leave(self):
        """Issue 13: Sec-Fetch-Site is checked too, and a request with neither it nor Origin (an old browser,
        a tool) needs the proof that only the buyer's own waiting page carries."""
        self.clear_queue()
        a, b = Visitor(self.gw.port), Visitor(self.gw.port)
        a.get("/checkout", json_=True)
        b.get("/checkout", json_=True)
        for extra in ("Sec-Fetch-Site: cross-site\r\n", "Sec-Fetch-Site: same-site\r\n",
                      "Origin: http://shop\r\nSec-Fetch-Site: cross-site\r\n", ""):
            with self.subTest(extra):
                self.assertEqual(a.get("/__waitroom/leave?room=sale", method="POST", extra=extra).status, 403)
        self.assertEqual(a.get("/__waitroom/leave?room=sale&proof=0123456789abcdef", method="POST").status, 403)
        page = a.get("/checkout").body.decode()
        proof = re.search(r"proof=([0-9a-f]{16})", page).group(1)
        other = re.search(r"proof=([0-9a-f]{16})", b.get("/checkout").body.decode()).group(1)
        self.assertNotEqual(proof, other)  # each buyer's own
        self.assertEqual(a.get("/__waitroom/leave?room=sale&proof=" + other, method="POST").status, 403)
        r = a.get("/__waitroom/leave?room=sale&proof=" + proof, method="POST")
        self.assertEqual(r.status, 200)
        r = b.get("/__waitroom/leave?room=sale", method="POST", extra="Sec-Fetch-Site: same-origin\r\n")
        self.assertEqual(r.status, 200)

    def test_leave_frees_the_place_at_once(self):
        self.clear_queue()
        a, b, c = Visitor(self.gw.port), Visitor(self.gw.port), Visitor(self.gw.port)
        for v in (a, b, c):
            v.get("/checkout", json_=True)
        self.assertEqual(json.loads(c.get("/checkout", json_=True).body)["position"], 3)
        # refused: wrong method, another site's form, no place
        self.assertEqual(a.get("/__waitroom/leave?room=sale").status, 405)
        r = a.get("/__waitroom/leave?room=sale", method="POST", extra="Origin: https://evil.example\r\n")
        self.assertEqual(r.status, 403)
        self.assertEqual(Visitor(self.gw.port).get("/__waitroom/leave?room=sale", method="POST").status, 400)
        old = a.cookies["wr_q"]
        r = a.get("/__waitroom/leave?room=sale", method="POST", extra="Origin: http://shop\r\n")
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body), {"left": True})
        self.assertRegex(r.header("set-cookie"), r"^wr_q=; Path=/; Max-Age=0")
        time.sleep(0.5)
        self.assertEqual(json.loads(c.get("/checkout", json_=True).body)["position"], 2)
        events = [dict(zip(f[::2], f[1::2])) for _, f in self.r.call("XREVRANGE", "wr:{sale}:log", "+", "-",
                                                                     "COUNT", 20)]
        self.assertIn(b"left", [e[b"ev"] for e in events])  # recorded in the audit stream
        # the old token now counts as no token: coming back means a new place at the back
        a.cookies["wr_q"] = old
        doc = json.loads(a.get("/checkout", json_=True).body)
        self.assertEqual(doc["position"], 3)
        self.assertNotEqual(a.cookies["wr_q"], old)

    def test_admission_follows_join_order(self):
        # 1,000 visitors join in a known order; admission at a fixed 100 per tick admits them in exactly
        # that order; every position reported equals the true number ahead, and never goes up
        self.clear_queue()
        n = 1000
        vs = [Visitor(self.gw.port) for _ in range(n)]
        for v in vs:
            self.assertEqual(v.get("/checkout", json_=True).status, 200)
        admitted_order = []
        waiting = list(vs)
        last_ahead = {}
        rounds = 0
        while waiting:
            rounds += 1
            self.assertLess(rounds, 20)
            self.admit(100)
            still = []
            for v in waiting:
                doc = json.loads(v.get("/checkout", json_=True).body)
                if doc["admitted"]:
                    admitted_order.append(v)
                    continue
                true_ahead = len(still)  # the visitors before this one who are still waiting
                self.assertEqual(doc["ahead"], true_ahead)
                self.assertEqual(doc["position"], true_ahead + 1)
                self.assertLessEqual(doc["ahead"], last_ahead.get(id(v), doc["ahead"]), "a position went up")
                last_ahead[id(v)] = doc["ahead"]
                still.append(v)
            waiting = still
        order = [vs.index(v) for v in admitted_order]
        inversions = sum(1 for i in range(len(order) - 1) if order[i] > order[i + 1])
        self.assertEqual(inversions, 0)
        self.assertEqual(order, list(range(n)))

class HeldRequests(RoomTest):
    """A request held for a Redis answer is bounded by send_timeout_ms, whatever the client sends meanwhile."""
    EXTRA_GATEWAY = "send_timeout_ms = 1000\nbody_timeout_ms = 1000\n"

    def test_hold_is_bounded_even_when_the_client_fills_the_buffer(self):
        # Redis stalls (SIGSTOP) with the view still fresh: a new visitor's join is sent and held. The client
        # pipelines enough bytes to fill the connection's buffer; reading stops, and with it the hold's clock
        # must not stop: the client gets its 408 after about send_timeout_ms, not when Redis wakes up.
        c = Client(self.gw.port, timeout=8)
        os.kill(self.redis.proc.pid, signal.SIGSTOP)
        try:
            c.send(b"GET /checkout HTTP/1.1\r\nHost: shop\r\n\r\n" + b"GET /x HTTP/1.1\r\nHost: shop\r\n\r\n" * 3000)
            t0 = time.time()
            try:
                status = c.read_response().status
            except (OSError, EOFError) as e:
                status = repr(e)
            self.assertEqual(status, 408)
            self.assertLess(time.time() - t0, 4)
        finally:
            os.kill(self.redis.proc.pid, signal.SIGCONT)
            c.close()

    def test_hold_is_not_stretched_by_a_trickle(self):
        # the same hold, the client sending one byte of a next request every 300 ms: still about send_timeout_ms
        c = Client(self.gw.port, timeout=8)
        os.kill(self.redis.proc.pid, signal.SIGSTOP)
        try:
            c.send(b"GET /checkout HTTP/1.1\r\nHost: shop\r\n\r\n")
            t0 = time.time()
            got = []

            def read():
                try:
                    got.append(c.read_response().status)
                except (OSError, EOFError) as e:
                    got.append(repr(e))

            t = threading.Thread(target=read)
            t.start()
            for b in b"GET /x HTTP/1.1\r\nHost: s":
                if got or time.time() - t0 > 6:
                    break
                try:
                    c.send(bytes([b]))
                except OSError:
                    break
                time.sleep(0.3)
            t.join(8)
            self.assertEqual(got, [408])
            self.assertLess(time.time() - t0, 4)
        finally:
            os.kill(self.redis.proc.pid, signal.SIGCONT)
            c.close()


if __name__ == "__main__":
    unittest.main()
