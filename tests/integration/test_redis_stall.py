"""Redis stalled (issue 14, item 3): a Redis that stops answering (SIGSTOP here; a failover behind a dead
TCP connection looks the same) must not hold buyers for minutes. With [redis] timeout_ms the gateway
drops the connection, answers what was in flight (the trouble page, places kept), keeps retrying, and is
back within a second of Redis answering again."""
import json
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomTest, Visitor, wait_for  # noqa: E402


class Stall(RoomTest):
    WORKERS = 2
    ROOMS = "[room sale]\npaths = /checkout\nstate = paused\n"
    EXTRA_ORIGIN = "[redis]\ntimeout_ms = 500\n"

    def test_sigstop_for_ten_seconds_mid_sale(self):
        waiting = [Visitor(self.gw.port) for _ in range(5)]
        for i, v in enumerate(waiting):
            self.assertEqual(json.loads(v.get("/checkout", json_=True).body)["position"], i + 1)
        pid = self.redis.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            stopped_at = time.time()
            # a newcomer needs Redis for a place: answered within the timeout, with a provisional place
            t0 = time.time()
            newcomer = Visitor(self.gw.port)
            r = newcomer.get("/checkout", json_=True)
            took = time.time() - t0
            self.assertEqual(r.status, 200)
            self.assertLess(took, 1.5, "held %.1f s by a stalled Redis" % took)
            self.assertIn("wr_q", newcomer.cookies)
            # everyone is told of the trouble and keeps their place
            self.assertTrue(wait_for(lambda: json.loads(waiting[0].get("/checkout", json_=True).body)["state"]
                                     == "trouble", timeout=5))
            # more arrivals during the stall are answered just as quickly, in parallel
            late = [Visitor(self.gw.port) for _ in range(6)]
            times = []

            def arrive(v):
                t = time.time()
                v.get("/checkout", json_=True)
                times.append(time.time() - t)

            threads = [threading.Thread(target=arrive, args=(v,)) for v in late]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertLess(max(times), 1.5, times)
            self.assertGreaterEqual(self.gw.metric("waitroom_gateway_redis_timeouts_total"), 1)
            time.sleep(max(0.0, 10 - (time.time() - stopped_at)))
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.time()

        def back():
            doc = json.loads(waiting[0].get("/checkout", json_=True).body)
            return doc["state"] == "paused" and doc["position"] == 1  # the room's own state, not "trouble"

        ok = wait_for(back, timeout=10)
        self.assertTrue(ok, (waiting[0].get("/checkout", json_=True).body, self.gw.logtext()[-3000:]))
        took = time.time() - resumed
        self.assertLess(took, 1.0, "back %.2f s after SIGCONT" % took)
        # nobody lost a place; the newcomers are placed behind them
        self.assertEqual([json.loads(v.get("/checkout", json_=True).body)["position"] for v in waiting],
                         [1, 2, 3, 4, 5])
        self.assertTrue(wait_for(lambda: json.loads(newcomer.get("/checkout", json_=True).body)["position"], timeout=5))
        self.assertGreater(json.loads(newcomer.get("/checkout", json_=True).body)["position"], 5)


if __name__ == "__main__":
    unittest.main()
