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


if __name__ == "__main__":
    unittest.main()
