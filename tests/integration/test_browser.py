"""The buyer's waiting page in a real browser: headless Chromium (Debian's), driven by playwright-core from
tests/browser/buyer.mjs, against a real redis-server, the test origin and wr-gateway.

Three visitors join first; then a buyer with JavaScript opens a protected page (position 4, "3 people"
ahead, an aria-live region, no request leaving the gateway's origin) and a second buyer without
JavaScript opens it too. This test admits one visitor every 3 s with the same admit.lua the controller
calls; the JavaScript page shows its number falling and its "last update" time moving, then lands on the
origin at the URL first asked for. The no-JavaScript page reloads itself (<noscript> meta refresh) and
shows its position rendered by the gateway.

Needs node ($WR_NODE, set by meson when it found node; the test skips without it), node_modules/
playwright-core (npm ci) and /usr/bin/chromium: scripts/install-deps installs all three.
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomTest, Visitor, admit  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(ROOT, "tests", "browser", "buyer.mjs")
CHROMIUM = os.environ.get("WR_CHROMIUM", "/usr/bin/chromium")
NODE = os.environ.get("WR_NODE", "")
PATH = "/checkout/seat?x=1"
AHEAD = 3  # visitors who join before the buyer
ADMIT_EVERY_S = 3.0
NOJS_WINDOW_S = 12
NODE_LIMIT_S = 75  # node's own limits end it well before this


def marked_pids(marker):
    """Processes (node, Chromium and its helpers) whose environment carries this run's marker."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                if marker in f.read().split(b"\0"):
                    pids.append(int(d))
        except OSError:
            pass  # gone, or not ours to read
    return pids


