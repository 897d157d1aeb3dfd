"""Abuse limits (issue 13, part 4): places are the scarce resource. New places per client address and
in all are limited (429 with Retry-After, a plain page or JSON); visitors who already hold a place are
never limited; behind a trusted load balancer the address is the last X-Forwarded-For entry;
connections per address are limited too. No Redis here: a newcomer gets a provisional place, which
counts as a new place all the same."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Client, GatewayTest, Visitor  # noqa: E402

ROOM = "[room sale]\npaths = /checkout\n"


class PerAddress(GatewayTest):
    EXTRA_GATEWAY = "join_limit_per_ip_per_minute = 3\n"
    ROOMS = ROOM

    def test_new_places_per_address(self):
        visitors = [Visitor(self.gw.port) for _ in range(4)]
        for v in visitors[:3]:
            self.assertEqual(v.get("/checkout").status, 200)
        r = visitors[3].get("/checkout")
        self.assertEqual(r.status, 429)
        self.assertGreaterEqual(int(r.header("retry-after")), 15)  # a place every 20 s after the first 3
        self.assertIn(b"try again", r.body)
        r = visitors[3].get("/checkout", json_=True)
        self.assertEqual(r.status, 429)
        self.assertGreater(json.loads(r.body)["retry_after_s"], 0)
        # those with a place keep polling and asking freely
        for _ in range(5):
            self.assertEqual(visitors[0].get("/checkout").status, 200)
        self.assertEqual(visitors[0].get("/__waitroom/status").status, 200)
        # other paths are not queued, so not limited
        self.assertEqual(visitors[3].get("/about").status, 200)
        self.assertGreaterEqual(self.gw.metric('waitroom_room_join_limited_total{room="sale"}') or 0, 2)


class Forwarded(GatewayTest):
    EXTRA_GATEWAY = "join_limit_per_ip_per_minute = 1\ntrust_forwarded = true\n"
    ROOMS = ROOM

    def test_the_balancers_entry_is_the_address(self):
        def new_visit(xff):
            return Visitor(self.gw.port).get("/checkout", extra="X-Forwarded-For: %s\r\n" % xff).status
        self.assertEqual(new_visit("9.9.9.9, 10.0.0.1"), 200)
        self.assertEqual(new_visit("8.8.8.8, 10.0.0.1"), 429)  # the client's own entries prove nothing
        self.assertEqual(new_visit("10.0.0.2"), 200)


class InAll(GatewayTest):
    EXTRA_GATEWAY = "join_limit_per_minute = 2\n"
    ROOMS = ROOM

    def test_new_places_in_all(self):
        self.assertEqual([Visitor(self.gw.port).get("/checkout").status for _ in range(3)], [200, 200, 429])


class ConnectionsPerAddress(GatewayTest):
    EXTRA_GATEWAY = "max_connections_per_ip = 2\n"

    def test_third_connection_refused_and_freed_on_close(self):
        held = [Client(self.gw.port) for _ in range(2)]
        for c in held:
            c.send(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
        extra = Client(self.gw.port)
        self.assertEqual(extra.read_response().status, 503)
        extra.close()
        held.pop().close()
        time.sleep(0.2)
        c = Client(self.gw.port)
        c.send(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        self.assertEqual(c.read_response().status, 200)
        c.close()
        for c in held:
            c.close()
        self.assertGreaterEqual(self.gw.metric("waitroom_gateway_connections_rejected_per_ip_total"), 1)


if __name__ == "__main__":
    unittest.main()
