"""[gateway] cookie_secure (issue 13, part 6): the wr_q and wr_p cookies get Secure when the buyer came
over HTTPS (a trusted X-Forwarded-Proto: https, from the TLS load balancer in front), always, or never.
No Redis here: a newcomer gets a provisional place, which sets wr_q all the same."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import GatewayTest  # noqa: E402

ROOM = "[room sale]\npaths = /checkout\n"


def set_cookie(r):
    return [v for k, v in r.headers if k.lower() == "set-cookie"]


class Auto(GatewayTest):
    EXTRA_GATEWAY = "trust_forwarded = true\n"  # cookie_secure = auto is the default
    ROOMS = ROOM

    def test_secure_when_the_balancer_says_https(self):
        r = self.request(b"GET /checkout HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n\r\n")
        (c,) = set_cookie(r)
        self.assertTrue(c.startswith("wr_q="))
        self.assertIn("; Secure", c)
        r = self.request(b"GET /checkout HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\n\r\n")
        self.assertNotIn("Secure", set_cookie(r)[0])
        r = self.request(b"GET /checkout HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertNotIn("Secure", set_cookie(r)[0])


class AutoUntrusted(GatewayTest):
    ROOMS = ROOM  # trust_forwarded = false: a client's own X-Forwarded-Proto proves nothing

    def test_a_client_cannot_claim_https(self):
        r = self.request(b"GET /checkout HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n\r\n")
        self.assertNotIn("Secure", set_cookie(r)[0])


class Always(GatewayTest):
    EXTRA_GATEWAY = "cookie_secure = always\n"
    ROOMS = ROOM

    def test_always_secure(self):
        r = self.request(b"GET /checkout HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertIn("; Secure", set_cookie(r)[0])


if __name__ == "__main__":
    unittest.main()
