"""Ways round a room by Host (issue 13, part 2): a protected path never reaches the origin through a
Host that no room names (a bare IP, an unknown name, HTTP/1.0 without Host), which an origin with a
default virtual host would serve; [gateway] hosts lists every host served and refuses the rest."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import GatewayTest  # noqa: E402


class UnknownHosts(GatewayTest):
    ROOMS = "[room shop]\nhosts = shop.example.com\npaths = /checkout\n"

    def test_protected_path_on_an_unknown_host_is_421(self):
        before = len(self.origin.requests)
        for raw in (b"GET /checkout HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GET /checkout/pay HTTP/1.1\r\nHost: other.example:8080\r\n\r\n",
                    b"GET /checkout;jsessionid=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                    b"GET /checkout HTTP/1.0\r\n\r\n"):
            with self.subTest(raw):
                r = self.request(raw)
                self.assertEqual(r.status, 421)
                self.assertEqual(r.header("connection"), "close")
        self.assertEqual(len(self.origin.requests), before, "a protected path reached the origin")

    def test_the_room_host_is_queued_and_other_paths_pass(self):
        before = len(self.origin.requests)
        r = self.request(b"GET /checkout HTTP/1.1\r\nHost: Shop.Example.com:8080\r\n\r\n")
        self.assertEqual(r.status, 200)
        self.assertIn(b"queue", r.body)  # the waiting page (no Redis here: trouble, keep this page)
        self.assertEqual(len(self.origin.requests), before)
        r = self.request(b"GET /about HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(r.status, 200)
        self.assertIn(b"hello from origin /about", r.body)


class ListedHosts(GatewayTest):
    EXTRA_GATEWAY = "hosts = shop.example.com *.example.org\n"
    ROOMS = "[room shop]\nhosts = shop.example.com\npaths = /checkout\n"

    def test_any_path_on_an_unlisted_host_is_421(self):
        self.assertEqual(self.request(b"GET /about HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status, 421)
        self.assertEqual(self.request(b"GET /about HTTP/1.0\r\n\r\n").status, 421)
        self.assertEqual(self.request(b"GET /about HTTP/1.1\r\nHost: www.example.org\r\n\r\n").status, 200)
        self.assertEqual(self.request(b"GET /checkout HTTP/1.1\r\nHost: www.example.org\r\n\r\n").status, 200)


class AnyHost(GatewayTest):
    EXTRA_GATEWAY = "hosts = *\n"
    ROOMS = "[room shop]\nhosts = shop.example.com\npaths = /checkout\n"

    def test_the_operator_can_serve_any_host(self):
        r = self.request(b"GET /checkout HTTP/1.1\r\nHost: other.example\r\n\r\n")
        self.assertEqual(r.status, 200)
        self.assertIn(b"hello from origin /checkout", r.body)


if __name__ == "__main__":
    unittest.main()
