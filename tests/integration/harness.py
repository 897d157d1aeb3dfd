"""Integration-test harness: a scriptable test origin and a wr-gateway process on free loopback ports.

The origin is a raw-socket HTTP/1.1 server (one thread per connection) so tests control framing
exactly: keep-alive, chunked, close-delimited bodies, 1xx, slow answers, echo of what arrived.
Standard library only. The gateway binary comes from $WR_GATEWAY (meson sets it).
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

GATEWAY = os.environ.get("WR_GATEWAY", os.path.join(os.path.dirname(__file__), "../../build/gateway/wr-gateway"))


_given_ports = set()


def free_port():
    """A free loopback port, never one this process was given before (the kernel may hand the same
    ephemeral port out twice in a row, and two servers of one test would then collide)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


# ---------------------------------------------------------------------------------------------
# Test origin


class Request:
    def __init__(self, method, target, version, headers, body):
        self.method, self.target, self.version, self.headers, self.body = method, target, version, headers, body

    def header(self, name):
        vals = [v for (k, v) in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else None


def read_until(sock, buf, marker, limit=1 << 20):
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk
        if len(buf) > limit:
            raise ValueError("too big")
    i = buf.index(marker) + len(marker)
    return buf[:i], buf[i:]


def read_exact(sock, buf, n):
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, max(65536, n - len(buf))))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf[:n], buf[n:]


def read_chunked(sock, buf, sink, trailers=None):
    """Reads a chunked body; calls sink(bytes) per piece; returns leftover bytes. Trailer lines go to
    the trailers list, if given."""
    while True:
        line, buf = read_until(sock, buf, b"\r\n")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers
                line, buf = read_until(sock, buf, b"\r\n")
                if line == b"\r\n":
                    return buf
                if trailers is not None:
                    trailers.append(line)
        while size > 0:
            if not buf:
                buf = sock.recv(1 << 20)
                if not buf:
                    raise EOFError
            take = buf[:size]
            sink(take)
            size -= len(take)
            buf = buf[len(take):]
        _, buf = read_exact(sock, buf, 2)


