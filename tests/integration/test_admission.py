"""wr-admission against a real redis-server: one leader at a time, a standby taking over within one lease
time when the leader is killed or stopped, a stopped leader fenced when it comes back, and over the whole
run no visitor admitted twice and no tick admitting more than one leader's allowance."""
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, Origin, Visitor, free_port, http_get, wait_for  # noqa: E402
from resp import RedisServer  # noqa: E402

ADMISSION = os.environ.get("WR_ADMISSION",
                           os.path.join(os.path.dirname(__file__), "../../build/admission/wr-admission"))
LEASE_S = 2.0
RATE = 600  # per minute: 10 a second, at most 10 in one tick (the burst)
VISITORS = 3000


class Controller:
    def __init__(self, config, name, logdir):
        self.name = name
        self.metrics_port = free_port()
        self.log = open(os.path.join(logdir, name + ".log"), "w+")
        self.proc = subprocess.Popen([ADMISSION, "-c", config, "--id", name, "--metrics",
                                      "127.0.0.1:%d" % self.metrics_port], stdout=self.log, stderr=subprocess.STDOUT)

    def metrics(self):
        st, _, body = http_get(self.metrics_port, "/metrics")
        assert st == 200, st
        out = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        text = self.logtext()
        self.log.close()
        return self.proc.returncode, text


