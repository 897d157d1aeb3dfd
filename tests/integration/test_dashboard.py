"""The organiser's dashboard (GET /dashboard on the admin listener) in headless Chromium: the page loads,
its charts draw the room's last 15 minutes (the history wr-admission keeps in Redis) and then the live
API, nothing is fetched from elsewhere, and Pause pressed on the page (with the admin token) changes the
room's state for the gateways."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import test_browser as tb  # noqa: E402  (its Chromium/node set-up checks and leftover finder)
from harness import RoomTest, Visitor, http_get  # noqa: E402

SCRIPT = os.path.join(tb.ROOT, "tests", "browser", "dashboard.mjs")


class Dashboard(RoomTest):
    ROOMS = "[room sale]\npaths = /checkout\nrate_per_minute = 60\n"

    @classmethod
    def setUpClass(cls):
        if not tb.NODE or not os.access(tb.NODE, os.X_OK):
            raise unittest.SkipTest("node not found when meson was set up (WR_NODE unset)")
        if not os.access(tb.CHROMIUM, os.X_OK):
            raise AssertionError("%s not found: scripts/install-deps installs Debian's chromium" % tb.CHROMIUM)
        super().setUpClass()

    def test_dashboard_draws_and_pauses(self):
        for _ in range(3):
            Visitor(self.gw.port).get("/checkout", json_=True)
        with open(os.path.join(self.gw.dir, "admin.token")) as f:
            token = f.read().strip()
        # ten minutes of history, as wr-admission would have sampled it (every 5 s), the queue growing
        now_ms = int(time.time() * 1000)
        self.r.call("DEL", "wr:{sale}:hist")
        for k in range(120):
            t = now_ms - (120 - k) * 5000
            self.r.call("LPUSH", "wr:{sale}:hist", "1 %d %d 2 30 60 60.0 0.0 %s ok" % (
                t, 1000 + 50 * k, "-1.000 -1.0000" if k < 10 else "250.000 0.0100"))
        self.r.call("LPUSH", "wr:{sale}:hist", "garbage that is skipped")
        st, _, body = http_get(self.gw.admin_port, "/v1/rooms/sale/history")
        self.assertEqual(st, 200)
        hist = json.loads(body)
        self.assertEqual((hist["interval_ms"], hist["max_samples"], len(hist["samples"])), (5000, 180, 120))
        first, last = hist["samples"][0], hist["samples"][-1]
        self.assertEqual((first["t_ms"], first["waiting"], first["origin_p99_ms"]), (now_ms - 600000, 1000, None))
        self.assertEqual((last["waiting"], last["origin_p99_ms"], last["origin_error_rate"]), (6950, 250.0, 0.01))
        self.assertEqual(http_get(self.gw.admin_port, "/v1/rooms/nope/history")[0], 404)
        st, _, body = http_get(self.gw.admin_port, "/dashboard")
        self.assertEqual(st, 200)
        self.assertNotIn(b"http://", body.replace(b"http://127.0.0.1", b""))  # self-contained
        marker = uuid.uuid4().hex
        env = dict(os.environ, WR_BROWSER_TEST=marker, WR_CHROMIUM=tb.CHROMIUM)
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            env.pop(k, None)
        proc = subprocess.Popen([tb.NODE, SCRIPT, "http://127.0.0.1:%d" % self.gw.admin_port, "sale", token],
                                cwd=tb.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        finally:
            deadline = time.time() + 5
            while tb.marked_pids(("WR_BROWSER_TEST=" + marker).encode()) and time.time() < deadline:
                time.sleep(0.1)
            for pid in tb.marked_pids(("WR_BROWSER_TEST=" + marker).encode()):
                os.kill(pid, signal.SIGKILL)
        lines = [json.loads(x) for x in out.decode().splitlines() if x.startswith("{")]
        self.assertTrue(lines, err.decode()[-2000:])
        summary = lines[-1]
        self.assertEqual(summary["event"], "summary", summary)
        self.assertEqual(summary["status"], 200)
        self.assertEqual(summary["offsite"], [])
        self.assertEqual(summary["consoleErrors"], [])
        self.assertEqual(len(summary["ink"]), 4)
        self.assertEqual(summary["history"], 120)
        for c in summary["ink"]:
            self.assertGreater(c["painted"], 1000, c)  # axes, labels and at least one line
            self.assertGreaterEqual(c["points"], 122, c)  # the history, then at least two live reads
        # on a 15-minute axis, ten minutes of history start a third of the way along: nothing in the
        # first three tenths, the queue line in every later one
        line = summary["queueLine"]
        self.assertEqual(line[:3], [0, 0, 0], line)
        self.assertTrue(all(n > 0 for n in line[4:]), line)
        self.assertEqual(summary["stateBefore"], "open")
        # the pause from the page reached the room: the API and a buyer both see it
        st, _, doc = http_get(self.gw.admin_port, "/v1/rooms/sale")
        self.assertEqual(json.loads(doc)["state"], "paused")
        deadline = time.time() + 2
        v = Visitor(self.gw.port)
        while json.loads(v.get("/checkout", json_=True).body)["state"] != "paused" and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["state"], "paused")
        log = [dict(zip(f[::2], f[1::2])) for _, f in self.r.call("XRANGE", "wr:{sale}:log", "-", "+")]
        self.assertIn(b"state=paused", [e.get(b"changes") for e in log])


if __name__ == "__main__":
    unittest.main()