class Browser(RoomTest):
    @classmethod
    def setUpClass(cls):
        if not NODE or not os.access(NODE, os.X_OK):
            raise unittest.SkipTest("node not found when meson was set up (WR_NODE unset): run scripts/install-deps, "
                                    "then `meson setup --reconfigure BUILD_DIR`")
        # node is there, so the rest must be too: a missing install step fails here instead of skipping
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError("%s not found: scripts/install-deps installs Debian's chromium" % CHROMIUM)
        if not os.path.isfile(os.path.join(ROOT, "node_modules", "playwright-core", "package.json")):
            raise AssertionError("node_modules/playwright-core missing: scripts/install-deps runs `npm ci`")
        super().setUpClass()

    def run_node(self):
        """Starts buyer.mjs; returns (process, queue of its JSON lines, stderr path, marker)."""
        marker = "WR_BROWSER_TEST=%s" % uuid.uuid4().hex
        env = dict(os.environ)
        env["WR_BROWSER_TEST"] = marker.split("=", 1)[1]  # inherited by Chromium: finds leftovers by PID
        env["WR_NOJS_WINDOW_MS"] = str(NOJS_WINDOW_S * 1000)
        env["WR_CHROMIUM"] = CHROMIUM
        # the gateway's sanitizer settings are not Chromium's business
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            env.pop(k, None)
        self.stderr = open(os.path.join(self.gw.dir, "node.stderr"), "w+")
        proc = subprocess.Popen([NODE, SCRIPT, "http://127.0.0.1:%d" % self.gw.port, PATH], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr,
                                start_new_session=True)
        lines = queue.Queue()

        def reader():
            try:
                for raw in proc.stdout:
                    try:
                        lines.put(json.loads(raw))
                    except ValueError:
                        lines.put({"event": "noise", "line": raw.decode(errors="replace").rstrip()})
            except (ValueError, OSError):
                pass  # closed by stop_node
            lines.put({"event": "eof"})

        threading.Thread(target=reader, daemon=True).start()
        return proc, lines, marker.encode()

    def stop_node(self, proc, marker):
        """Ends node and every Chromium process this run started, by PID (SIGTERM first: playwright-core
        closes its browser on it)."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # Chromium runs in a process group of its own (playwright-core spawns it detached): after a clean
        # exit there is nothing left; after a kill, whatever carries the marker goes too
        deadline = time.time() + 5
        left = marked_pids(marker)
        while left and time.time() < deadline:
            time.sleep(0.1)
            left = marked_pids(marker)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.stdout.close()
        return left

    def node_log(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()[-4000:]

    def tearDown(self):
        if getattr(self, "stderr", None):
            self.stderr.close()

    def test_waiting_page_in_chromium(self):
        visitors = [Visitor(self.gw.port) for _ in range(AHEAD)]
        for i, v in enumerate(visitors):
            doc = json.loads(v.get("/checkout", json_=True).body)
            self.assertEqual(doc["position"], i + 1)

        proc, lines, marker = self.run_node()
        events = []
        admits = []  # (seconds since ready, admitted count) of each admission
        stop = threading.Event()

        def admitter():
            t0 = time.time()
            for k in range(1, AHEAD + 2):  # the three ahead, then the buyer; never the no-JS buyer behind
                if stop.wait(max(0.0, t0 + k * ADMIT_EVERY_S - time.time())):
                    return
                res = admit(self.r, 1, gw=self.gw)
                admits.append((round(time.time() - t0, 2), res[0]))

        admitting = threading.Thread(target=admitter, daemon=True)
        started = time.time()
        try:
            summary = None
            while time.time() < started + NODE_LIMIT_S:
                try:
                    ev = lines.get(timeout=1)
                except queue.Empty:
                    continue
                events.append(ev)
                if ev["event"] == "ready":
                    admitting.start()
                elif ev["event"] in ("summary", "error", "eof"):
                    summary = ev if ev["event"] == "summary" else None
                    break
            stop.set()
            if admitting.is_alive():
                admitting.join(15)
            if proc.poll() is None:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            stop.set()
            leftovers = self.stop_node(proc, marker)
        rc = proc.returncode
        trace = "\n".join(json.dumps(e)[:600] for e in events if e["event"] != "summary")
        why = "node exited %s\nevents:\n%s\nadmissions: %s\nnode stderr:\n%s" % (rc, trace, admits, self.node_log())
        self.assertEqual(rc, 0, why)
        self.assertIsNotNone(summary, why)
        self.assertEqual(leftovers, [], "Chromium processes outlived node's browser.close()")
        opened = next(e for e in events if e["event"] == "opened")

        # 1. the page as the JavaScript buyer first sees it: fourth, three ahead, accessible, self-contained
        self.assertEqual(opened["status"], 200, why)
        self.assertTrue(opened["waiting"], why)
        self.assertEqual(opened["rendered"]["position"], "4", why)  # server-side
        self.assertEqual(opened["position"], "4", why)  # in the DOM
        self.assertEqual(opened["ahead"], "3 people", why)
        self.assertTrue(opened["place_visible"], why)
        self.assertGreaterEqual(opened["aria_live_polite"], 1, why)
        self.assertGreater(len(summary["requests"]), 0)
        self.assertEqual(summary["offsite"], [], "requests left the gateway's origin")
        self.assertEqual(summary["console_errors"], [], why)
        self.assertGreaterEqual(summary["status_polls"], 2, why)  # the script ran and polled

        # 2. one admission every 3 s: the number falls, never rises, the time of the last update moves,
        # and the page goes on to the origin by itself, at the URL first asked for
        self.assertEqual([a[1] for a in admits], [1] * (AHEAD + 1), why)
        seen = [p["value"] for p in summary["positions"]]
        self.assertEqual(seen[0], 4, why)
        self.assertEqual(seen, sorted(seen, reverse=True), "the position went up: %s\n%s" % (seen, why))
        self.assertLessEqual(seen[-1], 2, "the position did not fall as visitors were admitted: %s\n%s"
                             % (seen, why))
        self.assertGreaterEqual(len(summary["updated"]), 2, "the 'last update' time never changed\n" + why)
        self.assertIsNotNone(summary["landed"], "the page never reached the origin\n" + why)
        self.assertEqual(summary["landed"]["text"], "hello from origin " + PATH, why)
        self.assertEqual(summary["final_path"], PATH, why)
        self.assertEqual([n["status"] for n in summary["navigations"]], [200, 200], why)
        # the origin saw the protected page exactly once: after admission, never while the buyer waited
        protected = [r.target for r in self.origin.requests if r.target.startswith("/checkout")]
        self.assertEqual(protected, [PATH])

        # 3. without JavaScript: the page reloads by itself and shows the position rendered by the gateway
        nojs = summary["nojs"]
        self.assertEqual(nojs["refresh"], "5", why)
        loads = [t for t in nojs["loads"] if t <= NOJS_WINDOW_S * 1000]
        self.assertGreaterEqual(len(loads), 2, "the page without JavaScript did not reload itself: %s" % nojs)
        self.assertEqual(nojs["polls"], 0, "a status poll came from the page without JavaScript")
        self.assertTrue(all(s == 200 for s in nojs["statuses"]), nojs)
        self.assertEqual(nojs["positions"][0], "5", nojs)  # behind the buyer with JavaScript
        self.assertEqual(nojs["aheads"][0], "4 people", nojs)
        pos = [int(p) for p in nojs["positions"] if p is not None]
        self.assertGreaterEqual(len(pos), 2, nojs)  # each load (read before the context closed) showed a number
        self.assertEqual(pos, sorted(pos, reverse=True), nojs)
        self.assertTrue(nojs["snapshot"]["place_visible"], nojs)
        print("browser %s; positions %s; updates %s; admissions %s; no-JS loads at %s ms with positions %s"
              % (next(e for e in events if e["event"] == "start")["browser"], seen, summary["updated"], admits,
                 nojs["loads"], nojs["positions"]), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
