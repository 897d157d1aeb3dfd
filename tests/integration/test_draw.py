"""The pre-queue and its verifiable draw: the scripts against a real redis-server (commitment, pre-queue,
opening, idempotency), the uniformity of the draw over many seeds (chi-square, deterministic seeds so the
test cannot flake), scripts/verify-shuffle accepting an honest draw and refusing rigged ones, and a
scheduled room end to end through wr-gateway: pre-queued visitors see the commitment, get their drawn
places at the opening, the seed is revealed, later arrivals queue behind."""
import collections
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, Origin, Visitor  # noqa: E402
from resp import LuaRoom, RedisServer  # noqa: E402

HERE = os.path.dirname(__file__)
VERIFY = os.path.join(HERE, "..", "..", "scripts", "verify-shuffle")
MAXLEN = 100000


def rank(seed, visitor):
    return hashlib.sha1((seed + visitor).encode()).hexdigest()


class Draw(LuaRoom):
    def __init__(self, r, name):
        super().__init__(r, name, ("schedule", "prequeue", "open", "join", "configure"))

    def schedule(self, seed):
        commitment = hashlib.sha256(bytes.fromhex(seed)).hexdigest()
        return self.ev("schedule", ["shuffle", "log"], [seed, commitment, 1000, "gw1", MAXLEN])

    def prequeue(self, visitor, op="join"):
        return self.ev("prequeue", ["pre", "shuffle", "log"], [visitor, 1000, "gw1", MAXLEN, op, self.max])

    max = 1000000  # the pre-queue's cap
    slice = 100000  # visitors drawn per open.lua call

    def open(self, now=5000):
        """Runs the draw to its end (open.lua answers -2 while slices remain); returns its last answer."""
        while True:
            res = self.ev("open", ["pre", "shuffle", "log", "seq", "seen", "presorted", "cfg", "left"],
                          [now, "gw1", MAXLEN, 0, self.slice])
            if res[0] != -2:
                return res

    def join(self, visitor):
        return self.ev("join", ["seq", "seen", "log", "presorted", "tick"], [visitor, 6000, "gw1", 0, MAXLEN, 0, 1000])

    def order(self):
        h = self.r.call("HGETALL", self.k("presorted"))
        pairs = sorted((int(h[i + 1]), h[i].decode()) for i in range(0, len(h), 2))
        return [v for _, v in pairs]

    def events(self):
        out = []
        for _, f in self.r.call("XRANGE", self.k("log"), "-", "+"):
            out.append({f[i].decode(): f[i + 1].decode() for i in range(0, len(f), 2)})
        return out


def vid(i):
    return "%032x" % (0xabc0000 + i)


def seed_of(run):
    return hashlib.sha256(b"waitroom draw test %d" % run).hexdigest()