class Origin:
    """Paths:
    /echo...            200 JSON {method, target, headers, body_len, body_sha256}
    /status/NNN         that status, small body (none for 204/304)
    /slow/MS            answer after MS milliseconds
    /big/N              N bytes (Content-Length), streamed
    /chunked/N/SIZE     N chunks of SIZE bytes
    /drip/N/MS          N small chunks, MS milliseconds apart
    /close-delimited    body ends when the connection closes
    /interim            a 103 Early Hints, then 200
    /conn-id            body = this origin connection's number (shows reuse)
    /conn-framing       "Connection: Content-Length" beside its Content-Length
    anything else       200 "hello from origin <target>"
    """

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(512)
        self.connections = 0
        self.requests = []
        self.lock = threading.Lock()
        self.stopped = False
        self.clients = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in list(self.clients):
            try:
                c.close()
            except OSError:
                pass

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                cid = self.connections
                self.clients.append(c)
            threading.Thread(target=self._serve, args=(c, cid), daemon=True).start()

    def _serve(self, c, cid):
        buf = b""
        try:
            while True:
                head, buf = read_until(c, buf, b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ")
                headers = []
                for ln in lines[1:]:
                    if ln:
                        k, v = ln.split(":", 1)
                        headers.append((k.strip(), v.strip()))
                req = Request(method, target, version, headers, b"")
                h = hashlib.sha256()
                n = [0]

                def sink(b):
                    h.update(b)
                    n[0] += len(b)

                te = req.header("transfer-encoding")
                req.trailers = []
                if te and "chunked" in te.lower():
                    buf = read_chunked(c, buf, sink, req.trailers)
                elif req.header("content-length"):
                    left = int(req.header("content-length"))
                    while left:
                        if not buf:
                            buf = c.recv(1 << 20)
                            if not buf:
                                raise EOFError
                        take = buf[:left]
                        sink(take)
                        left -= len(take)
                        buf = buf[len(take):]
                req.body_len, req.body_sha = n[0], h.hexdigest()
                with self.lock:
                    self.requests.append(req)
                if not self._respond(c, req, cid):
                    break
        except (EOFError, OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _send(self, c, status, body=b"", extra=(), reason="OK"):
        head = "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n" % (status, reason, len(body))
        for k, v in extra:
            head += "%s: %s\r\n" % (k, v)
        c.sendall(head.encode() + b"\r\n" + body)

    def _respond(self, c, req, cid):
        t = req.target
        if t.startswith("/echo"):
            body = json.dumps({"method": req.method, "target": t, "headers": req.headers,
                               "body_len": req.body_len, "body_sha256": req.body_sha}).encode()
            self._send(c, 200, body, [("Content-Type", "application/json")])
        elif re.search(r"/status/\d{3}", t):  # also under a protected prefix: /checkout/status/502
            st = int(re.search(r"/status/(\d{3})", t).group(1))
            if st in (204, 304):
                c.sendall(b"HTTP/1.1 %d X\r\nX-Status: %d\r\n\r\n" % (st, st))
            else:
                self._send(c, st, b"status %d\n" % st)
        elif re.search(r"/slow/\d+", t):
            time.sleep(int(re.search(r"/slow/(\d+)", t).group(1)) / 1000.0)
            self._send(c, 200, b"slow done\n")
        elif t.startswith("/big/"):
            n = int(t.split("/")[2])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            if req.method == "HEAD":
                return True
            block = b"x" * 65536
            while n:
                k = min(n, len(block))
                c.sendall(block[:k])
                n -= k
        elif t.startswith("/chunked/"):
            _, _, n, size = t.split("/")
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"y" * int(size)
            for _ in range(int(n)):
                c.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            c.sendall(b"0\r\n\r\n")
        elif t.startswith("/drip/"):
            _, _, n, ms = t.split("/")
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(int(n)):
                c.sendall(b"%x\r\n%s\r\n" % (len(b"drop%d;" % i), b"drop%d;" % i))
                time.sleep(int(ms) / 1000.0)
            c.sendall(b"0\r\n\r\n")
        elif t.startswith("/close-delimited"):
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
            return False
        elif t.startswith("/interim"):
            c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
            self._send(c, 200, b"after interim\n")
        elif "inventory=" in t:  # the origin says how many tickets are left
            left = t.split("inventory=", 1)[1].split("&", 1)[0]
            self._send(c, 200, b"tickets left: %s\n" % left.encode(), [("Waitroom-Inventory", left)])
        elif "release=done" in t:  # the origin ends the buyer's session
            self._send(c, 200, b"thanks for your order\n", [("Waitroom-Release", "done")])
        elif t.startswith("/conn-id"):
            self._send(c, 200, str(cid).encode())
        elif t.startswith("/conn-framing"):  # an origin naming its own framing header in Connection
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello")
        elif t.startswith("/hop"):
            self._send(c, 200, b"hop", [("Connection", "X-Private"), ("X-Private", "secret"),
                                         ("Keep-Alive", "timeout=5"), ("X-Public", "yes")])
        else:
            self._send(c, 200, ("hello from origin %s\n" % t).encode())
        return True


# ---------------------------------------------------------------------------------------------
# Gateway process


class Gateway:
    def __init__(self, origin_url, extra_gateway="", extra_origin="", rooms="", workers=1):
        self.dir = tempfile.mkdtemp(prefix="wr-it-")
        self.port, self.admin_port = free_port(), free_port()
        self.config = os.path.join(self.dir, "gw.ini")
        with open(self.config, "w") as f:
            # every visitor of a test comes from 127.0.0.1: no join limit unless a test sets one
            f.write("[gateway]\nlisten = 127.0.0.1:%d\nadmin_listen = 127.0.0.1:%d\nworkers = %d\n"
                    "log_level = debug\njoin_limit_per_ip_per_minute = 0\n%s\n[origin]\nurl = %s\n%s\n%s\n"
                    % (self.port, self.admin_port, workers, extra_gateway, origin_url, extra_origin, rooms))
        self.log = open(os.path.join(self.dir, "gw.log"), "w+")
        self.proc = subprocess.Popen([GATEWAY, "-c", self.config], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited: %s" % self.logtext())
            try:
                st, _, _ = http_get(self.admin_port, "/healthz")
                if st == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gateway did not start: %s" % self.logtext())

    def logtext(self):
        if not self.log.closed:
            self.log.flush()
        with open(os.path.join(self.dir, "gw.log")) as f:
            return f.read()

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def metric(self, name):
        _, _, body = http_get(self.admin_port, "/metrics")
        m = re.search(r"^%s (\d+(?:\.\d+)?)$" % re.escape(name), body.decode(), re.M)
        return float(m.group(1)) if m else None

    def stop(self, timeout=20, keep_dir=False):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.proc.returncode != 0:
            self.final_log = self.logtext()
        if self.proc.returncode == 0 and not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


# ---------------------------------------------------------------------------------------------
# A small client that shows exactly what came back


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status, self.reason, self.headers, self.body, self.version = status, reason, headers, body, version

    def header(self, name):
        vals = [v for (k, v) in self.headers if k.lower() == name.lower()]
        return ", ".join(vals) if vals else None


class Client:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def read_response(self, head_request=False):
        head, self.buf = read_until(self.sock, self.buf, b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = []
        for ln in lines[1:]:
            if ln:
                k, v = ln.split(":", 1)
                headers.append((k.strip(), v.strip()))
        resp = Response(int(status), reason, headers, b"", version)
        st = int(status)
        if head_request or st in (204, 304) or 100 <= st < 200:
            return resp
        te = resp.header("transfer-encoding")
        body = bytearray()
        if te and "chunked" in te.lower():
            self.buf = read_chunked(self.sock, self.buf, body.extend)
        elif resp.header("content-length") is not None:
            data, self.buf = read_exact(self.sock, self.buf, int(resp.header("content-length")))
            body.extend(data)
        else:
            body.extend(self.buf)
            self.buf = b""
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                body.extend(chunk)
        resp.body = bytes(body)
        return resp

    def is_closed(self, wait=2.0):
        """True if the server closed the connection (EOF or reset) within wait seconds."""
        self.sock.settimeout(wait)
        try:
            data = self.buf or self.sock.recv(65536)
            self.buf = b""
            if not data:
                return True
            return self.is_closed(wait)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


def wait_for(cond, timeout=10.0, every=0.02):
    """Calls cond until it returns something true (returned) or timeout seconds pass (None)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(every)
    return None


def http_get(port, path, headers=()):
    c = Client(port, timeout=5)
    try:
        req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % path
        for k, v in headers:
            req += "%s: %s\r\n" % (k, v)
        c.send((req + "\r\n").encode())
        r = c.read_response()
        return r.status, r.headers, r.body
    finally:
        c.close()


class GatewayTest(unittest.TestCase):
    """Starts an origin and a gateway per test class; subclasses set CONFIG_* to tune them."""
    EXTRA_GATEWAY = ""
    EXTRA_ORIGIN = ""
    ROOMS = ""

    @classmethod
    def setUpClass(cls):
        cls.origin = Origin()
        cls.gw = Gateway(cls.origin.url(), cls.EXTRA_GATEWAY, cls.EXTRA_ORIGIN, cls.ROOMS)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.origin.stop()
        if rc != 0:
            raise AssertionError("gateway exited with %s:\n%s" % (rc, cls.gw.logtext()[-3000:]))

    def client(self):
        return Client(self.gw.port)

    def request(self, raw, head_request=False):
        c = self.client()
        try:
            c.send(raw)
            return c.read_response(head_request)
        finally:
            c.close()


class Visitor:
    """A buyer's browser, reduced to a cookie jar: one fresh connection per request."""

    def __init__(self, port):
        self.port, self.cookies = port, {}

    def get(self, path, json_=False, method="GET", extra=""):
        c = Client(self.port)
        try:
            req = "%s %s HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n%s" % (method, path, extra)
            if method == "POST":
                req += "Content-Length: 0\r\n"
            if json_:
                req += "Accept: application/json\r\n"
            if self.cookies:
                req += "Cookie: %s\r\n" % "; ".join("%s=%s" % kv for kv in self.cookies.items())
            c.send((req + "\r\n").encode())
            r = c.read_response()
        finally:
            c.close()
        for k, v in r.headers:
            if k.lower() == "set-cookie":
                name, rest = v.split("=", 1)
                self.cookies[name] = rest.split(";", 1)[0]
        return r

    def leave(self, room="sale"):
        """POST /__waitroom/leave as the buyer's own page does in a browser (which says where it comes from)."""
        return self.get("/__waitroom/leave?room=%s" % room, method="POST", json_=True,
                        extra="Origin: http://shop\r\nSec-Fetch-Site: same-origin\r\n")


ADMIT_KEYS = ("seq", "boundary", "seen", "left", "admitted", "rejoin", "log", "tick", "epoch", "active", "ended", "owed",
              "revoked", "skipped")
_ADMIT_LUA = os.path.join(os.path.dirname(__file__), "..", "..", "common", "lua", "admit.lua")
_ticks = iter(range(1, 1 << 62))  # tick ids only ever grow, across rooms and tests


def admit(r, n, room="sale", gw=None, refreshes=2, abandon_ms=60000, claim_ms=120000):
    """Admission the way the controller does it: one admit.lua call for `room` (fenced by epoch 1, a new
    tick id) through the Redis client r; then, given a gateway, waits until its workers have refreshed
    their views `refreshes` times, so what the test asks next is answered from the new boundary.
    Returns admit.lua's answer: [admitted, boundary, no_shows, abandoned, skipped_left, expired]."""
    with open(_ADMIT_LUA) as f:
        src = f.read()
    res = r.call("EVAL", src, len(ADMIT_KEYS), *["wr:{%s}:%s" % (room, k) for k in ADMIT_KEYS], n,
                 int(time.time() * 1000), abandon_ms, claim_ms, next(_ticks), "1", "test", 1000, 10000, 86400000, 900000)
    if gw is not None:
        r0 = gw.metric("waitroom_gateway_room_refreshes_total")
        deadline = time.time() + 10
        while gw.metric("waitroom_gateway_room_refreshes_total") < r0 + refreshes and time.time() < deadline:
            time.sleep(0.05)
    return res


class RoomTest(unittest.TestCase):
    """A redis-server, a test origin and a gateway serving ROOMS, shared by the tests of a class; self.r is
    a Redis client. The gateway's views have been refreshed by every worker before the first test."""
    WORKERS = 1
    ROOMS = "[room sale]\npaths = /checkout\n"
    EXTRA_ORIGIN = ""  # more [origin] keys
    EXTRA_GATEWAY = ""  # more [gateway] keys

    @classmethod
    def setUpClass(cls):
        from resp import RedisServer
        cls.redis = RedisServer()
        cls.origin = Origin()
        try:
            cls.gw = Gateway(cls.origin.url(), cls.EXTRA_GATEWAY, workers=cls.WORKERS, rooms=cls.ROOMS,
                             extra_origin=cls.EXTRA_ORIGIN + "[redis]\nurl = redis://127.0.0.1:%d\n" % cls.redis.port)
        except Exception:
            cls.origin.stop()
            cls.redis.stop()
            raise
        cls.r = cls.redis.client()
        deadline = time.time() + 10
        while time.time() < deadline and (cls.gw.metric("waitroom_gateway_room_refreshes_total") or 0) < 2 * cls.WORKERS:
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        cls.origin.stop()
        cls.r.sock.close()
        cls.redis.stop()
        assert rc == 0, "gateway exited with %s:\n%s" % (rc, getattr(cls.gw, "final_log", "")[-3000:])
