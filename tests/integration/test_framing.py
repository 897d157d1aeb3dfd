"""Request framing (issue 13, part 1): the origin must never see a request the client did not frame
unambiguously. Every case is raw bytes; each hostile one carries a smuggled second request in its body
(GET /checkout/smuggled), which must never reach the origin, and is refused with 400 and a close."""
import json
import os
import queue
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Client, Gateway, GatewayTest, read_chunked, read_until  # noqa: E402

SMUGGLED = b"GET /checkout/smuggled HTTP/1.1\r\nHost: h\r\n\r\n"


def post(extra_headers, body=SMUGGLED, version=b"1.1"):
    return (b"POST /x HTTP/" + version + b"\r\nHost: h\r\n" + extra_headers +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def chunked(extra_headers, body=SMUGGLED, version=b"1.1", trailers=b""):
    return (b"POST /x HTTP/" + version + b"\r\nHost: h\r\n" + extra_headers +
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(body) + body + b"\r\n0\r\n" + trailers + b"\r\n")


class Framing(GatewayTest):
    ROOMS = "[room sale]\npaths = /checkout\n"
    EXTRA_GATEWAY = "max_body_bytes = 1000\nheader_timeout_ms = 2000\nbody_timeout_ms = 2000\n"

    REFUSED = [
        ("Connection names Content-Length", post(b"Connection: content-length\r\n")),
        ("Connection names Content-Length among others", post(b"Connection: keep-alive, Content-Length\r\n")),
        ("Connection names Transfer-Encoding", chunked(b"Connection: transfer-encoding\r\n")),
        ("Connection names Host", post(b"Connection: host\r\n")),
        ("Transfer_Encoding with an underscore", post(b"Transfer_Encoding: chunked\r\n")),
        ("Content__Length, doubled underscore", post(b"Content__Length: 0\r\n")),
        ("Content--Length, doubled dash", post(b"Content--Length: 0\r\n")),
        ("content_length in lower case", post(b"content_length: 0\r\n")),
        ("empty header name", post(b": x\r\n")),
        ("Transfer-Encoding in HTTP/1.0", chunked(b"", version=b"1.0")),
    ]

    def smuggled_seen(self):
        return [q.target for q in self.origin.requests if "smuggled" in q.target]

    def test_each_ambiguous_request_is_refused(self):
        for name, raw in self.REFUSED:
            with self.subTest(name):
                c = self.client()
                c.send(raw)
                r = c.read_response()
                self.assertEqual(r.status, 400, name)
                self.assertEqual(r.header("connection"), "close", name)
                self.assertTrue(c.is_closed(), name)
                c.close()
        self.assertEqual(self.smuggled_seen(), [])

    def test_other_underscore_headers_are_dropped_not_forwarded(self):
        # like nginx's default (underscores_in_headers off): CGI-style origins read '_' as '-'
        r = self.request(b"GET /echo HTTP/1.1\r\nHost: h\r\nX_Custom: 1\r\nX-Kept: 2\r\n\r\n")
        self.assertEqual(r.status, 200)
        names = [k.lower() for k, _ in json.loads(r.body)["headers"]]
        self.assertIn("x-kept", names)
        self.assertNotIn("x_custom", names)

    def test_request_trailers_never_reach_the_origin(self):
        c = self.client()
        c.send(chunked(b"", body=b"hello", trailers=b"Waitroom-Pass: forged\r\nConnection: close\r\nX-T: 1\r\n"))
        r = c.read_response()
        self.assertEqual(r.status, 200)
        c.close()
        # the origin read a well-framed body and no trailer
        last = [q for q in self.origin.requests if q.target == "/x"][-1]
        self.assertEqual(last.body_len, 5)
        self.assertEqual(last.trailers, [])
        self.assertEqual(self.request(b"GET /still HTTP/1.1\r\nHost: h\r\n\r\n").status, 200)

    def test_trailers_in_pieces_and_a_pipelined_request_after_them(self):
        c = self.client()
        c.send(b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n")
        time.sleep(0.1)
        c.send(b"X-T: 1\r\n")
        time.sleep(0.1)
        c.send(b"\r\nGET /second HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(c.read_response().status, 200)
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertIn(b"/second", r.body)
        c.close()
        last = [q for q in self.origin.requests if q.target == "/x"][-1]
        self.assertEqual((last.body_len, last.trailers), (3, []))

    def test_trailers_and_chunk_extensions_count_toward_max_body_bytes(self):
        for name, raw in (
                ("trailers", b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n" +
                 b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 90) for i in range(15)) + b"\r\n"),
                ("chunk extensions", b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
                 b"".join(b"1;ext=%s\r\na\r\n" % (b"e" * 90) for _ in range(15)) + b"0\r\n\r\n")):
            with self.subTest(name):
                c = self.client()
                c.send(raw)
                r = c.read_response()
                self.assertEqual(r.status, 413, name)
                c.close()

    def test_origin_connection_naming_content_length_keeps_the_framing(self):
        c = self.client()
        c.send(b"GET /conn-framing HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), "5")
        self.assertEqual(r.body, b"hello")
        # the connection still frames the next response right
        c.send(b"GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertIn(b"/after", r.body)
        c.close()

    def test_plain_requests_still_pass(self):
        self.assertEqual(self.request(post(b"", body=b"abc")).status, 200)
        self.assertEqual(self.request(chunked(b"", body=b"abc")).status, 200)
        self.assertEqual(self.request(b"GET /x HTTP/1.0\r\n\r\n").status, 200)
        self.assertEqual(self.request(post(b"Connection: keep-alive, X-Private\r\nX-Private: 1\r\n",
                                           body=b"abc")).status, 200)


class SlowReader:
    """A socket read in small pieces, slowly: the gateway's writes to it stay pending."""

    def __init__(self, sock):
        self.sock = sock

    def recv(self, n):
        time.sleep(0.002)
        return self.sock.recv(min(n, 32768))


class StalledOrigin:
    """An origin that, on each connection, reads a request head, then nothing for a while and then
    slowly: the gateway's writes of a large body back up (writes left pending), as with any origin
    slower than its client. Records, per request, the body's length, its trailer lines and every byte
    that came after the chunked body."""

    def __init__(self, stall_s=0.5):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small: the gateway's writes wait
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stall_s = stall_s
        self.got = queue.Queue()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            _, buf = read_until(c, b"", b"\r\n\r\n")
            time.sleep(self.stall_s)
            trailers, n = [], [0]
            buf = read_chunked(SlowReader(c), buf, lambda b: n.__setitem__(0, n[0] + len(b)), trailers)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            c.settimeout(0.3)
            try:
                while True:
                    more = c.recv(65536)
                    if not more:
                        break
                    buf += more
            except socket.timeout:
                pass
            self.got.put({"body_len": n[0], "trailers": trailers, "after": buf})
        except (EOFError, OSError, ValueError) as e:
            self.got.put({"error": repr(e)})
        finally:
            c.close()


class FramingStalledOrigin(unittest.TestCase):
    def test_trailers_are_dropped_when_the_last_chunk_waits_for_the_origin(self):
        # When the write that carries the last chunk's size line cannot complete at once, forward_body
        # ran the parser on into the trailers on its next round before marking them as trailers: they
        # were forwarded raw (Waitroom-Pass included), then a stray CRLF after the body. Where the last
        # chunk falls in a read is up to the kernel, so the body's tail is shifted across attempts.
        origin = StalledOrigin()
        # a read buffer of 1 MiB: the body up to the last chunk goes out in large writes
        gw = Gateway(origin.url(), "max_header_bytes = 1048576\n")
        try:
            piece = b"z" * 65536
            for extra in (0, 262144, 524288, 786432):
                with self.subTest(extra=extra):
                    body = b"".join(b"%x\r\n" % len(piece) + piece + b"\r\n" for _ in range(96))  # 6 MiB
                    body += b"%x\r\n" % (extra + 1) + b"e" * (extra + 1) + b"\r\n"
                    raw = (b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body +
                           b"0\r\nWaitroom-Pass: forged\r\nX-T: 1\r\n\r\n")
                    c = Client(gw.port, timeout=20)
                    threading.Thread(target=c.send, args=(raw,), daemon=True).start()
                    r = c.read_response()
                    c.close()
                    self.assertEqual(r.status, 200)
                    self.assertEqual(origin.got.get(timeout=10),
                                     {"body_len": 96 * 65536 + extra + 1, "trailers": [], "after": b""})
        finally:
            origin.stop()
            log = gw.logtext()
            self.assertEqual(gw.stop(), 0, log[-3000:])

if __name__ == "__main__":
    unittest.main()