class Admission(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.addCleanup(self.redis.stop)
        self.r = self.redis.client()
        self.addCleanup(self.r.sock.close)
        self.dir = tempfile.mkdtemp(prefix="wr-adm-")
        self.config = os.path.join(self.dir, "wr.ini")
        with open(self.config, "w") as f:
            f.write("[origin]\nurl = http://127.0.0.1:9\n[redis]\nurl = redis://127.0.0.1:%d\n"
                    "[room sale]\npaths = /checkout\nrate_per_minute = %d\nabandon_after_s = 86400\n"
                    "[room fair]\npaths = /fair\nmode = adaptive\nmin_rate = 60\nmax_rate = 600\n"
                    % (self.redis.port, RATE))
        # a queue of visitors who keep polling (seen now; abandonment is off for the test)
        self.r.call("SET", "wr:{sale}:seq", VISITORS)
        seen = (int(time.time() * 1000) // 4000) % 65535 + 1
        for lo in range(1, VISITORS + 1, 500):
            args = []
            for s in range(lo, min(lo + 500, VISITORS + 1)):
                args += ["SET", "u16", "#%d" % s, seen]
            self.r.call("BITFIELD", "wr:{sale}:seen", *args)
        self.controllers = []

    def tearDown(self):
        bad = []
        for c in self.controllers:  # every one is stopped, even if an earlier one exited badly
            rc, text = c.stop()
            if rc not in (0, -signal.SIGKILL):
                bad.append("%s exited %s:\n%s" % (c.name, rc, text[-2000:]))
        self.assertEqual(bad, [])

    def start(self, name):
        c = Controller(self.config, name, self.dir)
        self.controllers.append(c)
        return c

    def leader(self):
        v = self.r.call("GET", "wr:leader")
        return v.decode() if v else None

    def boundary(self):
        return int(self.r.call("GET", "wr:{sale}:boundary") or 0)

    def moving_by(self, name, timeout):
        """Waits until `name` admits (its decision recorded and the boundary moved); returns when."""
        b0 = self.boundary()

        def ok():
            ctl = self.r.call("HGET", "wr:{sale}:ctl", "leader")
            return ctl == name.encode() and self.boundary() > b0
        return wait_for(ok, timeout) and time.time()

    def test_takeover_fencing_and_no_double_admission(self):
        a = self.start("a")
        self.assertTrue(wait_for(lambda: self.leader() == "a", 5))
        b = self.start("b")
        self.assertTrue(self.moving_by("a", 5))
        time.sleep(1.0)
        self.assertEqual(self.leader(), "a")  # b stands by
        self.assertIn("leading", a.logtext())
        self.assertNotIn("leading", b.logtext())
        ma, mb = a.metrics(), b.metrics()
        self.assertEqual((ma["waitroom_admission_leader"], mb["waitroom_admission_leader"]), (1, 0))
        self.assertEqual(ma["waitroom_admission_epoch"], 1)
        self.assertEqual(ma['waitroom_admission_rate_per_minute{room="sale"}'], RATE)
        self.assertEqual(ma['waitroom_admission_reason{room="sale",reason="ok"}'], 1)
        self.assertGreater(ma['waitroom_admission_admitted_total{room="sale"}'], 0)
        self.assertEqual(ma['waitroom_admission_no_shows_total{room="sale"}'], 0)
        self.assertEqual(ma['waitroom_admission_sessions_ended_total{room="sale"}'], 0)
        self.assertIn("# TYPE waitroom_admission_no_shows_total counter",
                      http_get(a.metrics_port, "/metrics")[2].decode())
        self.assertGreater(ma["waitroom_admission_last_tick_timestamp_seconds"], time.time() - 5)
        self.assertGreater(ma["waitroom_admission_redis_latency_seconds_count"], 4)  # lease, counts, admit
        self.assertEqual(ma['waitroom_admission_redis_latency_seconds_bucket{le="+Inf"}'],
                         ma["waitroom_admission_redis_latency_seconds_count"])
        self.assertEqual(ma['waitroom_admission_redis_errors_total{kind="error"}'], 0)
        self.assertEqual(http_get(a.metrics_port, "/other")[0], 404)
        # the leader dies: b takes over within one lease time and admission goes on
        a.proc.kill()
        a.proc.wait(5)
        killed = time.time()
        took = self.moving_by("b", LEASE_S + 3)
        self.assertTrue(took, b.logtext()[-2000:])
        self.assertLessEqual(took - killed, LEASE_S + 1.0)  # a lease, a tick, and a refresh of slack
        epoch_b = int(self.r.call("GET", "wr:epoch"))
        self.assertEqual(epoch_b, 2)
        # a new standby; then the leader is stopped for longer than its lease
        c = self.start("c")
        time.sleep(1.0)
        b.proc.send_signal(signal.SIGSTOP)
        stopped = time.time()
        took = self.moving_by("c", LEASE_S + 3)
        self.assertTrue(took, c.logtext()[-2000:])
        self.assertLessEqual(took - stopped, LEASE_S + 1.0)
        self.assertEqual(int(self.r.call("GET", "wr:epoch")), 3)
        time.sleep(1.0)
        b.proc.send_signal(signal.SIGCONT)  # the old leader wakes up, still believing it leads
        time.sleep(1.5)
        self.assertEqual(self.leader(), "c")
        logb = b.logtext()
        self.assertTrue("lost the lease" in logb or "admission refused" in logb, logb[-2000:])
        # b's tick in flight, if any, was refused: nothing was admitted under epoch 2 after c's takeover
        before = self.boundary()
        time.sleep(1.0)
        self.assertGreater(self.boundary(), before)  # c goes on admitting
        c.proc.send_signal(signal.SIGSTOP)  # hold still while the books are read (tearDown resumes it)
        time.sleep(0.3)  # a call it had sent is done in Redis
        # the books: every admission once, every tick within one leader's allowance
        admitted = collections.Counter()
        per_tick = collections.Counter()
        who = set()
        for _, f in self.r.call("XRANGE", "wr:{sale}:log", "-", "+"):
            e = {f[i].decode(): f[i + 1].decode() for i in range(0, len(f), 2)}
            if e["ev"] != "admitted":
                continue
            admitted[e["serial"]] += 1
            per_tick[(e["gw"], e["ms"])] += 1
            who.add(e["gw"])
        self.assertEqual(who, {"ctl:a", "ctl:b", "ctl:c"})
        self.assertEqual(max(admitted.values()), 1, "a visitor was admitted twice")
        self.assertEqual(sorted(int(s) for s in admitted), list(range(1, len(admitted) + 1)))
        self.assertEqual(len(admitted), self.boundary())
        self.assertLessEqual(max(per_tick.values()), RATE // 60)
        # the decisions are on record for the organiser
        ctl = self.r.call("HGETALL", "wr:{sale}:ctl")
        ctl = {ctl[i].decode(): ctl[i + 1].decode() for i in range(0, len(ctl), 2)}
        self.assertEqual((ctl["leader"], ctl["epoch"], ctl["reason"]), ("c", "3", "ok"))
        self.assertEqual(float(ctl["rate_per_minute"]), RATE)

    def test_a_new_leader_starts_from_the_recorded_inventory(self):
        # the last leader's record: the organiser once set 5 tickets, then the origin said none are left
        self.r.call("HSET", "wr:{sale}:cfg", "inventory_remaining", "5")
        self.r.call("HSET", "wr:{sale}:ctl", "inventory", "0", "cfg_inventory", "5", "sold_out", "1")
        a = self.start("a")
        self.assertTrue(wait_for(lambda: self.r.call("HGET", "wr:{sale}:ctl", "leader") == b"a", 5))
        time.sleep(1.0)
        # a sold-out sale stays stopped across a restart (the old organiser value is not applied again)
        self.assertEqual(self.boundary(), 0)
        self.assertEqual(self.r.call("HGET", "wr:{sale}:ctl", "reason"), b"inventory")
        self.assertEqual(self.r.call("HGET", "wr:{sale}:ctl", "inventory"), b"0")
        self.assertIn("inventory as the last leader recorded it", a.logtext())
        # a new word from the organiser is applied (3 tickets left): admission goes on
        self.r.call("HSET", "wr:{sale}:cfg", "inventory_remaining", "3")
        self.assertTrue(wait_for(lambda: self.boundary() >= 3, 5))
        self.assertEqual(self.r.call("HGET", "wr:{sale}:ctl", "cfg_inventory"), b"3")

    def test_signals_and_inventory_from_the_gateway(self):
        origin = Origin()
        self.addCleanup(origin.stop)
        # a fresh room before the gateway starts (a gateway that saw serials would put them back)
        self.r.call("DEL", "wr:{sale}:seq", "wr:{sale}:seen", "wr:{sale}:boundary")
        gw = Gateway(origin.url(), extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % self.redis.port,
                     rooms="[room sale]\npaths = /checkout\nrate_per_minute = 600\n"
                           "[room fair]\npaths = /fair\nmode = adaptive\nmin_rate = 60\nmax_rate = 600\n")
        try:
            # a fresh view before the first visitor (else some get provisional places), and enough
            # visitors that some still wait below when a loaded ASan run takes its time (10 admitted/s)
            self.assertTrue(wait_for(lambda: (gw.metric("waitroom_gateway_room_refreshes_total") or 0) >= 4))
            vs = [Visitor(gw.port) for _ in range(80)]
            for v in vs:
                v.get("/checkout", json_=True)
            self.start("a")
            # the first visitors are let in; one buys: the origin's answers come back as the room's signals
            self.assertTrue(wait_for(lambda: vs[0].get("/checkout").status == 302, 5))
            self.assertEqual(vs[0].get("/checkout/seat").status, 200)

            def sig_requests():
                total = 0
                for v in self.r.call("HVALS", "wr:{sale}:sig"):
                    total += int(v.split()[1])
                return total
            self.assertTrue(wait_for(lambda: sig_requests() >= 1, 3))
            # the adaptive room has fresh signals (no traffic yet, but the gateway is alive)
            self.assertTrue(wait_for(lambda: self.r.call("HGET", "wr:{fair}:ctl", "reason") not in (None, b"no_signal"),
                                     5), (self.r.call("HGETALL", "wr:{fair}:ctl"), self.r.call("HGETALL", "wr:{fair}:sig"),
                                          time.time()))
            # the origin says 3 tickets are left: buyers far back are told they are likely too late
            vs[0].get("/checkout/pay?inventory=3")
            self.assertTrue(wait_for(lambda: self.r.call("HGET", "wr:{sale}:ctl", "inventory") == b"3", 5))
            time.sleep(0.6)  # the gateway's view has it
            docs = [json.loads(v.get("/checkout", json_=True).body) for v in vs[-12:]]
            waiting = [d for d in docs if d["state"] == "waiting" and d["position"]]
            self.assertTrue(waiting)
            for d in waiting:
                self.assertEqual(d["likely_sold_out"], d["position"] > 3, d)
            self.assertIn(b"may not be enough tickets left", vs[-1].get("/checkout").body)
            # the origin says the tickets are gone: admission stops on its own
            r = vs[0].get("/checkout/pay?inventory=0")
            self.assertEqual(r.body, b"tickets left: 0\n")
            self.assertIsNone(r.header("waitroom-inventory"))  # for the gateway only
            self.assertTrue(wait_for(lambda: self.r.call("HGET", "wr:{sale}:ctl", "reason") == b"inventory", 5))
            b0 = self.boundary()
            time.sleep(1.0)
            self.assertEqual(self.boundary(), b0)
            # and the room shows it: sold out, places kept
            doc = json.loads(vs[-1].get("/checkout", json_=True).body)
            self.assertEqual(doc["state"], "sold_out")
            self.assertIn(b"Sold out for now", vs[-1].get("/checkout").body)
        finally:
            self.assertEqual(gw.stop(), 0, getattr(gw, "final_log", "")[-3000:])
        # no gateway left: the adaptive room's signals go stale and it holds
        self.assertTrue(wait_for(lambda: self.r.call("HGET", "wr:{fair}:ctl", "reason") == b"no_signal", 6))


if __name__ == "__main__":
    unittest.main()