class Scripts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = RedisServer()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.r = self.server.client()
        self.r.call("FLUSHALL")

    def tearDown(self):
        self.r.sock.close()

    def verify(self, room, jsonl=None):
        args = [sys.executable, VERIFY, room, "--redis", "127.0.0.1:%d" % self.server.port]
        if jsonl:
            args += ["--jsonl", jsonl]
        return subprocess.run(args, capture_output=True, text=True, timeout=60)

    def test_commitment_prequeue_opening(self):
        d = Draw(self.r, "sale")
        self.assertEqual(d.prequeue(vid(1)), -2)  # no seed yet: nobody can be placed before the commitment
        seed = seed_of(1)
        commitment = hashlib.sha256(bytes.fromhex(seed)).hexdigest()
        self.assertEqual(d.schedule(seed), [commitment.encode(), 0, b"", 1000])
        # a second gateway proposes another seed: the first one stands, and the seed stays secret
        self.assertEqual(d.schedule(seed_of(2)), [commitment.encode(), 0, b"", 1000])
        for i in range(1, 8):
            self.assertEqual(d.prequeue(vid(i)), 0)
        self.assertEqual(d.prequeue(vid(3)), 0)  # a second tab: still one entry
        self.assertEqual(d.prequeue(vid(5), "leave"), 0)
        self.assertEqual(d.join(vid(99)), 1)  # (a room that is not scheduled still joins normally)
        # the organiser moved the opening to 6 s (PATCH open_at): a gateway that has not seen it yet
        # cannot open early, and nothing is drawn
        self.r.call("HSET", d.k("cfg"), "open_at", 6)
        self.assertEqual(d.open(now=5000), [-1, 6, b""])
        self.assertNotEqual(self.r.call("HGET", d.k("shuffle"), "opened"), b"1")
        self.r.call("HSET", d.k("cfg"), "open_at", 5)
        base, n, revealed = d.open()
        self.assertEqual((base, n, revealed.decode()), (1, 6, seed))
        want = sorted([vid(i) for i in (1, 2, 3, 4, 6, 7)], key=lambda v: rank(seed, v))
        self.assertEqual(d.order(), want)
        self.assertEqual(int(self.r.call("GET", d.k("seq"))), 7)
        self.assertEqual(d.open(), [1, 6, seed.encode()])  # idempotent: every gateway calls it
        self.assertEqual(d.prequeue(vid(8)), -1)  # opened: an ordinary join from now on
        self.assertEqual(d.join(want[0]), 2)  # a pre-queued visitor gets their drawn serial
        self.assertEqual(d.join(vid(8)), 8)  # a newcomer queues behind the pre-queue
        evs = [e["ev"] for e in d.events()]
        self.assertEqual(evs.count("scheduled"), 1)
        self.assertEqual(evs.count("prejoined"), 7)
        self.assertEqual(evs.count("drawn"), 6)
        self.assertEqual(self.r.call("EXISTS", d.k("pre")), 0)
        seen = self.r.call("BITFIELD", d.k("seen"), "GET", "u16", "#2", "GET", "u16", "#7")
        self.assertTrue(all(v > 0 for v in seen))  # drawn visitors count as seen at the opening

    def test_draw_in_slices_and_a_capped_prequeue(self):
        """Issue 13: the draw runs in slices (Redis is never blocked long, however big the pre-queue), gives
        the same order as in one go, lets nobody into the pre-queue once it has begun, and skips the
        serials of visitors who left during it; the pre-queue has a cap."""
        one, sliced = Draw(self.r, "one"), Draw(self.r, "sliced")
        sliced.slice = 2
        sliced.max = one.max = 8
        seed = seed_of(7)
        for d in (one, sliced):
            d.schedule(seed)
            for i in range(1, 10):
                self.assertEqual(d.prequeue(vid(i)), 0 if i <= 8 else -3)  # the 9th: full
            self.assertEqual(d.prequeue(vid(3)), 0)  # already in: a second tab is fine when full
        # the sliced draw, step by step: serials are reserved at the start, newcomers go after them
        step = sliced.ev("open", ["pre", "shuffle", "log", "seq", "seen", "presorted", "cfg", "left"],
                         [5000, "gw1", MAXLEN, 0, 2])
        self.assertEqual(step, [-2, 2, b""])
        self.assertEqual(int(self.r.call("GET", sliced.k("seq"))), 8)
        self.assertEqual(sliced.prequeue(vid(20)), -4)  # the draw has begun: join normally, after it
        self.assertEqual(sliced.join(vid(20)), 9)
        order_before = [m.decode()[41:] for m in self.r.call("ZRANGE", sliced.k("pre"), 0, -1)]
        leaver = order_before[-1]  # not drawn yet: leaves, its serial is skipped as left
        self.assertEqual(sliced.prequeue(leaver, "leave"), 0)
        base, n, revealed = sliced.open()
        self.assertEqual((base, n, revealed.decode()), (0, 7, seed))
        self.assertEqual(self.r.call("ZRANGE", sliced.k("left"), 0, -1), [b"8"])
        self.assertEqual(one.open()[:2], [0, 8])
        self.assertEqual(sliced.order(), [v for v in one.order() if v != leaver])  # the same draw
        self.assertEqual([e["ev"] for e in sliced.events()].count("drawn"), 7)
        res = self.verify("sliced")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def test_open_at_cannot_move_once_the_draw_has_begun(self):
        d = Draw(self.r, "moving")
        d.slice = 1
        d.schedule(seed_of(8))
        for i in range(1, 4):
            d.prequeue(vid(i))
        cfg = ["cfg", "ctl", "log", "shuffle"]
        self.assertEqual(d.ev("configure", cfg, [4000, "org", MAXLEN, "open_at", 6]), 1)  # before: moves
        self.r.call("HSET", d.k("cfg"), "open_at", 5)
        step = d.ev("open", ["pre", "shuffle", "log", "seq", "seen", "presorted", "cfg", "left"],
                    [5000, "gw1", MAXLEN, 0, 1])
        self.assertEqual(step[0], -2)  # the draw has begun
        self.assertEqual(d.ev("configure", cfg, [5001, "org", MAXLEN, "open_at", 9]), -1)  # refused
        self.assertEqual(d.open()[:2], [0, 3])

    def test_verify_shuffle_accepts_honest_and_refuses_rigged_draws(self):
        d = Draw(self.r, "fair")
        d.schedule(seed_of(3))
        for i in range(1, 30):
            d.prequeue(vid(i))
        d.prequeue(vid(4), "leave")
        d.open()
        ok = self.verify("fair")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertIn("OK: 28 pre-queued visitors", ok.stdout)
        events = d.events()

        def check(mutate):
            evs = [dict(e) for e in events]
            mutate(evs)
            with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
                for e in evs:
                    f.write(json.dumps(e) + "\n")
            self.addCleanup(os.unlink, f.name)
            return self.verify("fair", f.name)

        drawn = [e for e in events if e["ev"] == "drawn"]

        def swap(evs):  # two visitors' places exchanged
            a = [e for e in evs if e["ev"] == "drawn"]
            a[0]["visitor"], a[5]["visitor"] = a[5]["visitor"], a[0]["visitor"]

        def other_seed(evs):  # the seed revealed is not the one committed to
            for e in evs:
                if e["ev"] == "opened":
                    e["seed"] = seed_of(4)

        def smuggled(evs):  # someone drawn who never was in the pre-queue
            for e in evs:
                if e["ev"] == "drawn" and e["visitor"] == drawn[-1]["visitor"]:
                    e["visitor"] = vid(500)

        for mutate, words in ((swap, "order differs"), (other_seed, "does not hash"),
                              (smuggled, "not the pre-queued ones")):
            res = check(mutate)
            self.assertEqual(res.returncode, 1, res.stdout)
            self.assertIn(words, res.stdout)
        self.assertEqual(check(lambda evs: None).returncode, 0)

    def test_draw_is_uniform(self):
        # 4 visitors, 2,400 draws with different seeds: every one of the 24 orders about equally often.
        # Chi-square with 23 degrees of freedom; 49.73 is its 99.9th percentile. Seeds are fixed, so the
        # outcome is the same on every run: the test checks the method, it does not flake.
        perms = collections.Counter()
        first10 = collections.Counter()
        runs = 2400
        d = Draw(self.r, "u")
        for run in range(runs):
            d.name = "u%d" % run
            d.schedule(seed_of(1000 + run))
            for i in range(4):
                d.prequeue(vid(i))
            d.open()
            perms[tuple(d.order())] += 1
        self.assertEqual(len(perms), 24)
        expected = runs / 24
        chi2 = sum((perms.get(p, 0) - expected) ** 2 / expected for p in itertools.permutations(
            [vid(i) for i in range(4)]))
        print("\ndraw of 4, 2400 runs: chi2 = %.1f (23 dof, limit 49.73)" % chi2, file=sys.stderr)
        self.assertLess(chi2, 49.73, "orders are not uniform: chi2 = %.1f" % chi2)
        # and who comes first among 10: 9 degrees of freedom, 99.9th percentile 27.88
        self.r.call("FLUSHALL")
        for run in range(1000):
            d.name = "f%d" % run
            d.schedule(seed_of(5000 + run))
            for i in range(10):
                d.prequeue(vid(i))
            d.open()
            first10[d.order()[0]] += 1
        chi2 = sum((first10.get(vid(i), 0) - 100) ** 2 / 100 for i in range(10))
        print("first of 10, 1000 runs: chi2 = %.1f (9 dof, limit 27.88)" % chi2, file=sys.stderr)
        self.assertLess(chi2, 27.88, "first places are not uniform: chi2 = %.1f" % chi2)


