"""The gateway's room caches: each worker keeps a Redis connection, refreshes every room's view
(one view.lua call per room every 200 ms), survives a Redis outage and reconnects on its own."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Client, Gateway, Origin, http_get, wait_for  # noqa: E402
from resp import RedisServer  # noqa: E402


def self_request(port, raw):
    c = Client(port)
    try:
        c.send(raw)
        return c.read_response()
    finally:
        c.close()


def commands(redis):
    c = redis.client()
    try:
        info = c.call("INFO", "stats").decode()
    finally:
        c.sock.close()
    return int(dict(l.split(":", 1) for l in info.split("\r\n") if ":" in l)["total_commands_processed"])


class RoomCaches(unittest.TestCase):
    def test_refresh_outage_and_reconnect(self):
        redis = RedisServer()
        servers = [redis]  # the one running at the end is stopped whatever happens
        self.addCleanup(lambda: servers[-1].stop())
        origin = Origin()
        self.addCleanup(origin.stop)
        gw = Gateway(origin.url(), workers=2,
                     extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % redis.port,
                     rooms="[room sale]\npaths = /checkout\n[room vip]\npaths = /vip\n")
        try:
            self.assertTrue(wait_for(lambda: gw.metric("waitroom_gateway_redis_connected") == 2),
                            gw.logtext()[-2000:])
            r0 = gw.metric("waitroom_gateway_room_refreshes_total")
            time.sleep(1.0)
            r1 = gw.metric("waitroom_gateway_room_refreshes_total")
            # 2 workers x 2 rooms x 5 refreshes a second: about 20 in a second, whatever the traffic
            self.assertGreater(r1 - r0, 10)
            self.assertLess(r1 - r0, 40)
            # polls with a place add no Redis command of their own: refreshes are all there is
            c = Client(gw.port)
            c.send(b"GET /checkout HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\n\r\n")
            r = c.read_response()
            cookie = [v.split(";")[0] for k, v in r.headers if k.lower() == "set-cookie"][0]
            calls0, ref0 = commands(redis), gw.metric("waitroom_gateway_room_refreshes_total")
            for i in range(200):
                c.send(b"GET /checkout HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nCookie: %s\r\n\r\n"
                       % cookie.encode())
                self.assertEqual(json.loads(c.read_response().body)["position"], 1)
            calls1, ref1 = commands(redis), gw.metric("waitroom_gateway_room_refreshes_total")
            c.close()
            # what is left besides the refreshes: the INFO calls and a heartbeat flush or two per worker
            self.assertLessEqual((calls1 - calls0) - (ref1 - ref0), 200 * 0.01 + 6)
            # Redis goes away: the gateway keeps proxying, and says Redis is down
            redis.proc.terminate()
            redis.proc.wait(5)
            self.assertTrue(wait_for(lambda: gw.metric("waitroom_gateway_redis_connected") == 0))
            self.assertEqual(http_get(gw.port, "/checkout/during-outage")[0], 200)
            self.assertIn("redis connection lost", gw.logtext())
            # ... and comes back: the workers reconnect and refresh again
            port = redis.port
            redis2 = RedisServer.__new__(RedisServer)
            redis2.port, redis2.dir = port, redis.dir
            import subprocess
            redis2.proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                            "--appendonly", "no", "--dir", redis.dir],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            redis = redis2
            servers.append(redis2)
            self.assertTrue(wait_for(lambda: gw.metric("waitroom_gateway_redis_connected") == 2, 15))
            r2 = gw.metric("waitroom_gateway_room_refreshes_total")
            self.assertTrue(wait_for(lambda: gw.metric("waitroom_gateway_room_refreshes_total") > r2 + 5))
        finally:
            rc = gw.stop()
            self.assertEqual(rc, 0, getattr(gw, "final_log", "")[-3000:])

    def test_status_without_a_place(self):
        redis = RedisServer()
        self.addCleanup(redis.stop)
        origin = Origin()
        self.addCleanup(origin.stop)
        gw = Gateway(origin.url(), extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % redis.port,
                     rooms="[room sale]\npaths = /checkout\n[room later]\npaths = /later\nstate = paused\n")
        try:
            self.assertTrue(wait_for(lambda: gw.metric("waitroom_gateway_room_refreshes_total") > 2))
            before = len(origin.requests)
            st, headers, body = http_get(gw.port, "/__waitroom/status?room=sale")
            self.assertEqual(st, 200)
            h = {k.lower(): v for k, v in headers}
            self.assertEqual(h["content-type"], "application/json")
            self.assertEqual(h["cache-control"], "no-store")
            doc = json.loads(body)
            self.assertEqual(doc, {"room": "sale", "state": "waiting", "position": None, "ahead": None,
                                   "eta_seconds": None, "eta_p90_seconds": None, "estimate": True,
                                   "poll_after_ms": 2000, "admitted": False, "redirect": None,
                                   "likely_sold_out": False, "shuffle_commitment": None})
            self.assertEqual(json.loads(http_get(gw.port, "/__waitroom/status?x=1&room=later")[2])["state"], "paused")
            self.assertEqual(http_get(gw.port, "/__waitroom/status")[0], 400)  # two rooms: name one
            self.assertEqual(http_get(gw.port, "/__waitroom/status?room=nope")[0], 404)
            self.assertEqual(http_get(gw.port, "/__waitroom/other")[0], 404)
            r = self_request(gw.port, b"POST /__waitroom/status HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
            self.assertEqual(r.status, 405)
            # keep-alive: several polls on one connection, and none reached the origin or created a place
            c = Client(gw.port)
            for _ in range(3):
                c.send(b"GET /__waitroom/status?room=sale HTTP/1.1\r\nHost: h\r\n\r\n")
                self.assertEqual(c.read_response().status, 200)
            c.send(b"HEAD /__waitroom/status?room=sale HTTP/1.1\r\nHost: h\r\n\r\n")
            r = c.read_response(head_request=True)
            self.assertEqual(r.status, 200)
            c.send(b"GET /shop HTTP/1.1\r\nHost: h\r\n\r\n")
            r = c.read_response()  # after a HEAD, no stray body on the wire
            self.assertEqual(r.body, b"hello from origin /shop\n")
            c.close()
            self.assertEqual(len(origin.requests), before + 1)
            self.assertIsNone(redis.client().call("GET", "wr:{sale}:seq"))
            # Redis gone: the room is in trouble, and says so
            redis.proc.terminate()
            redis.proc.wait(5)
            time.sleep(2.5)
            self.assertEqual(json.loads(http_get(gw.port, "/__waitroom/status?room=sale")[2])["state"], "trouble")
        finally:
            self.assertEqual(gw.stop(), 0, getattr(gw, "final_log", "")[-3000:])

    def test_no_rooms_no_redis(self):
        origin = Origin()
        gw = Gateway(origin.url())
        try:
            time.sleep(0.3)
            self.assertEqual(gw.metric("waitroom_gateway_redis_connected"), 0)
            self.assertNotIn("redis", gw.logtext())
            self.assertEqual(http_get(gw.port, "/__waitroom/status")[0], 404)
        finally:
            self.assertEqual(gw.stop(), 0)
            origin.stop()


if __name__ == "__main__":
    unittest.main()
