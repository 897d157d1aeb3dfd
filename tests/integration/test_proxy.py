"""wr-gateway as a reverse proxy: keep-alive, pipelining, streaming, header rewriting, upstream failures."""
import hashlib
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, GatewayTest, Origin, free_port, http_get  # noqa: E402

GET = b"GET %s HTTP/1.1\r\nHost: shop.example\r\n\r\n"


def echo_headers(resp):
    return {k.lower(): v for k, v in json.loads(resp.body)["headers"]}


class ProxyBasics(GatewayTest):
    EXTRA_GATEWAY = "max_body_bytes = 104857600\n"

    def test_get_through_with_forwarding_headers(self):
        r = self.request(b"GET /echo/a?b=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: t\r\n\r\n")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("via"), "1.1 waitroom")
        seen = json.loads(r.body)
        self.assertEqual(seen["target"], "/echo/a?b=1")
        h = echo_headers(r)
        self.assertEqual(h["host"], "shop.example")
        self.assertEqual(h["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(h["x-forwarded-proto"], "http")
        self.assertEqual(h["x-forwarded-host"], "shop.example")
        self.assertEqual(h["via"], "1.1 waitroom")
        self.assertEqual(h["user-agent"], "t")

    def test_untrusted_forwarded_headers_are_replaced(self):
        r = self.request(b"GET /echo HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\n"
                         b"X-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\n\r\n")
        h = echo_headers(r)
        self.assertEqual(h["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(h["x-forwarded-host"], "h")
        self.assertEqual(h["x-forwarded-proto"], "http")

    def test_hop_by_hop_and_h2c_never_forwarded(self):
        r = self.request(b"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings, X-Drop\r\n"
                         b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nX-Drop: 1\r\n"
                         b"Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Keep: 1\r\n\r\n")
        self.assertEqual(r.status, 200)
        h = echo_headers(r)
        for name in ("connection", "upgrade", "http2-settings", "x-drop", "keep-alive", "te", "proxy-connection"):
            self.assertNotIn(name, h)
        self.assertEqual(h["x-keep"], "1")

    def test_websocket_upgrade_is_not_tunnelled(self):
        c = self.client()
        c.send(b"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)  # answered as plain HTTP: the upgrade is refused (documented)
        self.assertNotIn("upgrade", echo_headers(r))
        c.send(GET % b"/after-upgrade")  # still HTTP on the same connection
        self.assertEqual(c.read_response().body, b"hello from origin /after-upgrade\n")
        c.close()

    def test_response_hop_by_hop_removed(self):
        r = self.request(GET % b"/hop")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("x-private"))
        self.assertIsNone(r.header("keep-alive"))
        self.assertEqual(r.header("x-public"), "yes")

    def test_keep_alive_and_upstream_reuse(self):
        c = self.client()
        ids = []
        for _ in range(5):
            c.send(GET % b"/conn-id")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            ids.append(r.body)
        c.close()
        self.assertEqual(len(set(ids)), 1, "one pooled origin connection should carry all five: %r" % ids)
        self.assertGreaterEqual(self.gw.metric("waitroom_gateway_upstream_reused_total"), 4)

    def test_pipelining_keeps_order(self):
        c = self.client()
        c.send(b"".join(GET % (b"/p%d" % i) for i in range(10)))
        for i in range(10):
            r = c.read_response()
            self.assertEqual(r.body, b"hello from origin /p%d\n" % i)
        c.close()

    def test_pipelined_with_bodies(self):
        c = self.client()
        reqs = b""
        for i in range(5):
            body = b"z" * (1000 * (i + 1))
            reqs += b"POST /echo/%d HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s" % (i, len(body), body)
        c.send(reqs)
        for i in range(5):
            r = c.read_response()
            self.assertEqual(json.loads(r.body)["body_len"], 1000 * (i + 1))
        c.close()

    def test_chunked_request_body(self):
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (b"hello ", b"chunked ", b"world")) + b"0\r\n\r\n"
        r = self.request(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        seen = json.loads(r.body)
        self.assertEqual(seen["body_len"], len(b"hello chunked world"))
        self.assertEqual(seen["body_sha256"], hashlib.sha256(b"hello chunked world").hexdigest())

    def test_chunked_response(self):
        r = self.request(GET % b"/chunked/100/1000")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("transfer-encoding"), "chunked")
        self.assertEqual(r.body, b"y" * 100000)

    def test_http10_client_gets_dechunked_body(self):
        c = self.client()
        c.send(b"GET /chunked/10/100 HTTP/1.0\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("transfer-encoding"))
        self.assertEqual(r.body, b"y" * 1000)
        c.close()

    def test_http10_keep_alive(self):
        c = self.client()
        for _ in range(2):
            c.send(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("connection"), "keep-alive")
        c.close()

    def test_close_delimited_response(self):
        c = self.client()
        c.send(GET % b"/close-delimited")
        r = c.read_response()
        self.assertEqual(r.body, b"until the end")
        self.assertEqual(r.header("connection"), "close")
        self.assertTrue(c.is_closed())

    def test_head_and_bodyless_statuses(self):
        c = self.client()
        c.send(b"HEAD /big/1000 HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.read_response(head_request=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), "1000")
        for st in (204, 304):
            c.send(GET % (b"/status/%d" % st))
            r = c.read_response()
            self.assertEqual(r.status, st)
            self.assertEqual(r.body, b"")
        c.send(GET % b"/after")  # no stray body bytes left on the connection
        self.assertEqual(c.read_response().body, b"hello from origin /after\n")
        c.close()

    def test_interim_response_dropped(self):
        r = self.request(GET % b"/interim")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"after interim\n")

    def test_expect_100_continue(self):
        c = self.client()
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 100)
        c.send(b"hello")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["body_len"], 5)
        self.assertNotIn("expect", echo_headers(r))
        c.close()

    def test_origin_status_passes_through(self):
        for st in (404, 500, 503):
            r = self.request(GET % (b"/status/%d" % st))
            self.assertEqual(r.status, st)

    def test_public_port_forwards_admin_paths(self):
        for p in (b"/metrics", b"/healthz"):
            r = self.request(GET % p)
            self.assertEqual(r.body, b"hello from origin %s\n" % p)

    def test_absolute_form_target(self):
        r = self.request(b"GET http://h/echo HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["target"], "/echo")

    def test_path_forwarded_normalised(self):
        r = self.request(b"GET /echo/./b/../%78//y?q=%2F HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.body)["target"], "/echo/x/y?q=%2F")


class LargeBodies(GatewayTest):
    EXTRA_GATEWAY = "max_body_bytes = 104857600\n"

    def test_50mb_download_streams_with_flat_memory(self):
        rss0 = self.gw.rss_kib()
        n = 50 * 1024 * 1024
        c = self.client()
        c.send(GET % (b"/big/%d" % n))
        c.buf = b""  # the body is read straight from the socket below
        got, peak = 0, rss0
        c.sock.settimeout(30)
        data = b""
        # read the head, then count body bytes while slowly sampling RSS
        while b"\r\n\r\n" not in data:
            data += c.sock.recv(65536)
        got = len(data) - data.index(b"\r\n\r\n") - 4
        i = 0
        while got < n:
            chunk = c.sock.recv(1 << 20)
            self.assertTrue(chunk, "connection closed after %d bytes" % got)
            got += len(chunk)
            i += 1
            if i % 50 == 0:
                peak = max(peak, self.gw.rss_kib())
                time.sleep(0.01)  # a slow reader: back-pressure must hold the origin, not buffer in us
        self.assertEqual(got, n)
        c.close()
        self.assertLess(peak - rss0, 16 * 1024, "gateway RSS grew %d KiB while streaming 50 MB" % (peak - rss0))

    def test_50mb_upload_streams_with_flat_memory(self):
        rss0 = self.gw.rss_kib()
        n = 50 * 1024 * 1024
        c = self.client()
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % n)
        block = bytes(range(256)) * 256
        h = hashlib.sha256()
        sent, peak = 0, rss0
        while sent < n:
            b = block[: min(len(block), n - sent)]
            c.send(b)
            h.update(b)
            sent += len(b)
            if sent % (4 << 20) == 0:
                peak = max(peak, self.gw.rss_kib())
        r = c.read_response()
        seen = json.loads(r.body)
        self.assertEqual(seen["body_len"], n)
        self.assertEqual(seen["body_sha256"], h.hexdigest())
        c.close()
        self.assertLess(peak - rss0, 16 * 1024, "gateway RSS grew %d KiB while streaming 50 MB" % (peak - rss0))

    def test_chunked_upload_of_10mb(self):
        c = self.client()
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"q" * 100000
        for _ in range(100):
            c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        c.send(b"0\r\n\r\n")
        r = c.read_response()
        self.assertEqual(json.loads(r.body)["body_len"], 10000000)
        c.close()


class SlowPeers(GatewayTest):
    EXTRA_GATEWAY = "send_timeout_ms = 500\nbody_timeout_ms = 500\n"
    EXTRA_ORIGIN = "response_timeout_ms = 2000\n"

    def test_slow_streaming_response_is_not_cut(self):
        # the origin takes 1.6 s in all, longer than send_timeout_ms, but is never silent for long
        r = self.request(GET % b"/drip/8/200")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"".join(b"drop%d;" % i for i in range(8)))

    def test_client_that_stops_reading_is_cut(self):
        c = self.client()
        c.send(GET % (b"/big/%d" % (64 << 20)))
        time.sleep(2.5)  # never read: the gateway's writes block, then send_timeout_ms cuts it
        got = 0
        c.sock.settimeout(5)
        try:
            while True:
                chunk = c.sock.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
        except (ConnectionResetError, socket.timeout):
            pass
        self.assertLess(got, 64 << 20)
        c.close()
        self.assertEqual(self.request(GET % b"/ok").status, 200)


class UpstreamFailures(unittest.TestCase):
    def test_origin_down_gives_502_page(self):
        gw = Gateway("http://127.0.0.1:%d" % free_port(), extra_origin="connect_timeout_ms = 1000\n")
        try:
            for _ in range(5):  # stays a clean 502 while the origin is marked down too
                st, headers, body = http_get(gw.port, "/anything")
                self.assertEqual(st, 502)
                self.assertIn(b"not answering", body)
            self.assertGreaterEqual(gw.metric("waitroom_gateway_upstream_connect_errors_total"), 1)
        finally:
            self.assertEqual(gw.stop(), 0)

    def test_origin_connect_timeout_gives_504(self):
        # an origin whose accept queue is full: further SYNs are dropped and connects hang
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(0)
        port = lsock.getsockname()[1]
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)
        gw = Gateway("http://127.0.0.1:%d" % port, extra_origin="connect_timeout_ms = 300\n")
        try:
            t0 = time.time()
            st, _, body = http_get(gw.port, "/x")
            self.assertEqual(st, 504)
            self.assertLess(time.time() - t0, 2.0)
        finally:
            self.assertEqual(gw.stop(), 0)
            for s in fillers:
                s.close()
            lsock.close()

    def test_slow_origin_gives_504(self):
        origin = Origin()
        gw = Gateway(origin.url(), extra_origin="response_timeout_ms = 300\n")
        try:
            t0 = time.time()
            st, _, body = http_get(gw.port, "/slow/2000")
            self.assertEqual(st, 504)
            self.assertLess(time.time() - t0, 1.5)
            self.assertIn(b"took too long", body)
            st, _, _ = http_get(gw.port, "/fast")  # the gateway is fine afterwards
            self.assertEqual(st, 200)
        finally:
            self.assertEqual(gw.stop(), 0)
            origin.stop()

    def test_origin_recovers_after_being_down(self):
        port = free_port()
        gw = Gateway("http://127.0.0.1:%d" % port, extra_origin="retry_after_ms = 200\n")
        try:
            self.assertEqual(http_get(gw.port, "/x")[0], 502)
            origin = Origin.__new__(Origin)
            # start an origin on the very port the gateway was configured with
            Origin.__init__(origin)
            origin.sock.close()
            origin.port = port
            origin.sock = socket.socket()
            origin.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            origin.sock.bind(("127.0.0.1", port))
            origin.sock.listen(64)
            import threading
            threading.Thread(target=origin._accept, daemon=True).start()
            deadline = time.time() + 5
            st = 0
            while time.time() < deadline and st != 200:
                time.sleep(0.1)
                st = http_get(gw.port, "/x")[0]
            self.assertEqual(st, 200)
            origin.stop()
        finally:
            self.assertEqual(gw.stop(), 0)

    def test_queued_request_waits_for_a_pooled_connection(self):
        # one origin connection per worker: the second request queues, then runs longer than the
        # time it was allowed to wait for the connection; it must still get its whole response
        import threading
        origin = Origin()
        gw = Gateway(origin.url(), extra_origin="pool_max_conns = 1\nconnect_timeout_ms = 1000\n")
        results = []
        try:
            def get(path):
                results.append(http_get(gw.port, path)[0])
            t1 = threading.Thread(target=get, args=("/slow/600",))
            t1.start()
            time.sleep(0.1)
            t2 = threading.Thread(target=get, args=("/slow/900",))
            t2.start()
            t1.join(5)
            t2.join(5)
            self.assertEqual(results, [200, 200])
            # waiting longer than connect_timeout_ms for a connection gives a clear 503
            results.clear()
            t1 = threading.Thread(target=get, args=("/slow/1500",))
            t1.start()
            time.sleep(0.1)
            st, _, body = http_get(gw.port, "/x")
            self.assertEqual(st, 503)
            t1.join(5)
            self.assertEqual(results, [200])
        finally:
            self.assertEqual(gw.stop(), 0)
            origin.stop()

    def test_stale_pooled_connection_is_retried(self):
        origin = Origin()
        gw = Gateway(origin.url())
        try:
            self.assertEqual(http_get(gw.port, "/one")[0], 200)
            for s in list(origin.clients):  # the origin drops its idle keep-alive connections
                s.shutdown(socket.SHUT_RDWR)
            time.sleep(0.2)
            self.assertEqual(http_get(gw.port, "/two")[0], 200)
        finally:
            self.assertEqual(gw.stop(), 0)
            origin.stop()


if __name__ == "__main__":
    unittest.main()
