"""The admin API's room reads (GET /v1/rooms, GET /v1/rooms/NAME) against a real redis-server, a gateway
and wr-admission: the room's live state, the controller's leader, epoch and last tick, JSON errors with
the right status, and the bearer token (constant-time compared; reads from loopback may be open)."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Client, Gateway, Origin, Visitor, http_get  # noqa: E402
from resp import RedisServer  # noqa: E402

ADMISSION = os.environ.get("WR_ADMISSION",
                           os.path.join(os.path.dirname(__file__), "../../build/admission/wr-admission"))
ROOMS = "[room sale]\npaths = /checkout\nrate_per_minute = 120\n[room quiet]\npaths = /quiet\nstate = paused\n"


def get_json(port, path, headers=()):
    st, hdrs, body = http_get(port, path, headers)
    return st, {k.lower(): v for k, v in hdrs}, json.loads(body) if body else None


class AdminApi(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        self.origin = Origin()
        self.addCleanup(self.origin.stop)

    def gateway(self, extra="", rooms=ROOMS):
        gw = Gateway(self.origin.url(), extra_gateway=extra,
                     extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % self.redis.port, rooms=rooms)
        self.addCleanup(lambda: self.assertEqual(gw.stop(), 0, getattr(gw, "final_log", "")[-2000:]))
        return gw

    def admission(self, gw):
        log = open(os.path.join(gw.dir, "admission.log"), "w")
        p = subprocess.Popen([ADMISSION, "-c", gw.config, "--id", "ctl-1"], stdout=log, stderr=subprocess.STDOUT)

        def stop():
            p.send_signal(signal.SIGTERM)
            p.wait(10)
            log.close()
        self.addCleanup(stop)
        return p

    def test_room_reads(self):
        gw = self.gateway()
        visitors = [Visitor(gw.port) for _ in range(5)]
        for v in visitors:
            v.get("/checkout", json_=True)
        st, h, doc = get_json(gw.admin_port, "/v1/rooms")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual([r["name"] for r in doc["rooms"]], ["sale", "quiet"])
        self.assertEqual(doc["rooms"][1]["state"], "paused")
        # before any controller: the queue's counts, no controller record
        st, _, doc = get_json(gw.admin_port, "/v1/rooms/sale")
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc["waiting"], doc["boundary"], doc["last_serial"]), (5, 0, 5))
        self.assertIsNone(doc["controller"]["leader"])
        self.assertEqual(doc["paths"], ["/checkout"])
        self.admission(gw)
        deadline = time.time() + 5
        while time.time() < deadline:
            st, _, doc = get_json(gw.admin_port, "/v1/rooms/sale")
            if doc["controller"]["leader"] == "ctl-1" and doc["boundary"] > 0:
                break
            time.sleep(0.1)
        self.assertEqual(doc["controller"]["leader"], "ctl-1")
        self.assertEqual(doc["controller"]["epoch"], "1")
        self.assertGreater(int(doc["controller"]["tick_ms"]), int((time.time() - 5) * 1000))
        self.assertEqual(doc["rate_per_minute"], 120.0)
        self.assertEqual(doc["configured_rate_per_minute"], 120)
        self.assertGreater(doc["boundary"], 0)
        self.assertLess(doc["waiting"], 5)
        self.assertLessEqual(abs(int(doc["admitted_last_minute"]) - doc["boundary"]), 2)  # a tick may be mid-way
        self.assertIn(doc["controller"]["reason"], ("ok", "no_demand"))
        self.assertTrue(doc["origin"]["fresh"])  # the gateway publishes its signals
        self.assertAlmostEqual(doc["now_ms"] / 1000.0, time.time(), delta=2)
        # the controller keeps the dashboard's history: a sample at its first tick, then every 5 s
        st, _, hist = get_json(gw.admin_port, "/v1/rooms/sale/history")
        self.assertEqual(st, 200, hist)
        self.assertIn(len(hist["samples"]), (1, 2), hist)  # a slow run may have reached the second
        sample = hist["samples"][0]
        self.assertEqual(sample["rate_per_minute"], 120.0)
        self.assertIn(sample["reason"], ("ok", "no_demand"))
        # the first sample is the controller's first tick: all five were still waiting (it admits after
        # counting), none admitted yet
        self.assertEqual((sample["waiting"], sample["admitted_not_claimed"], sample["active_sessions"]), (5, 0, 0))
        self.assertAlmostEqual(sample["t_ms"] / 1000.0, time.time(), delta=5)
        st, _, quiet = get_json(gw.admin_port, "/v1/rooms/quiet/history")
        self.assertEqual(quiet["samples"][0]["reason"], "paused")
        # the first visitor (admitted) reaches the origin, once the gateway's view has the new boundary:
        # the room's origin latency histogram counts both answers
        deadline = time.time() + 5
        while time.time() < deadline and b"slow done" not in visitors[0].get("/checkout/slow/5").body:
            time.sleep(0.1)
        self.assertIn(b"slow done", visitors[0].get("/checkout/slow/5").body)
        # the per-room Prometheus metrics
        time.sleep(0.5)
        text = http_get(gw.admin_port, "/metrics")[2].decode()
        metrics = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        self.assertIn("# TYPE waitroom_room_origin_latency_seconds histogram", text)
        self.assertEqual(metrics['waitroom_room_origin_latency_seconds_count{room="sale"}'], "2")
        self.assertEqual(metrics['waitroom_room_origin_latency_seconds_bucket{room="sale",le="+Inf"}'], "2")
        self.assertEqual(metrics['waitroom_room_origin_latency_seconds_bucket{room="sale",le="30"}'], "2")
        self.assertEqual(metrics['waitroom_room_origin_latency_seconds_bucket{room="sale",le="0.001"}'], "0")  # 5 ms
        self.assertEqual(metrics['waitroom_room_origin_latency_seconds_count{room="quiet"}'], "0")
        self.assertGreater(float(metrics['waitroom_room_origin_latency_seconds_sum{room="sale"}']), 0)
        buckets = [int(v) for k, v in metrics.items() if k.startswith('waitroom_room_origin_latency_seconds_bucket{room="sale"')]
        self.assertEqual(buckets, sorted(buckets))  # cumulative
        self.assertEqual(metrics['waitroom_room_origin_requests_total{room="sale"}'], "2")
        # Redis: the workers' and the admin listener's commands, timed; no failures yet
        redis_count = int(metrics["waitroom_gateway_redis_latency_seconds_count"])
        self.assertGreater(redis_count, 10)  # view refreshes every 200 ms, joins, the API's reads
        self.assertGreaterEqual(int(metrics["waitroom_gateway_redis_commands_total"]), redis_count)
        for kind in ("error", "lost", "unavailable"):
            self.assertEqual(metrics['waitroom_gateway_redis_errors_total{kind="%s"}' % kind], "0", kind)
        self.assertEqual(metrics['waitroom_room_joins_total{room="sale"}'], "5")
        self.assertGreaterEqual(int(metrics['waitroom_room_polls_total{room="sale"}']), 5)
        self.assertEqual(int(metrics['waitroom_room_last_serial{room="sale"}']), 5)
        self.assertEqual(int(metrics['waitroom_room_boundary{room="sale"}']) + int(metrics['waitroom_room_waiting{room="sale"}']), 5)
        self.assertEqual(float(metrics['waitroom_room_controller_rate_per_minute{room="sale",mode="fixed"}']), 120.0)
        self.assertIn('waitroom_room_active_sessions{room="quiet"}', metrics)
        v = Visitor(gw.port)
        v.cookies["wr_q"] = "A" * 123  # base64url, but version 0: malformed
        v.get("/checkout", json_=True)
        good = v.cookies["wr_q"]
        v.cookies["wr_q"] = good[:-2] + ("AA" if good[-2:] != "AA" else "BA")  # a flipped MAC: forged
        v.get("/checkout", json_=True)
        text = http_get(gw.admin_port, "/metrics")[2].decode()
        self.assertIn('waitroom_room_token_rejections_total{room="sale",reason="malformed"} 1', text)
        self.assertIn('waitroom_room_token_rejections_total{room="sale",reason="forged"} 1', text)
        self.assertIn('waitroom_room_token_rejections_total{room="sale",reason="expired"} 0', text)
        st, _, quiet = get_json(gw.admin_port, "/v1/rooms/quiet")
        self.assertEqual(quiet["controller"]["reason"], "paused")
        # errors: JSON, the right status, the field
        st, _, err = get_json(gw.admin_port, "/v1/rooms/nope")
        self.assertEqual((st, err), (404, {"error": "no such room", "field": "name"}))
        st, _, err = get_json(gw.admin_port, "/v1/nothing")
        self.assertEqual(st, 404)
        self.assertIn("error", err)
        # Redis gone: the live state is unknown, and the API says so
        self.redis.proc.terminate()
        self.redis.proc.wait(5)
        time.sleep(0.3)
        st, _, err = get_json(gw.admin_port, "/v1/rooms/sale")
        self.assertEqual(st, 503)
        self.assertIn("Redis", err["error"])
        text = http_get(gw.admin_port, "/metrics")[2].decode()
        metrics = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        self.assertEqual(metrics["waitroom_gateway_redis_connected"], "0")
        self.assertGreaterEqual(int(metrics["waitroom_gateway_redis_reconnects_total"]), 2)  # worker + admin

    def test_metrics_of_many_rooms(self):
        # 64 rooms with long names: about 300 KB of text, more than the first buffer holds
        rooms = "".join("[room %s]\npaths = /r%d\n" % (("room%02d_" % i).ljust(60, "x"), i) for i in range(64))
        gw = self.gateway(rooms=rooms)
        st, _, body = http_get(gw.admin_port, "/metrics")
        self.assertEqual(st, 200, body[:300])
        self.assertGreater(len(body), 256 * 1024)
        text = body.decode()
        self.assertEqual(text.count('waitroom_room_origin_latency_seconds_count{room="'), 64)
        self.assertIn('waitroom_room_joins_total{room="%s"} 0' % "room63_".ljust(60, "x"), text)

    def test_protocol_edges(self):
        """The admin listener's small HTTP server (common/httpd): malformed and oversized requests get a
        JSON error and the connection closes; HEAD answers carry the length but no body; a request with
        two Authorization headers is not authorised by either."""
        gw = self.gateway()
        with open(os.path.join(gw.dir, "admin.token")) as f:
            token = f.read().strip()

        def raw(data, head=False):
            c = Client(gw.admin_port)
            try:
                c.send(data)
                r = c.read_response(head_request=head)
                return r, c.is_closed()
            finally:
                c.close()
        # more silent connections than the listener keeps (64): the oldest give way to newer ones, so
        # an operator's request is answered while an anonymous client holds them all (issue 13)
        idle = [Client(gw.admin_port) for _ in range(70)]
        try:
            self.assertTrue(idle[0].is_closed(wait=2))
            self.assertIsNone(gw.proc.poll())
            self.assertEqual(http_get(gw.admin_port, "/v1/rooms")[0], 200)
            self.assertEqual(http_get(gw.admin_port, "/healthz")[0], 200)
        finally:
            for c in idle:
                c.close()
        time.sleep(0.2)
        self.assertEqual(http_get(gw.admin_port, "/healthz")[0], 200)
        r, closed = raw(b"NOT HTTP AT ALL\r\n\r\n")
        self.assertEqual((r.status, json.loads(r.body)["error"], closed), (400, "bad request", True))
        r, closed = raw(b"GET /v1/rooms HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n")
        self.assertEqual((r.status, closed), (431, True))
        body = json.dumps({"state": "paused"}).encode()
        r, _ = raw(b"PATCH /v1/rooms/sale HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nAuthorization: Bearer %s\r\n"
                   b"Authorization: Bearer %s\r\n\r\n%s" % (len(body), token.encode(), token.encode(), body))
        self.assertEqual(r.status, 401)
        # the same with one header, sent in pieces (the header name split across reads) is authorised
        c = Client(gw.admin_port)
        try:
            c.send(b"PATCH /v1/rooms/sale HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nAuthori" % len(body))
            time.sleep(0.1)
            c.send(b"zation: Bearer " + token[:5].encode())
            time.sleep(0.1)
            c.send(token[5:].encode() + b"\r\n\r\n" + body)
            r = c.read_response()
        finally:
            c.close()
        self.assertEqual((r.status, json.loads(r.body)["state"]), (200, "paused"), r.body)
        c = Client(gw.admin_port)
        try:
            c.send(b"HEAD /v1/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            r = c.read_response(head_request=True)
            rest = c.buf
            while True:
                chunk = c.sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        finally:
            c.close()
        self.assertEqual(r.status, 200)
        self.assertGreater(int(r.header("content-length")), 10)
        self.assertEqual(rest, b"")  # no body, then the close

    def test_refused_clients_cannot_lock_operators_out(self):
        """A refused request (400) holds its connection for a lingering read of up to a second, and a
        lingering connection was never evicted: a client sending 64 bad requests a second kept the
        listener full, and an operator's connection was closed unanswered."""
        gw = self.gateway()
        held = []
        try:
            for _ in range(3):  # renewed as the lingering reads end
                for c in held:
                    c.close()
                held = [Client(gw.admin_port) for _ in range(64)]
                for c in held:
                    c.send(b"NOT HTTP AT ALL\r\n\r\n")  # 400, then a lingering read; never read nor closed
                time.sleep(0.2)
                self.assertEqual(http_get(gw.admin_port, "/healthz")[0], 200)
        finally:
            for c in held:
                c.close()

    def test_loopback_reads_need_a_local_host(self):
        """DNS rebinding: a page on evil.example that rebinds its name to 127.0.0.1 reaches loopback from a
        browser, but sends Host: evil.example; it must not read what loopback clients may."""
        gw = self.gateway()
        with open(os.path.join(gw.dir, "admin.token")) as f:
            token = f.read().strip()
        for host, want in (("evil.example:%d" % gw.admin_port, 401), ("127.0.0.1:%d" % gw.admin_port, 200),
                           ("localhost", 200), ("[::1]:1", 200), ("127.9.9.9", 200), ("127.0.0.1.evil.example", 401)):
            with self.subTest(host):
                c = Client(gw.admin_port)
                try:
                    c.send(("GET /v1/rooms HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
                    self.assertEqual(c.read_response().status, want)
                finally:
                    c.close()
        c = Client(gw.admin_port)  # two Hosts: not local
        try:
            c.send(b"GET /v1/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")
            self.assertEqual(c.read_response().status, 401)
        finally:
            c.close()
        c = Client(gw.admin_port)  # with the token any Host reads
        try:
            c.send(("GET /v1/rooms HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer %s\r\n\r\n" % token).encode())
            self.assertEqual(c.read_response().status, 200)
        finally:
            c.close()

    def test_token_for_reads(self):
        gw = self.gateway("admin_reads = token\n")
        with open(os.path.join(gw.dir, "admin.token")) as f:
            token = f.read().strip()
        self.assertEqual(get_json(gw.admin_port, "/v1/rooms")[0:3:2], (401, {"error": "unauthorized", "field": None}))
        self.assertEqual(get_json(gw.admin_port, "/v1/rooms", [("Authorization", "Bearer nope")])[0], 401)
        self.assertEqual(get_json(gw.admin_port, "/v1/rooms", [("Authorization", "Bearer " + token + "x")])[0], 401)
        self.assertEqual(get_json(gw.admin_port, "/v1/rooms", [("Authorization", "Basic " + token)])[0], 401)
        st, _, doc = get_json(gw.admin_port, "/v1/rooms", [("Authorization", "Bearer " + token)])
        self.assertEqual(st, 200)
        st, _, doc = get_json(gw.admin_port, "/v1/rooms/sale", [("authorization", "bearer " + token)])
        self.assertEqual(st, 200, doc)
        self.assertEqual(get_json(gw.admin_port, "/healthz")[0], 200)  # health stays open
        # other methods: 405, as JSON
        st, doc = self.call(gw, "DELETE", "/v1/rooms/sale", None, token)
        self.assertEqual(st, 405)
        self.assertIn("error", doc)

    def call(self, gw, method, path, body, token=None):
        c = Client(gw.admin_port)
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
            head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % (method, path, len(data))
            if token:
                head += "Authorization: Bearer %s\r\n" % token
            c.send(head.encode() + b"\r\n" + data)
            r = c.read_response()
        finally:
            c.close()
        return r.status, json.loads(r.body) if r.body else None

    def test_patch_changes_the_room_live(self):
        gw = self.gateway()
        with open(os.path.join(gw.dir, "admin.token")) as f:
            token = f.read().strip()
        v = Visitor(gw.port)
        self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["state"], "waiting")
        self.admission(gw)
        # writes need the token, even from loopback
        self.assertEqual(self.call(gw, "PATCH", "/v1/rooms/sale", {"state": "paused"})[0], 401)
        # validated: JSON errors naming the field, nothing changed
        for body, field in (({"state": "asleep"}, "state"), ({"rate_per_minute": -1}, "rate_per_minute"),
                            ({"rate_per_minute": "fast"}, "rate_per_minute"), ({"colour": "red"}, "colour"),
                            ({"state": "scheduled"}, "state"), ({"min_rate": 500, "max_rate": 100}, "max_rate"),
                            ({"open_at": int(time.time()) + 60}, "open_at"),  # not a scheduled room
                            ({"session_ttl": 5}, "session_ttl"), ({"session_ttl_s": 86400 * 2}, "session_ttl_s")):
            st, doc = self.call(gw, "PATCH", "/v1/rooms/sale", body, token)
            self.assertEqual((st, doc["field"]), (400, field), (body, doc))
        st, doc = self.call(gw, "PATCH", "/v1/rooms/sale", b"{not json", token)
        self.assertEqual((st, doc["field"]), (400, None))
        self.assertIn("JSON object", doc["error"])
        self.assertEqual(self.call(gw, "PATCH", "/v1/rooms/nope", {"state": "paused"}, token)[0], 404)
        r = self.redis.client()
        self.assertEqual(r.call("EXISTS", "wr:{sale}:cfg"), 0)
        # a partial update: the answer is the new state; gateways and the controller follow within a refresh
        st, doc = self.call(gw, "PATCH", "/v1/rooms/sale", {"state": "paused", "rate_per_minute": 30}, token)
        self.assertEqual(st, 200, doc)
        self.assertEqual((doc["state"], doc["configured_rate_per_minute"], doc["mode"]), ("paused", 30, "fixed"))
        t0 = time.time()
        deadline = t0 + 3
        while json.loads(v.get("/checkout", json_=True).body)["state"] != "paused" and time.time() < deadline:
            time.sleep(0.02)
        self.assertLess(time.time() - t0, 0.6)  # one cache refresh (200 ms) and some slack
        self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["state"], "paused")
        deadline = time.time() + 3
        while r.call("HGET", "wr:{sale}:ctl", "reason") != b"paused" and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(r.call("HGET", "wr:{sale}:ctl", "reason"), b"paused")
        # recorded: who changed what
        ev = [{f[i].decode(): f[i + 1].decode() for i in range(0, len(f), 2)}
              for _, f in r.call("XRANGE", "wr:{sale}:log", "-", "+")]
        cfg = [e for e in ev if e["ev"] == "config"]
        self.assertEqual(len(cfg), 1)
        self.assertEqual(sorted(cfg[0]["changes"].split()), ["rate_per_minute=30", "state=paused"])
        self.assertTrue(cfg[0]["who"].startswith("admin:127.0.0.1"))
        # reopen
        st, doc = self.call(gw, "PATCH", "/v1/rooms/sale", {"state": "open"}, token)
        self.assertEqual((st, doc["state"]), (200, "open"))
        deadline = time.time() + 3
        while r.call("HGET", "wr:{sale}:ctl", "reason") == b"paused" and time.time() < deadline:
            time.sleep(0.05)
        self.assertNotEqual(r.call("HGET", "wr:{sale}:ctl", "reason"), b"paused")
        self.assertEqual(float(r.call("HGET", "wr:{sale}:ctl", "rate_per_minute")), 30.0)
        # a shorter session from now on (the "session_ttl", stored under the config key's name):
        # the next visitor to claim a place gets 120 s, not the default 600
        st, doc = self.call(gw, "PATCH", "/v1/rooms/sale", {"session_ttl": 120}, token)
        self.assertEqual((st, doc["session_ttl_s"]), (200, 120), doc)
        self.assertEqual(r.call("HGET", "wr:{sale}:cfg", "session_ttl_s"), b"120")
        time.sleep(0.5)  # one refresh
        deadline = time.time() + 10
        while "wr_p" not in v.cookies and time.time() < deadline:
            v.get("/checkout")
            time.sleep(0.2)
        self.assertIn("wr_p", v.cookies)
        expiry_ms = int(r.call("ZRANGE", "wr:{sale}:active", 0, 0, "WITHSCORES")[1])
        self.assertAlmostEqual(expiry_ms / 1000.0 - time.time(), 120, delta=12)
        r.sock.close()

    def test_patch_open_at_moves_the_opening(self):
        """A scheduled room's opening moved live (RFC 3339 or unix seconds): the buyers' status and page
        show the new time, the draw happens then, and once it is done the opening can no longer move."""
        far = int(time.time()) + 3600
        gw = self.gateway(rooms="[room sale]\npaths = /checkout\nstate = scheduled\nopen_at = %s\n"
                          % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(far)))
        with open(os.path.join(gw.dir, "admin.token")) as f:
            token = f.read().strip()
        r = self.redis.client()
        self.addCleanup(r.sock.close)
        deadline = time.time() + 5
        while not r.call("HGET", "wr:{sale}:shuffle", "commitment") and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the gateway has learnt the commitment
        buyer = Visitor(gw.port)
        doc = json.loads(buyer.get("/checkout", json_=True).body)
        self.assertEqual((doc["state"], doc["open_at"]), ("scheduled", far))
        st, _, doc = get_json(gw.admin_port, "/v1/rooms/sale")
        self.assertEqual(doc["open_at"], far)
        for bad in ("tomorrow", int(time.time()) - 3600, int(time.time()) + 500 * 86400, True):
            st, err = self.call(gw, "PATCH", "/v1/rooms/sale", {"open_at": bad}, token)
            self.assertEqual((st, err["field"]), (400, "open_at"), (bad, err))
        # half an hour later, as an RFC 3339 time
        later = far + 1800
        st, doc = self.call(gw, "PATCH", "/v1/rooms/sale",
                            {"open_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(later))}, token)
        self.assertEqual((st, doc["open_at"], doc["state"]), (200, later, "scheduled"), doc)
        deadline = time.time() + 3
        while json.loads(buyer.get("/checkout", json_=True).body).get("open_at") != later and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(json.loads(buyer.get("/checkout", json_=True).body)["open_at"], later)
        self.assertIn(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(later)), buyer.get("/checkout").body.decode())
        # now in two seconds: the room opens then, the pre-queued buyer gets the first place
        soon = int(time.time()) + 2
        st, doc = self.call(gw, "PATCH", "/v1/rooms/sale", {"open_at": soon}, token)
        self.assertEqual((st, doc["open_at"]), (200, soon))
        deadline = time.time() + 8
        while r.call("HGET", "wr:{sale}:shuffle", "opened") != b"1" and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(r.call("HGET", "wr:{sale}:shuffle", "opened"), b"1")
        opened_ms = int(r.call("HGET", "wr:{sale}:shuffle", "opened_ms"))
        self.assertGreaterEqual(opened_ms, soon * 1000)
        self.assertLess(opened_ms, soon * 1000 + 3000)
        time.sleep(0.5)
        doc = json.loads(buyer.get("/checkout", json_=True).body)
        self.assertEqual((doc["state"], doc["position"]), ("waiting", 1), doc)
        self.assertNotIn("open_at", doc)
        # wr-admission follows the live opening time too (by the file's, the room opens in an hour)
        self.admission(gw)
        deadline = time.time() + 5
        while int(r.call("GET", "wr:{sale}:boundary") or 0) < 1 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(int(r.call("GET", "wr:{sale}:boundary") or 0), 1)
        # the draw is done: the opening can no longer move, and nothing changed
        st, err = self.call(gw, "PATCH", "/v1/rooms/sale", {"open_at": int(time.time()) + 600, "rate_per_minute": 5},
                            token)
        self.assertEqual((st, err["field"]), (409, "open_at"), err)
        self.assertEqual(r.call("HGET", "wr:{sale}:cfg", "open_at"), str(soon).encode())
        self.assertIsNone(r.call("HGET", "wr:{sale}:cfg", "rate_per_minute"))
        changes = [f for _, f in r.call("XRANGE", "wr:{sale}:log", "-", "+") if f[1] == b"config"]
        self.assertEqual([dict(zip(f[::2], f[1::2]))[b"changes"] for f in changes],
                         [b"open_at=%d" % later, b"open_at=%d" % soon])

    def test_log_and_config(self):
        gw = self.gateway()
        with open(os.path.join(gw.dir, "admin.token")) as f:
            token = f.read().strip()
        vs = [Visitor(gw.port) for _ in range(4)]
        for v in vs:
            v.get("/checkout", json_=True)
        r = self.redis.client()
        joins = [{f[i].decode(): f[i + 1].decode() for i in range(0, len(f), 2)}
                 for _, f in r.call("XRANGE", "wr:{sale}:log", "-", "+")]
        self.assertEqual(len(joins), 4)
        # paged: two at a time, following `next`
        st, _, page = get_json(gw.admin_port, "/v1/rooms/sale/log?limit=2")
        self.assertEqual(st, 200)
        self.assertEqual([e["serial"] for e in page["events"]], ["1", "2"])
        self.assertIsNotNone(page["next"])
        st, _, page2 = get_json(gw.admin_port, "/v1/rooms/sale/log?limit=2&after=" + page["next"])
        self.assertEqual([e["serial"] for e in page2["events"]], ["3", "4"])
        # one visitor's story, including events that name only their serial
        vid = joins[2]["visitor"]
        vs[2].leave()
        r.call("XADD", "wr:{sale}:log", "*", "ev", "admitted", "serial", "3", "gw", "test", "ms", "1")
        r.call("XADD", "wr:{sale}:log", "*", "ev", "admitted", "serial", "4", "gw", "test", "ms", "1")
        st, _, mine = get_json(gw.admin_port, "/v1/rooms/sale/log?visitor=" + vid)
        self.assertEqual([e["ev"] for e in mine["events"]], ["joined", "left", "admitted"])
        self.assertTrue(all(e["serial"] == "3" for e in mine["events"]))
        self.assertIsNone(mine["next"])
        st, _, by_serial = get_json(gw.admin_port, "/v1/rooms/sale/log?serial=4")
        self.assertEqual([e["ev"] for e in by_serial["events"]], ["joined", "admitted"])
        self.assertEqual(get_json(gw.admin_port, "/v1/rooms/nope/log")[0], 404)
        # the live configuration, with no secret in it
        st, _, cfg = get_json(gw.admin_port, "/v1/config")
        self.assertEqual(st, 200)
        self.assertEqual([x["name"] for x in cfg["rooms"]], ["sale", "quiet"])
        self.assertEqual(cfg["rooms"][0]["rate_per_minute"], 120)
        self.assertEqual(cfg["gateway"]["admin_reads"], "loopback")
        self.assertEqual(cfg["gateway"]["hosts"], [])  # [gateway] hosts unset
        text = http_get(gw.admin_port, "/v1/config")[2].decode()
        self.assertNotIn(token, text)
        with open(os.path.join(gw.dir, "waitroom.key")) as f:
            for line in f:
                self.assertNotIn(line.split()[-1], text)
        r.sock.close()


if __name__ == "__main__":
    unittest.main()
