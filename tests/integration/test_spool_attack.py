"""Response spooling under attack: byte order across direct writes and the spool, pipelining after a
spooled response, clients and origins going away mid-spool, timeouts, drains, and the stalled-client cut.
Every test checks that the gateway's spool accounting returns to zero and that it exits 0."""
import os
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, Origin, wait_for  # noqa: E402


class AttackOrigin(Origin):
    """More paths:
    /one/N          head and N bytes of body in a single send (so one read holds the whole response)
    /pat/N          N bytes of a position pattern (Content-Length), in 64 KiB sends
    /cd/N           N bytes of the pattern, delimited by the close of the connection
    /reset/N        announces N bytes, sends half, then resets the connection
    /stall/N        announces N bytes, sends half, then waits 5 s (and resets)
    """

    def _respond(self, c, req, cid):
        t = req.target
        if t.startswith("/one/"):
            n = int(t.split("/")[2].split("?")[0])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + b"x" * n)
            return True
        if t.startswith("/pat/"):
            n = int(t.split("/")[2].split("?")[0])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            if req.method == "HEAD":
                return True
            body = pattern(n)
            for i in range(0, n, 65536):
                c.sendall(body[i:i + 65536])
            return True
        if t.startswith("/cd/"):  # close-delimited
            n = int(t.split("/")[2])
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + pattern(n))
            return False
        if t.startswith("/reset/") or t.startswith("/stall/"):
            n = int(t.split("/")[2])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            c.sendall(pattern(n)[:n // 2])
            if t.startswith("/stall/"):
                time.sleep(5)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return False
        return Origin._respond(self, c, req, cid)


_pat = {}


def pattern(n):
    """n bytes where every 16-byte line names its own offset: a lost, repeated or moved byte shows."""
    if n not in _pat:
        lines = (n + 15) // 16
        _pat[n] = b"".join(b"%015d\n" % (i * 16) for i in range(lines))[:n]
    return _pat[n]


def stalled_client(port, data, rcvbuf=4096):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(data)
    return s


def recv_until(s, n, timeout=30):
    s.settimeout(timeout)
    buf = bytearray()
    try:
        while len(buf) < n:
            d = s.recv(1 << 20)
            if not d:
                break
            buf += d
    except (socket.timeout, ConnectionResetError):
        pass
    return bytes(buf)


def read_responses(s, count, timeout=20):
    """Reads count Content-Length responses: [(head, body)]. Fails on a close or a stall before them."""
    s.settimeout(timeout)
    buf, out, i = bytearray(), [], 0
    while len(out) < count:
        h = buf.find(b"\r\n\r\n", i)
        if h >= 0:
            head = bytes(buf[i:h])
            assert head.startswith(b"HTTP/1.1 "), (len(out), bytes(buf[i:i + 80]))
            n = None
            for line in head.split(b"\r\n")[1:]:
                k, v = line.split(b":", 1)
                if k.strip().lower() == b"content-length":
                    n = int(v)
            assert n is not None, head
            if len(buf) >= h + 4 + n:
                out.append((head, bytes(buf[h + 4:h + 4 + n])))
                i = h + 4 + n
                continue
        d = s.recv(1 << 20)
        if not d:
            raise AssertionError("closed after %d responses" % len(out))
        buf += d
    assert i == len(buf), "trailing bytes: %r" % bytes(buf[i:i + 80])
    return out


class SpoolAttack(unittest.TestCase):
    def setUp(self):
        self.origin = AttackOrigin()
        self.dir = tempfile.mkdtemp(prefix="wr-spool-")
        self.gws = []

    def tearDown(self):
        for g in self.gws:
            self.assertEqual(g.stop(), 0, getattr(g, "final_log", ""))
        self.origin.stop()
        self.assertEqual(os.listdir(self.dir), [])
        os.rmdir(self.dir)

    def gateway(self, extra_origin="", extra_gateway=""):
        g = Gateway(self.origin.url(), extra_gateway=extra_gateway,
                    extra_origin="pool_max_conns = 1\nspool_dir = %s\n%s" % (self.dir, extra_origin))
        self.gws.append(g)
        return g

    def m(self, g, name):
        return g.metric("waitroom_gateway_" + name)

    def settled(self, g):
        wait_for(lambda: self.m(g, "spool_bytes") == 0 and self.m(g, "pool_busy_connections") == 0, timeout=20)

    def test_pipelined_responses_that_end_in_the_spool_keep_their_bytes(self):
        # Each response arrives from the origin in one read; once the client's socket is full, the
        # tail of one of them goes to the spool and is sent on from the spool's buffer while the
        # response ends. That buffer must live until the write is done.
        g = self.gateway()
        k, n = 200, 20000
        s = stalled_client(g.port, b"".join(b"GET /one/%d HTTP/1.1\r\nHost: h\r\n\r\n" % n for _ in range(k)))
        time.sleep(1.5)
        for head, body in read_responses(s, k):
            self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
            self.assertEqual(body, b"x" * n)
        s.close()
        self.settled(g)

    def test_a_client_reading_in_bursts_gets_every_byte_in_order(self):
        # direct writes, the spool, caught up, direct again: the stream must be the origin's, byte for byte
        g = self.gateway("spool_max_bytes = 300000\n")
        n = 6_000_000
        s = stalled_client(g.port, b"GET /pat/%d HTTP/1.1\r\nHost: h\r\n\r\nGET /pat/%d HTTP/1.1\r\nHost: h\r\n\r\n"
                           % (n, n // 3))
        rs = read_responses(Bursts(s), 2)
        self.assertEqual(rs[0][1], pattern(n))
        self.assertEqual(rs[1][1], pattern(n // 3))
        self.assertGreaterEqual(self.m(g, "spooled_responses_total"), 1)
        s.close()
        self.settled(g)

    def test_http10_dechunked_and_http11_chunked_through_the_spool(self):
        g = self.gateway()
        for version in ("1.0", "1.1"):
            s = stalled_client(g.port, b"GET /chunked/300/65536 HTTP/%s\r\nHost: h\r\n\r\n" % version.encode())
            wait_for(lambda: self.m(g, "pool_busy_connections") == 0, timeout=20)
            s.settimeout(20)
            buf = bytearray()
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                buf += d
                if version == "1.1" and buf.endswith(b"0\r\n\r\n"):
                    break
            head, body = bytes(buf).split(b"\r\n\r\n", 1)
            if version == "1.0":
                self.assertEqual(body, b"y" * (300 * 65536))
            else:
                self.assertIn(b"chunked", head.lower())
                self.assertEqual(body, (b"10000\r\n" + b"y" * 65536 + b"\r\n") * 300 + b"0\r\n\r\n")
            s.close()
        self.settled(g)

    def test_head_204_304_and_small_responses_pipelined_after_a_spooled_one(self):
        g = self.gateway()
        n = 8_000_000
        reqs = [b"GET /pat/%d HTTP/1.1\r\nHost: h\r\n\r\n" % n, b"HEAD /pat/%d HTTP/1.1\r\nHost: h\r\n\r\n" % n,
                b"GET /status/204 HTTP/1.1\r\nHost: h\r\n\r\n", b"GET /status/304 HTTP/1.1\r\nHost: h\r\n\r\n",
                b"GET /one/100 HTTP/1.1\r\nHost: h\r\n\r\n", b"GET /pat/%d HTTP/1.1\r\nHost: h\r\n\r\n" % n]
        s = stalled_client(g.port, b"".join(reqs))
        wait_for(lambda: self.m(g, "spooled_responses_total") >= 1 and self.m(g, "pool_busy_connections") == 0,
                 timeout=20)
        s.settimeout(30)
        buf = bytearray()
        while True:
            d = s.recv(1 << 20)
            buf += d
            if not d or (buf.count(b"HTTP/1.1 ") >= 6 and buf.endswith(pattern(n)[-64:])):
                break
        parts = bytes(buf)
        i = parts.index(b"\r\n\r\n") + 4
        self.assertEqual(parts[i:i + n], pattern(n))
        rest = parts[i + n:]
        heads = [rest.index(b"HTTP/1.1 200"), rest.index(b"HTTP/1.1 204"), rest.index(b"HTTP/1.1 304")]
        self.assertEqual(heads, sorted(heads))
        self.assertIn(b"\r\n\r\n" + b"x" * 100 + b"HTTP/1.1 200", rest)
        self.assertTrue(rest.endswith(b"\r\n\r\n" + pattern(n)))
        s.close()
        self.settled(g)

    def test_an_origin_that_resets_mid_spool(self):
        g = self.gateway()
        s = stalled_client(g.port, b"GET /reset/12000000 HTTP/1.1\r\nHost: h\r\n\r\n")
        got = recv_until(s, 20_000_000, timeout=10)
        self.assertLess(len(got), 12_000_000)
        s.close()
        self.settled(g)
        self.assertEqual(self.m(g, "connections"), 0)

    def test_an_origin_that_stalls_mid_spool_times_out(self):
        g = self.gateway("response_timeout_ms = 1000\n")
        s = stalled_client(g.port, b"GET /stall/12000000 HTTP/1.1\r\nHost: h\r\n\r\n")
        wait_for(lambda: self.m(g, "spool_bytes") > 0, timeout=10)
        time.sleep(1.5)
        got = recv_until(s, 20_000_000, timeout=10)
        self.assertLess(len(got), 12_000_000)
        s.close()
        self.settled(g)

    def test_send_timeout_with_a_spooled_response(self):
        g = self.gateway(extra_gateway="send_timeout_ms = 1000\n")
        s = stalled_client(g.port, b"GET /pat/16000000 HTTP/1.1\r\nHost: h\r\n\r\n")
        wait_for(lambda: self.m(g, "spool_bytes") > 0 and self.m(g, "pool_busy_connections") == 0, timeout=20)
        wait_for(lambda: self.m(g, "connections") == 0, timeout=10)
        self.settled(g)
        s.close()

    def test_sigterm_with_spooled_responses_in_flight(self):
        g = self.gateway(extra_gateway="shutdown_timeout_ms = 1500\n")
        ss = [stalled_client(g.port, b"GET /pat/16000000 HTTP/1.1\r\nHost: h\r\n\r\n") for _ in range(3)]
        wait_for(lambda: self.m(g, "spooled_responses_total") == 3, timeout=20)
        fds = len(os.listdir("/proc/%d/fd" % g.proc.pid))
        self.assertGreater(fds, 3)
        t0 = time.time()
        self.assertEqual(g.stop(), 0, getattr(g, "final_log", ""))
        self.assertLess(time.time() - t0, 10)
        for s in ss:
            s.close()

    def test_no_fd_or_byte_left_after_many_spooled_responses(self):
        g = self.gateway()
        pid = g.proc.pid
        base = len(os.listdir("/proc/%d/fd" % pid))
        for round_ in range(3):
            ss = [stalled_client(g.port, b"GET /pat/6000000 HTTP/1.1\r\nHost: h\r\n\r\n") for _ in range(4)]
            wait_for(lambda: self.m(g, "pool_busy_connections") == 0 and
                     self.m(g, "spooled_responses_total") >= 4 * (round_ + 1), timeout=30)
            for i, s in enumerate(ss):
                if i % 2:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                else:
                    self.assertEqual(read_responses(s, 1)[0][1], pattern(6000000))
                s.close()
        self.settled(g)
        wait_for(lambda: self.m(g, "connections") == 0)
        time.sleep(0.2)
        self.assertLessEqual(len(os.listdir("/proc/%d/fd" % pid)), base + 1)  # + a pooled origin connection

    def test_a_close_delimited_body_through_the_spool(self):
        g = self.gateway()
        for version in (b"1.1", b"1.0"):
            n = 12_000_000
            s = stalled_client(g.port, b"GET /cd/%d HTTP/%s\r\nHost: h\r\n\r\n" % (n, version))
            wait_for(lambda: self.m(g, "spool_bytes") > 0 and self.m(g, "pool_busy_connections") == 0, timeout=20)
            got = recv_until(s, 1 << 30, timeout=20)
            head, body = got.split(b"\r\n\r\n", 1)
            self.assertEqual(body, pattern(n))
            s.close()
        self.settled(g)

    def test_a_half_closed_client_gets_its_spooled_response(self):
        g = self.gateway()
        n = 12_000_000
        s = stalled_client(g.port, b"GET /pat/%d HTTP/1.1\r\nHost: h\r\n\r\n" % n)
        wait_for(lambda: self.m(g, "spool_bytes") > 0, timeout=20)
        s.shutdown(socket.SHUT_WR)
        wait_for(lambda: self.m(g, "pool_busy_connections") == 0, timeout=20)
        got = recv_until(s, 1 << 30, timeout=20)
        self.assertEqual(got.split(b"\r\n\r\n", 1)[1], pattern(n))
        s.close()
        self.settled(g)

    def test_a_post_with_a_big_response_and_pipelined_requests_sent_while_it_spools(self):
        g = self.gateway()
        n = 10_000_000
        body = b"b" * 300000
        s = stalled_client(g.port, b"POST /pat/%d HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (n, len(body))
                           + body)
        wait_for(lambda: self.m(g, "spool_bytes") > 0 and self.m(g, "pool_busy_connections") == 0, timeout=20)
        s.sendall(b"GET /pat/5000 HTTP/1.1\r\nHost: h\r\n\r\nGET /one/7 HTTP/1.1\r\nHost: h\r\n\r\n")
        rs = read_responses(s, 3)
        self.assertEqual([b for _, b in rs], [pattern(n), pattern(5000), b"x" * 7])
        s.close()
        self.settled(g)


class Bursts:
    """A socket read in bursts: at most 200 kB at a time, with pauses."""

    def __init__(self, s):
        self.s = s

    def settimeout(self, t):
        self.s.settimeout(t)

    def recv(self, n):
        time.sleep(0.005)
        return self.s.recv(min(n, 200000))


if __name__ == "__main__":
    unittest.main()
