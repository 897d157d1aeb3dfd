"""Sessions end to end against a real redis-server: claim-window no-shows, the completion path, grace
on origin failures (5xx and timeouts), renewal on activity up to session_max_s, expiry, and a spent
place that cannot be replayed. Admission is done with the same admit.lua the controller will call."""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomTest, Visitor, admit  # noqa: E402

SESSION_S, SESSION_MAX_S, GRACE_S = 10, 13, 30
ROOM = """[room sale]
paths = /checkout
completion_paths = /checkout/done
session_ttl_s = %d
session_max_s = %d
grace_s = %d
""" % (SESSION_S, SESSION_MAX_S, GRACE_S)


def max_age(resp, name):
    for k, v in resp.headers:
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            m = re.search(r"Max-Age=(\d+)", v)
            return int(m.group(1))
    return None


class Sessions(RoomTest):
    ROOMS = ROOM
    EXTRA_ORIGIN = "response_timeout_ms = 500\n"

    def admit(self, n, **kw):
        return admit(self.r, n, gw=self.gw, **kw)

    def events(self, serial=None):
        out = []
        for _, f in self.r.call("XRANGE", "wr:{sale}:log", "-", "+"):
            d = {k.decode(): v.decode() for k, v in zip(f[::2], f[1::2])}
            if serial is None or d.get("serial") == str(serial):
                out.append(d)
        return out

    def join(self):
        v = Visitor(self.gw.port)
        doc = json.loads(v.get("/checkout", json_=True).body)
        self.assertEqual(doc["state"], "waiting")
        return v, int(self.r.call("GET", "wr:{sale}:seq"))

    def admitted(self):
        """A visitor with a pass (admitted and claimed), and their serial."""
        self.admit(10 ** 6)  # everyone before is out of the way
        v, serial = self.join()
        self.admit(1)
        r = v.get("/checkout")
        self.assertEqual(r.status, 302)
        self.assertEqual(max_age(r, "wr_p"), SESSION_S)
        return v, serial

    def landed(self, serial, ev):
        """Waits (up to 5 s) for an event of this serial: session updates are sent after the answer."""
        deadline = time.time() + 5
        while ev not in [e["ev"] for e in self.events(serial)] and time.time() < deadline:
            time.sleep(0.05)

    def active_until(self, serial):
        s = self.r.call("ZSCORE", "wr:{sale}:active", serial)
        return None if s is None else int(float(s))

    def test_no_show_gives_capacity_back_and_comes_back_first(self):
        self.admit(10 ** 6)
        self.r.call("DEL", "wr:{sale}:admitted")  # earlier tests' unclaimed admissions
        late, _ = self.join()
        later, _ = self.join()
        late_serial = int(self.r.call("GET", "wr:{sale}:seq")) - 1
        self.admit(1)
        time.sleep(0.05)
        res = self.admit(0, claim_ms=1)  # the claim window (1 ms here) has run out: a no-show
        self.assertEqual(res[2], 1)
        self.assertEqual(self.r.call("ZCARD", "wr:{sale}:admitted"), 0)
        self.assertIn("no_show", [e["ev"] for e in self.events(late_serial)])
        # the late visitor comes back: no session now, but first in line for the next admission
        doc = json.loads(late.get("/checkout", json_=True).body)
        self.assertFalse(doc["admitted"])
        self.assertIn("rejoined", [e["ev"] for e in self.events(late_serial)])
        self.admit(1)
        self.assertEqual(late.get("/checkout").status, 302)
        self.assertFalse(json.loads(later.get("/checkout", json_=True).body)["admitted"])

    def test_completion_path_ends_the_session_and_spends_the_place(self):
        v, serial = self.admitted()
        self.assertIsNotNone(self.active_until(serial))
        r = v.get("/checkout/done")
        self.assertEqual(r.status, 200)
        self.assertRegex(r.header("set-cookie"), r"^wr_p=; Path=/; Max-Age=0")
        self.landed(serial, "completed")
        self.assertIsNone(self.active_until(serial))
        self.assertEqual([e["ev"] for e in self.events(serial)][-1], "completed")
        # the spent queue token gets no second turn: it is a new visitor at the back
        del v.cookies["wr_p"]
        old = v.cookies["wr_q"]
        doc = json.loads(v.get("/checkout", json_=True).body)
        self.assertEqual(doc["state"], "waiting")
        self.assertFalse(doc["admitted"])
        self.assertNotEqual(v.cookies["wr_q"], old)
        self.assertGreater(int(self.r.call("GET", "wr:{sale}:seq")), serial)

    def test_completion_path_failing_does_not_end_the_session(self):
        v, serial = self.admitted()
        r = v.get("/checkout/done/status/404")
        self.assertEqual(r.status, 404)
        self.assertIsNone(max_age(r, "wr_p"))
        time.sleep(0.2)
        self.assertIsNotNone(self.active_until(serial))

    def test_origin_5xx_extends_the_session_by_the_grace(self):
        v, serial = self.admitted()
        before = self.active_until(serial)
        r = v.get("/checkout/status/502")
        self.assertEqual(r.status, 502)
        age = max_age(r, "wr_p")
        self.assertIsNotNone(age)
        self.assertGreaterEqual(age, SESSION_S + GRACE_S - 2)
        self.landed(serial, "origin_error")
        self.assertGreaterEqual(self.active_until(serial), before + GRACE_S * 1000 - 1000)  # pass: whole seconds
        err = [e for e in self.events(serial) if e["ev"] == "origin_error"]
        self.assertEqual(len(err), 1)
        self.assertEqual(err[0]["status"], "502")
        # a run of failures cannot stretch it past a fresh session plus one grace from now
        for _ in range(3):
            age = max_age(v.get("/checkout/status/503"), "wr_p") or age
        self.assertLessEqual(age, SESSION_S + GRACE_S)
        deadline = time.time() + 5  # the session update is sent after the answer: let it land
        while len([e for e in self.events(serial) if e["ev"] == "origin_error"]) < 4 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(len([e for e in self.events(serial) if e["ev"] == "origin_error"]), 4)

    def test_origin_timeout_extends_the_session_and_says_so(self):
        v, serial = self.admitted()
        r = v.get("/checkout/slow/1500")
        self.assertEqual(r.status, 504)
        self.assertIn(b"not your fault", r.body)
        self.assertGreaterEqual(max_age(r, "wr_p"), SESSION_S + GRACE_S - 2)
        self.landed(serial, "origin_error")
        self.assertIn("504", [e.get("status") for e in self.events(serial) if e["ev"] == "origin_error"])

    def test_activity_renews_up_to_the_maximum_then_it_expires(self):
        v, serial = self.admitted()
        claimed = time.time()
        r = v.get("/checkout/page")
        self.assertIsNone(max_age(r, "wr_p"))  # first half of the session: nothing to renew
        time.sleep(SESSION_S / 2 + 0.5)
        r = v.get("/checkout/page")
        self.assertEqual(r.status, 200)
        age = max_age(r, "wr_p")
        self.assertIsNotNone(age)  # renewed, but only up to session_max_s after the claim
        self.assertLessEqual(age, SESSION_MAX_S - (SESSION_S // 2))
        self.assertGreater(age, SESSION_S // 2)
        self.landed(serial, "extended")
        self.assertIn("extended", [e["ev"] for e in self.events(serial)])
        # past session_max_s the pass is refused and the place is spent: a new place at the back
        time.sleep(max(0.0, claimed + SESSION_MAX_S + 1.2 - time.time()))
        doc = json.loads(v.get("/checkout", json_=True).body)
        self.assertEqual(doc["state"], "waiting")
        self.assertIn("expired", [e["ev"] for e in self.events(serial)])
        self.assertGreater(int(self.r.call("GET", "wr:{sale}:seq")), serial)


if __name__ == "__main__":
    unittest.main()
