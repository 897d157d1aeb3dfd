"""The gateway's room caches: each worker keeps a Redis connection, refreshes every room's view
(one view.lua call per room every 200 ms), survives a Redis outage and reconnects on its own."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, Origin, http_get  # noqa: E402
from resp import RedisServer  # noqa: E402


def wait_for(fn, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    return fn()


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
            # polls and requests do not add Redis commands: refreshes are all there is
            calls0 = commands(redis)
            for i in range(200):
                self.assertEqual(http_get(gw.port, "/checkout/%d" % i)[0], 200)
            calls1 = commands(redis)
            self.assertLess(calls1 - calls0, 200 * 0.5)
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

    def test_no_rooms_no_redis(self):
        origin = Origin()
        gw = Gateway(origin.url())
        try:
            time.sleep(0.3)
            self.assertEqual(gw.metric("waitroom_gateway_redis_connected"), 0)
            self.assertNotIn("redis", gw.logtext())
        finally:
            self.assertEqual(gw.stop(), 0)
            origin.stop()


if __name__ == "__main__":
    unittest.main()