class Gatewayed(unittest.TestCase):
    def scheduled(self, opens_in_s, room_extra="", workers=1):
        """A redis-server, an origin and a gateway with a room 'sale' scheduled to open in opens_in_s
        seconds; returns (opening unix time, gateway, Redis client) once every worker has read the draw's
        commitment (self.redis and self.origin hold the servers). All of it is stopped after the test (the
        gateway must exit 0)."""
        self.redis = redis = RedisServer()
        self.addCleanup(redis.stop)
        self.origin = origin = Origin()
        self.addCleanup(origin.stop)
        opens = int(time.time()) + opens_in_s
        open_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(opens))
        gw = Gateway(origin.url(), workers=workers, extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % redis.port,
                     rooms="[room sale]\npaths = /checkout\nstate = scheduled\nopen_at = %s\n%s" % (open_at, room_extra))
        self.addCleanup(lambda: self.assertEqual(gw.stop(), 0, getattr(gw, "final_log", "")[-3000:]))
        r = redis.client()
        self.addCleanup(r.sock.close)
        deadline = time.time() + 5
        while not r.call("HGET", "wr:{sale}:shuffle", "commitment") and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # every worker has read the commitment
        return opens, gw, r

    def test_scheduled_room_end_to_end(self):
        opens, gw, r = self.scheduled(5, workers=2)
        commitment = r.call("HGET", "wr:{sale}:shuffle", "commitment").decode()
        vs = [Visitor(gw.port) for _ in range(6)]
        for v in vs:
            doc = json.loads(v.get("/checkout", json_=True).body)
            self.assertEqual(doc["state"], "scheduled")
            self.assertIsNone(doc["position"])
            self.assertEqual(doc["shuffle_commitment"], commitment)
            self.assertNotIn("shuffle_seed", doc)
            self.assertIn("wr_q", v.cookies)
        # the page says what happens, and shows the commitment
        page = vs[0].get("/checkout").body
        self.assertIn(b"The sale has not opened yet", page)
        self.assertIn(b"It opens at " + time.strftime("%Y-%m-%d %H:%M", time.gmtime(opens)).encode(), page)
        self.assertIn(commitment.encode(), page)
        # one leaves the pre-queue; a status poll without a token makes no place
        res = vs[5].leave()
        self.assertEqual(json.loads(res.body), {"left": True})
        Visitor(gw.port).get("/__waitroom/status?room=sale")
        self.assertEqual(r.call("ZCARD", "wr:{sale}:pre"), 5)
        self.assertEqual(len(self.origin.requests), 0)
        time.sleep(max(0.0, opens + 1.0 - time.time()))
        seed = r.call("HGET", "wr:{sale}:shuffle", "seed").decode()
        self.assertEqual(hashlib.sha256(bytes.fromhex(seed)).hexdigest(), commitment)
        drawn = {}
        for _, f in r.call("XRANGE", "wr:{sale}:log", "-", "+"):
            e = {f[i].decode(): f[i + 1].decode() for i in range(0, len(f), 2)}
            if e["ev"] == "drawn":
                drawn[e["visitor"]] = int(e["serial"])
        self.assertEqual(sorted(drawn.values()), [1, 2, 3, 4, 5])
        late = Visitor(gw.port)
        self.assertEqual(json.loads(late.get("/checkout", json_=True).body)["position"], 6)
        positions = []
        for v in vs[:5]:
            doc = json.loads(v.get("/checkout", json_=True).body)
            self.assertEqual(doc["state"], "waiting")
            self.assertEqual(doc["shuffle_seed"], seed)
            positions.append(doc["position"])
        self.assertEqual(sorted(positions), [1, 2, 3, 4, 5])
        # each visitor's place is the one the draw gave them (serial = position: nobody admitted yet)
        got = {}
        for v, p in zip(vs[:5], positions):
            got[p] = v
        order = sorted(drawn, key=lambda x: drawn[x])
        self.assertEqual(order, sorted(drawn, key=lambda x: rank(seed, x)))
        res = subprocess.run([sys.executable, VERIFY, "sale", "--redis", "127.0.0.1:%d" % self.redis.port],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("OK: 5 pre-queued visitors", res.stdout)

    def test_full_prequeue_is_told_and_joins_first_come(self):
        opens, gw, r = self.scheduled(4, room_extra="prequeue_max = 2\n")
        vs = [Visitor(gw.port) for _ in range(3)]
        docs = [json.loads(v.get("/checkout", json_=True).body) for v in vs]
        self.assertEqual([d.get("prequeue_full", False) for d in docs], [False, False, True])
        self.assertEqual(r.call("ZCARD", "wr:{sale}:pre"), 2)
        page = vs[2].get("/checkout").body
        self.assertIn(b"The pre-queue is full", page)
        for _ in range(3):  # the answer holds on every poll
            self.assertTrue(json.loads(vs[2].get("/checkout", json_=True).body)["prequeue_full"])
        time.sleep(max(0.0, opens + 1.0 - time.time()))
        positions = [json.loads(v.get("/checkout", json_=True).body)["position"] for v in vs]
        self.assertEqual(sorted(positions[:2]), [1, 2])
        self.assertEqual(positions[2], 3)  # first-come, after everyone drawn

    def test_an_error_reply_is_not_a_full_prequeue(self):
        """A pre-queue entry refused by Redis (here: out of memory) is trouble, not "full": the visitor is
        pre-queued on a later request, not turned away for good."""
        _, gw, r = self.scheduled(600)
        self.addCleanup(r.call, "CONFIG", "SET", "maxmemory", "0")
        r.call("CONFIG", "SET", "maxmemory", "1")  # every write now fails: OOM
        v = Visitor(gw.port)
        doc = json.loads(v.get("/checkout", json_=True).body)
        self.assertFalse(doc.get("prequeue_full", False))
        r.call("CONFIG", "SET", "maxmemory", "0")
        doc = json.loads(v.get("/checkout", json_=True).body)
        self.assertFalse(doc.get("prequeue_full", False))
        self.assertEqual(r.call("ZCARD", "wr:{sale}:pre"), 1)  # pre-queued once Redis took it

    def test_prequeue_through_redis_trouble(self):
        redis = RedisServer()
        self.addCleanup(redis.stop)
        origin = Origin()
        self.addCleanup(origin.stop)
        open_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        gw = Gateway(origin.url(), extra_origin="[redis]\nurl = redis://127.0.0.1:%d\n" % redis.port,
                     rooms="[room sale]\npaths = /checkout\nstate = scheduled\nopen_at = %s\n" % open_at)
        try:
            r = redis.client()
            deadline = time.time() + 5
            while not r.call("HGET", "wr:{sale}:shuffle", "commitment") and time.time() < deadline:
                time.sleep(0.05)
            r.sock.close()
            time.sleep(0.3)
            a = Visitor(gw.port)
            self.assertEqual(json.loads(a.get("/checkout", json_=True).body)["state"], "scheduled")
            self.assertEqual(redis.client().call("ZCARD", "wr:{sale}:pre"), 1)
            # Redis goes away: a newcomer still gets a (provisional) token and the plain scheduled answer
            redis.proc.terminate()
            redis.proc.wait(5)
            time.sleep(0.5)
            b = Visitor(gw.port)
            doc = json.loads(b.get("/checkout", json_=True).body)
            self.assertEqual((doc["state"], doc["position"]), ("scheduled", None))
            self.assertIn("wr_q", b.cookies)
            # Redis comes back empty: a new seed is drawn (a new commitment), and both visitors are put
            # in the pre-queue again as they poll (b for the first time, a because its pre-queue was lost)
            redis.proc = subprocess.Popen(["redis-server", "--port", str(redis.port), "--bind", "127.0.0.1",
                                           "--save", "", "--appendonly", "no", "--dir", redis.dir],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 20
            n = 0
            while time.time() < deadline:
                for v in (a, b):
                    try:
                        v.get("/__waitroom/status?room=sale")
                    except OSError:
                        pass
                try:
                    c = redis.client()
                    n = c.call("ZCARD", "wr:{sale}:pre")
                    c.sock.close()
                except OSError:
                    n = 0
                if n == 2:
                    break
                time.sleep(0.3)
            self.assertEqual(n, 2)
            self.assertIn("draw seed lost in Redis", gw.logtext())
        finally:
            self.assertEqual(gw.stop(), 0, getattr(gw, "final_log", "")[-3000:])


if __name__ == "__main__":
    unittest.main()
