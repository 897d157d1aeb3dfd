"""Slow readers (issue 13, part 5): a client that does not read its response must not hold an origin
connection once the origin has sent everything. The gateway spools what the client has not taken to an
unlinked file ([origin] spool_*), hands the origin connection back to the pool, and feeds the client
from the file; bounded per response and per process."""
import os
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, Origin, http_get, wait_for  # noqa: E402

BIG = 16_000_000  # more than a never-reading client's socket buffers hold (about 4 MB here)


def slow_reader(port, target, version="1.1"):
    """Sends a GET and reads nothing, from a socket with a small receive buffer."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET %s HTTP/%s\r\nHost: h\r\n\r\n" % (target.encode(), version.encode()))
    return s


def read_all(s, until_close=False, timeout=60):
    """Reads one response: (head bytes, body bytes). Content-Length framing, or up to the close."""
    s.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed before the head")
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    body = bytearray(body)
    n = None
    for line in head.split(b"\r\n")[1:]:
        k, v = line.split(b":", 1)
        if k.strip().lower() == b"content-length":
            n = int(v)
    while (n is None and until_close) or (n is not None and len(body) < n):
        d = s.recv(1 << 20)
        if not d:
            break
        body += d
    return head, bytes(body)


class Spool(unittest.TestCase):
    def setUp(self):
        self.origin = Origin()
        self.dir = tempfile.mkdtemp(prefix="wr-spool-")
        self.gws = []

    def tearDown(self):
        for g in self.gws:
            self.assertEqual(g.stop(), 0, getattr(g, "final_log", ""))
        self.origin.stop()
        self.assertEqual(os.listdir(self.dir), [], "spool files must never be left with a name")
        os.rmdir(self.dir)

    def gateway(self, extra_origin=""):
        g = Gateway(self.origin.url(), extra_origin="pool_max_conns = 1\nspool_dir = %s\n%s" % (self.dir, extra_origin))
        self.gws.append(g)
        return g

    def m(self, g, name):
        return g.metric("waitroom_gateway_" + name)

    def test_a_reader_that_never_reads_frees_the_origin_connection(self):
        g = self.gateway()
        s = slow_reader(g.port, "/big/%d" % BIG)
        # the origin sent it all: its connection is back in the pool though the client took almost nothing
        wait_for(lambda: self.m(g, "spooled_responses_total") == 1 and self.m(g, "pool_busy_connections") == 0,
                 timeout=20)
        self.assertGreater(self.m(g, "spool_bytes"), 4_000_000)
        self.assertEqual(os.listdir(self.dir), [])  # unlinked: nothing to clean up after a crash
        # with a pool of one, everyone else is still served
        t0 = time.time()
        st, _, body = http_get(g.port, "/other")
        self.assertEqual((st, body), (200, b"hello from origin /other\n"))
        self.assertLess(time.time() - t0, 2.0)
        # the slow client still gets every byte, in order, and its connection stays usable
        head, body = read_all(s)
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
        self.assertEqual(len(body), BIG)
        self.assertEqual(body.count(b"x"), BIG)
        s.sendall(b"GET /again HTTP/1.1\r\nHost: h\r\n\r\n")
        head, body = read_all(s)
        self.assertEqual(body, b"hello from origin /again\n")
        s.close()
        wait_for(lambda: self.m(g, "spool_bytes") == 0)

    def test_the_pool_is_not_starved_by_readers_that_never_read(self):
        g = self.gateway()
        readers = [slow_reader(g.port, "/big/%d" % BIG) for _ in range(4)]
        wait_for(lambda: self.m(g, "spooled_responses_total") == 4, timeout=30)
        for i in range(5):
            st, _, body = http_get(g.port, "/n%d" % i)
            self.assertEqual(st, 200)
        for s in readers:
            s.close()
        wait_for(lambda: self.m(g, "spool_bytes") == 0 and self.m(g, "connections") == 0)

    def test_a_dechunked_response_to_an_http10_client_is_spooled_intact(self):
        g = self.gateway()
        n, size = 300, 65536
        s = slow_reader(g.port, "/chunked/%d/%d" % (n, size), version="1.0")
        wait_for(lambda: self.m(g, "spooled_responses_total") == 1 and self.m(g, "pool_busy_connections") == 0,
                 timeout=20)
        head, body = read_all(s, until_close=True)
        self.assertTrue(head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"), head)
        self.assertNotIn(b"chunked", head.lower())
        self.assertEqual(len(body), n * size)
        self.assertEqual(body.count(b"y"), n * size)
        s.close()
        wait_for(lambda: self.m(g, "spool_bytes") == 0)

    def test_a_client_gone_mid_spool_gives_its_bytes_back(self):
        g = self.gateway()
        s = slow_reader(g.port, "/big/%d" % BIG)
        wait_for(lambda: self.m(g, "spool_bytes") > 4_000_000, timeout=20)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        s.close()
        wait_for(lambda: self.m(g, "spool_bytes") == 0 and self.m(g, "connections") == 0)
        self.assertEqual(http_get(g.port, "/alive")[0], 200)

    def test_spooling_is_bounded_per_response_and_per_process(self):
        mib = 1 << 20
        g = self.gateway("pool_max_conns = 4\nspool_max_bytes = %d\nspool_total_bytes = %d\n" % (mib, 3 * mib // 2))
        readers = [slow_reader(g.port, "/big/%d" % BIG) for _ in range(2)]
        wait_for(lambda: self.m(g, "spooled_responses_total") >= 1 and self.m(g, "spool_bytes") > mib // 2,
                 timeout=20)
        for _ in range(20):
            held = self.m(g, "spool_bytes")
            self.assertLessEqual(held, 3 * mib // 2)
            time.sleep(0.05)
        # beyond the bounds the origin waits (back-pressure): the responses are not spooled whole
        self.assertGreaterEqual(self.m(g, "pool_busy_connections"), 1)
        for s in readers:
            head, body = read_all(s)
            self.assertEqual(len(body), BIG)
            self.assertEqual(body.count(b"x"), BIG)
            s.close()
        wait_for(lambda: self.m(g, "spool_bytes") == 0 and self.m(g, "pool_busy_connections") == 0)

    def test_off_when_spool_max_bytes_is_zero(self):
        g = self.gateway("spool_max_bytes = 0\n")
        s = slow_reader(g.port, "/big/%d" % BIG)
        time.sleep(1.0)
        self.assertEqual(self.m(g, "spooled_responses_total"), 0)
        self.assertEqual(self.m(g, "pool_busy_connections"), 1)  # held by the reader, as before spooling
        head, body = read_all(s)
        self.assertEqual(len(body), BIG)
        s.close()

    def test_beyond_the_bounds_a_stalled_client_is_cut_for_a_waiting_request(self):
        # spooling off (or its budget spent): a reader that never reads holds the pool's only connection
        g = self.gateway("spool_max_bytes = 0\n")
        s = slow_reader(g.port, "/big/%d" % BIG)
        wait_for(lambda: self.m(g, "pool_busy_connections") == 1)
        time.sleep(1.2)  # stalled for more than a second
        t0 = time.time()
        st, _, body = http_get(g.port, "/waiting")
        self.assertEqual((st, body), (200, b"hello from origin /waiting\n"))
        self.assertLess(time.time() - t0, 1.0)
        self.assertEqual(self.m(g, "stalled_clients_cut_total"), 1)
        s.settimeout(10)
        got = 0
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                got += len(d)
        except ConnectionResetError:
            pass
        self.assertLess(got, BIG)  # its response was cut, not passed off as complete
        s.close()

    def test_an_unusable_spool_dir_stops_the_start_with_a_clear_error(self):
        with self.assertRaises(RuntimeError) as e:
            Gateway(self.origin.url(), extra_origin="spool_dir = %s/missing\n" % self.dir)
        self.assertIn("spool", str(e.exception))


if __name__ == "__main__":
    unittest.main()
