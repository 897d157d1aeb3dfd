"""wrctl against a running gateway, wr-admission and redis-server: status, set, pause/open, log, and
`reconcile` on a scripted sale with known outcomes (who completed, who the origin failed and did not
complete afterwards), plus its exit codes."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, Origin, Visitor, free_port, wait_for  # noqa: E402
from resp import RedisServer  # noqa: E402

BUILD = os.environ.get("WR_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
WRCTL = os.path.join(BUILD, "admission", "wrctl")
ADMISSION = os.path.join(BUILD, "admission", "wr-admission")


class Wrctl(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        self.origin = Origin()
        self.addCleanup(self.origin.stop)
        self.gw = Gateway(self.origin.url(), extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % self.redis.port,
                          rooms="[room sale]\npaths = /checkout\nrate_per_minute = 0\n")
        self.addCleanup(lambda: self.assertEqual(self.gw.stop(), 0, getattr(self.gw, "final_log", "")[-2000:]))
        # the room's view is fresh before the first visitor (else, under a loaded ASan run, a visitor
        # could get a provisional place, not yet in Redis, and the counts below be one short)
        self.assertTrue(wait_for(lambda: (self.gw.metric("waitroom_gateway_room_refreshes_total") or 0) >= 2))
        log = open(os.path.join(self.gw.dir, "admission.log"), "w")
        self.ctl = subprocess.Popen([ADMISSION, "-c", self.gw.config], stdout=log, stderr=subprocess.STDOUT)

        def stop():
            self.ctl.send_signal(signal.SIGTERM)
            self.ctl.wait(10)
            log.close()
        self.addCleanup(stop)

    def wrctl(self, *args):
        p = subprocess.run([WRCTL, "-c", self.gw.config] + list(args), capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr

    def test_a_scripted_sale(self):
        vs = {name: Visitor(self.gw.port) for name in "ABCDE"}
        for v in vs.values():
            v.get("/checkout", json_=True)
        # E gives up before the sale moves
        vs["E"].leave()
        rc, out, _ = self.wrctl("status")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"sale\s+open\s+fixed\s+0\s+0")
        rc, out, _ = self.wrctl("status", "sale")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"waiting\s+4\n")
        # the organiser starts admission, live
        rc, out, err = self.wrctl("set", "sale", "rate=6000")
        self.assertEqual(rc, 0, err)
        self.assertIn("rate 6000/min", out)
        deadline = time.time() + 5
        while time.time() < deadline and not all(vs[n].get("/checkout").status == 302 for n in "ABCD"):
            time.sleep(0.2)
        for n in "ABCD":
            self.assertIn("wr_p", vs[n].cookies, n)
        # A completes; B is failed by the origin and gives up; C is failed, then completes; D just browses
        self.assertEqual(vs["A"].get("/checkout/pay?release=done").status, 200)
        self.assertEqual(vs["B"].get("/checkout/status/502").status, 502)
        self.assertEqual(vs["C"].get("/checkout/status/503").status, 503)
        self.assertEqual(vs["C"].get("/checkout/pay?release=done").status, 200)
        self.assertEqual(vs["D"].get("/checkout/seat").status, 200)
        time.sleep(0.5)  # the session updates land
        rc, out, err = self.wrctl("reconcile", "sale")
        self.assertEqual(rc, 0, err)
        books = dict(re.findall(r"^  (.+?)\s{2,}(\d+)$", out, re.M))
        self.assertEqual(books["joined"], "5")
        self.assertEqual(books["left the queue"], "1")
        self.assertEqual(books["admitted"], "4")
        self.assertEqual(books["claimed"], "4")
        self.assertEqual(books["completed (origin said)"], "2")
        self.assertEqual(books["origin errors during a session (grace)"], "2")
        self.assertIn("failed at the origin and not completed afterwards: 1", out)
        rc, out, _ = self.wrctl("--json", "reconcile", "sale")
        doc = json.loads(out)
        self.assertEqual(len(doc["failed_not_completed"]), 1)
        b = doc["failed_not_completed"][0]
        self.assertEqual(b["origin_error"]["status"], "502")
        # that visitor's whole story
        rc, out, _ = self.wrctl("log", "sale", "--visitor", b["visitor"])
        self.assertEqual(rc, 0)
        evs = [line.split()[1] for line in out.splitlines()[1:]]
        self.assertEqual(evs, ["joined", "admitted", "claimed", "origin_error"])
        # pause and open
        rc, out, _ = self.wrctl("pause", "sale")
        self.assertEqual((rc, "state paused" in out), (0, True))
        deadline = time.time() + 2  # the gateway's next view refresh (200 ms)
        while json.loads(vs["E"].get("/checkout", json_=True).body)["state"] != "paused" and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(json.loads(vs["E"].get("/checkout", json_=True).body)["state"], "paused")
        self.assertEqual(self.wrctl("open", "sale")[0], 0)
        # the last minutes as wr-admission sampled them (every 5 s), newest last
        rc, out, err = self.wrctl("history", "sale")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^TIME UTC\s+WAITING\s+UNCLAIMED\s+ACTIVE\s+ADM/MIN\s+RATE/MIN")
        self.assertGreaterEqual(len(lines), 2)
        self.assertRegex(lines[-1], r"^\d\d:\d\d:\d\d\s+\d+\s+\d+\s+\d+\s+\d+\s+[\d.]+\s+\S+\s+\S+.*\s+[a-z_]+$")
        rc, out, _ = self.wrctl("--json", "history", "sale")
        doc = json.loads(out)
        self.assertEqual((rc, doc["room"], doc["interval_ms"]), (0, "sale", 5000))
        self.assertIn(len(doc["samples"]), (len(lines) - 1, len(lines)))  # (a sample may land in between)

    def test_exit_codes(self):
        rc, _, err = self.wrctl("set", "sale", "rate=-5")
        self.assertEqual(rc, 1)
        self.assertIn("rate_per_minute", err)
        rc, _, err = self.wrctl("set", "sale", "open_at=2030-01-01T00:00:00Z")
        self.assertEqual(rc, 1)  # only a scheduled room has an opening time
        self.assertIn("open_at", err)
        rc, out, err = self.wrctl("--json", "set", "sale", "session_ttl=240")
        self.assertEqual((rc, json.loads(out)["session_ttl_s"]), (0, 240), err)
        self.assertEqual(self.wrctl("status", "nope")[0], 1)
        self.assertEqual(self.wrctl("history", "nope")[0], 1)
        self.assertEqual(self.wrctl("frobnicate")[0], 2)
        self.assertEqual(self.wrctl("set", "sale", "oops")[0], 2)
        p = subprocess.run([WRCTL, "--admin", "127.0.0.1:%d" % free_port(), "status"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 3)
        self.assertIn("unreachable", p.stderr)
        p = subprocess.run([WRCTL, "keygen"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^\d+ [0-9a-f]{64}\n$")
        # without the token file, writes are refused by the API (401) even from loopback
        p = subprocess.run([WRCTL, "--admin", "127.0.0.1:%d" % self.gw.admin_port, "pause", "sale"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("401", p.stderr)


if __name__ == "__main__":
    unittest.main()
