"""Process lifecycle: --check and config errors, the admin listener, workers, SIGTERM drain, SIGHUP."""
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import GATEWAY, Client, Gateway, Origin, free_port, http_get  # noqa: E402


def run_check(text):
    d = tempfile.mkdtemp(prefix="wr-cfg-")
    path = os.path.join(d, "bad.ini")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([GATEWAY, "-c", path, "--check"], capture_output=True, text=True, timeout=10)
    shutil.rmtree(d, ignore_errors=True)
    return p.returncode, p.stdout + p.stderr, path


class ConfigCheck(unittest.TestCase):
    def test_valid_config(self):
        rc, out, _ = run_check("[gateway]\nlisten = 127.0.0.1:1\nadmin_listen = 127.0.0.1:2\n"
                               "[room sale]\npaths = /checkout\n")
        self.assertEqual(rc, 0, out)
        self.assertIn("valid", out)

    def test_bad_key_names_file_line_and_key(self):
        rc, out, path = run_check("[gateway]\nlisten = 127.0.0.1:1\n\n[origin]\nurl = ftp://x\n")
        self.assertEqual(rc, 2)
        self.assertEqual(out.strip().count("\n"), 0, "one line: %r" % out)
        self.assertIn("%s:5: [origin] url:" % path, out)

    def test_unknown_key(self):
        rc, out, path = run_check("[gateway]\nlisen = 127.0.0.1:1\n")
        self.assertEqual(rc, 2)
        self.assertIn("%s:2: [gateway] lisen: unknown key" % path, out)

    def test_room_problem_points_at_room(self):
        rc, out, path = run_check("[gateway]\n\n[room sale]\nstate = scheduled\npaths = /a\n")
        self.assertEqual(rc, 2)
        self.assertIn("%s:3: [room sale] open_at: missing" % path, out)

    def test_missing_file_and_usage(self):
        p = subprocess.run([GATEWAY, "-c", "/nonexistent/x.ini", "--check"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("/nonexistent/x.ini", p.stderr)
        p = subprocess.run([GATEWAY, "--bogus"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        p = subprocess.run([GATEWAY, "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--check", p.stdout)


class AdminAndWorkers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.origin = Origin()
        cls.gw = Gateway(cls.origin.url(), workers=2)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.origin.stop()
        assert rc == 0, cls.gw.logtext()

    def test_healthz(self):
        st, _, body = http_get(self.gw.admin_port, "/healthz")
        self.assertEqual(st, 200)
        self.assertIn(b'"status":"ok"', body)
        self.assertIn(b'"workers":2', body)

    def test_metrics_count_requests(self):
        for i in range(6):
            self.assertEqual(http_get(self.gw.port, "/m%d" % i)[0], 200)
        st, headers, body = http_get(self.gw.admin_port, "/metrics")
        self.assertEqual(st, 200)
        text = body.decode()
        two = int(re.search(r'waitroom_gateway_responses_total\{class="2xx"\} (\d+)', text).group(1))
        self.assertGreaterEqual(two, 6)
        for name in ("waitroom_gateway_connections ", "waitroom_gateway_upstream_latency_seconds_bucket",
                     "waitroom_gateway_pool_idle_connections", "waitroom_gateway_upstream_latency_seconds_count"):
            self.assertIn(name, text)

    def test_admin_serves_nothing_else(self):
        for path in ("/", "/echo", "/v1/rooms/../../etc/passwd", "/healthzx"):
            st, _, body = http_get(self.gw.admin_port, path)
            self.assertEqual(st, 404, path)
        self.assertEqual(len([r for r in self.origin.requests if r.target.startswith("/echo")]), 0)

    def test_secret_files_generated_0600(self):
        tok = os.path.join(self.gw.dir, "admin.token")
        self.assertTrue(os.path.exists(tok))
        self.assertEqual(stat.S_IMODE(os.stat(tok).st_mode), 0o600)
        self.assertIn("admin.token", self.gw.logtext())

    def test_both_workers_serve(self):
        # many fresh connections: SO_REUSEPORT spreads them; all must be answered
        for i in range(40):
            self.assertEqual(http_get(self.gw.port, "/w%d" % i)[0], 200)


class SecretFiles(unittest.TestCase):
    def test_generated_once_with_mode_0600_and_kept(self):
        origin = Origin()
        gw = Gateway(origin.url())
        try:
            key = os.path.join(gw.dir, "waitroom.key")
            self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
            content = open(key).read()
            self.assertRegex(content, r"(?m)^1 [0-9a-f]{64}$")
        finally:
            self.assertEqual(gw.stop(keep_dir=True), 0)
        # a second start keeps the same keys
        p = subprocess.Popen([GATEWAY, "-c", gw.config])
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        self.assertEqual(open(key).read(), content)
        shutil.rmtree(gw.dir, ignore_errors=True)
        origin.stop()


class Drain(unittest.TestCase):
    def test_sigterm_finishes_in_flight_requests_then_exits(self):
        origin = Origin()
        gw = Gateway(origin.url(), extra_gateway="shutdown_timeout_ms = 5000\n")
        results = {}

        def slow():
            c = Client(gw.port)
            c.send(b"GET /slow/1000 HTTP/1.1\r\nHost: h\r\n\r\n")
            r = c.read_response()
            results["status"] = r.status
            results["connection"] = r.header("connection")
            results["closed"] = c.is_closed()
            c.close()

        idle = Client(gw.port)  # an idle keep-alive connection is closed at once
        idle.send(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(idle.read_response().status, 200)
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.3)
        t0 = time.time()
        gw.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        self.assertTrue(idle.is_closed(wait=1))
        st, _, body = http_get(gw.admin_port, "/healthz")
        self.assertEqual(st, 503)
        self.assertIn(b"draining", body)
        refused = False
        try:
            http_get(gw.port, "/new")
        except OSError:
            refused = True
        self.assertTrue(refused, "new connections must be refused while draining")
        t.join(5)
        self.assertEqual(results.get("status"), 200)
        self.assertEqual(results.get("connection"), "close")
        self.assertTrue(results.get("closed"))
        gw.proc.wait(5)
        self.assertEqual(gw.proc.returncode, 0)
        self.assertLess(time.time() - t0, 3)
        gw.log.close()
        origin.stop()

    def test_sigterm_with_a_room_finishes_in_flight_requests(self):
        """A room configured: the origin's answer arriving during the drain must not look up the rooms
        (closed at the start of the drain); the request gets its answer and the process exits 0."""
        from resp import RedisServer
        redis = RedisServer()
        origin = Origin()
        gw = Gateway(origin.url(), extra_gateway="shutdown_timeout_ms = 5000\n",
                     rooms="[room sale]\npaths = /checkout\n",
                     extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % redis.port)
        try:
            results = {}

            def slow():
                c = Client(gw.port)
                c.send(b"GET /slow/1000 HTTP/1.1\r\nHost: h\r\n\r\n")
                results["status"] = c.read_response().status
                c.close()

            t = threading.Thread(target=slow)
            t.start()
            time.sleep(0.3)
            gw.proc.send_signal(signal.SIGTERM)
            t.join(5)
            gw.proc.wait(5)
            self.assertEqual(results.get("status"), 200)
            self.assertEqual(gw.proc.returncode, 0, gw.logtext()[-2000:])
        finally:
            if gw.proc.poll() is None:
                gw.proc.kill()
                gw.proc.wait()
            gw.log.close()
            origin.stop()
            redis.stop()

    def test_sigterm_with_a_room_still_queues_a_head_finished_during_the_drain(self):
        """A request head begun before SIGTERM and finished during the drain, on a protected path: it must
        not reach the origin without a pass (the drain closes the queue's Redis connection; the room is
        then in trouble, like a Redis outage: the visitor waits, nobody is let through unqueued)."""
        from resp import RedisServer
        redis = RedisServer()
        origin = Origin()
        gw = Gateway(origin.url(), extra_gateway="shutdown_timeout_ms = 5000\n",
                     rooms="[room sale]\npaths = /checkout\n",
                     extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % redis.port)
        try:
            c = Client(gw.port)
            c.send(b"GET /checkout HTTP/1.1\r\nHost: shop\r\nAccept: application/json\r\n")
            time.sleep(0.3)  # the gateway has read the first bytes: the drain waits for this request
            gw.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            c.send(b"\r\n")
            r = c.read_response()
            c.close()
            self.assertEqual([q.target for q in origin.requests if q.target.startswith("/checkout")], [],
                             "a protected path reached the origin without a pass during the drain")
            self.assertNotEqual(r.body, b"hello from origin /checkout\n")
            gw.proc.wait(5)
            self.assertEqual(gw.proc.returncode, 0, gw.logtext()[-2000:])
        finally:
            if gw.proc.poll() is None:
                gw.proc.kill()
                gw.proc.wait()
            gw.log.close()
            origin.stop()
            redis.stop()

    def test_drain_is_bounded(self):
        origin = Origin()
        gw = Gateway(origin.url(), extra_gateway="shutdown_timeout_ms = 500\n")
        c = Client(gw.port)
        c.send(b"GET /slow/5000 HTTP/1.1\r\nHost: h\r\n\r\n")
        time.sleep(0.2)
        t0 = time.time()
        gw.proc.send_signal(signal.SIGTERM)
        gw.proc.wait(5)
        self.assertLess(time.time() - t0, 2)
        self.assertEqual(gw.proc.returncode, 0)
        self.assertTrue(c.is_closed())
        c.close()
        gw.log.close()
        origin.stop()

    def test_sighup_checks_config_and_keeps_serving(self):
        origin = Origin()
        gw = Gateway(origin.url())
        try:
            with open(gw.config, "a") as f:
                f.write("[room x]\nbogus = 1\n")
            gw.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
            self.assertIn("config is invalid", gw.logtext())
            self.assertEqual(http_get(gw.port, "/after-hup")[0], 200)
        finally:
            self.assertEqual(gw.stop(), 0)
            origin.stop()

    def test_port_in_use_fails_clearly(self):
        origin = Origin()
        port = free_port()
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", port))
        s.listen(1)
        d = tempfile.mkdtemp(prefix="wr-it-")
        cfg = os.path.join(d, "gw.ini")
        with open(cfg, "w") as f:
            f.write("[gateway]\nlisten = 127.0.0.1:%d\nadmin_listen = 127.0.0.1:%d\nworkers = 2\n[origin]\nurl = %s\n"
                    % (port, free_port(), origin.url()))
        p = subprocess.run([GATEWAY, "-c", cfg], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot listen", p.stderr)
        s.close()
        origin.stop()



class ExampleConfig(unittest.TestCase):
    ROOT = os.path.join(os.path.dirname(__file__), "..", "..")

    def test_example_config_is_valid(self):
        path = os.path.join(self.ROOT, "config", "waitroom.example.ini")
        p = subprocess.run([GATEWAY, "-c", path, "--check"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_every_key_is_documented(self):
        src = open(os.path.join(self.ROOT, "config", "config.c")).read()
        keys = set(re.findall(r'KEY_U64\("(\w+)"', src)) | set(re.findall(r'ROOM_I64\("(\w+)"', src))
        keys |= set(re.findall(r'strcmp\(key, "(\w+)"\)', src))
        example = open(os.path.join(self.ROOT, "config", "waitroom.example.ini")).read()
        documented = set(re.findall(r"(?m)^#?\s*(\w+) = ", example))
        self.assertGreater(len(keys), 30)
        self.assertEqual(sorted(keys - documented), [])


if __name__ == "__main__":
    unittest.main()
