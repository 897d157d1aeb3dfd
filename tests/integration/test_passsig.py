"""The optional Waitroom-Pass header ([origin] pass_signing_key_file): an admitted visitor's requests
reach the origin with a header signed by the gateway (Ed25519) that `wrctl verify-pass` accepts with the
public key alone; a client can never send its own (it is dropped, with a pass or without)."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomTest, Visitor, admit  # noqa: E402

BUILD = os.environ.get("WR_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
WRCTL = os.path.join(BUILD, "admission", "wrctl")
FORGED = "v1 room=sale visitor=%s serial=1 expires=4000000000 sig=%s" % ("0" * 32, "A" * 86)


def pass_headers(resp):
    doc = json.loads(resp.body)
    return [v for k, v in doc["headers"] if k.lower() == "waitroom-pass"]


class PassHeader(RoomTest):
    ROOMS = "[room sale]\npaths = /echo\n"
    EXTRA_ORIGIN = "pass_signing_key_file = pass.key\n"

    def verify(self, value, *extra):
        pub = os.path.join(self.gw.dir, "pass.key.pub")
        return subprocess.run([WRCTL] + list(extra) + ["verify-pass", pub, value], capture_output=True, text=True,
                              timeout=30)

    def test_signed_for_admitted_visitors_only(self):
        key = os.path.join(self.gw.dir, "pass.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertIn("generated the pass signing key", self.gw.logtext())
        # unprotected path: no header reaches the origin, not even one the client sent
        r = Visitor(self.gw.port).get("/echo-free", extra="Waitroom-Pass: %s\r\n" % FORGED)
        self.assertEqual(pass_headers(r), [])
        # an admitted visitor (with a forged header of their own, which is dropped)
        admit(self.r, 10 ** 6, gw=self.gw)
        v = Visitor(self.gw.port)
        self.assertEqual(json.loads(v.get("/echo", json_=True).body)["state"], "waiting")
        serial = int(self.r.call("GET", "wr:{sale}:seq"))
        admit(self.r, 1, gw=self.gw)
        self.assertEqual(v.get("/echo").status, 302)  # claimed: the pass is set
        r = v.get("/echo/seat", extra="Waitroom-Pass: %s\r\n" % FORGED)
        self.assertEqual(r.status, 200, r.body)
        got = pass_headers(r)
        self.assertEqual(len(got), 1, got)
        self.assertNotEqual(got[0], FORGED)
        p = self.verify(got[0])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("valid: room sale", p.stdout)
        self.assertIn("serial %d" % serial, p.stdout)
        doc = json.loads(self.verify(got[0], "--json").stdout)
        self.assertEqual((doc["valid"], doc["room"], doc["serial"]), (True, "sale", serial))
        # the next request of the same pass carries it again; another admitted visitor gets their own
        self.assertEqual(pass_headers(v.get("/echo/pay")), got)
        w = Visitor(self.gw.port)
        w.get("/echo", json_=True)
        admit(self.r, 1, gw=self.gw)
        self.assertEqual(w.get("/echo").status, 302)
        theirs = pass_headers(w.get("/echo/seat"))
        self.assertEqual(len(theirs), 1)
        self.assertIn("serial=%d " % (serial + 1), theirs[0])
        self.assertNotEqual(theirs[0].split()[2], got[0].split()[2])  # visitor=...
        self.assertEqual(pass_headers(v.get("/echo/pay")), got)  # and the first one still their own
        # the forged one, and a tampered copy of the real one, are refused
        self.assertEqual(self.verify(FORGED).returncode, 1)
        tampered = got[0].replace("serial=%d" % serial, "serial=%d" % (serial + 1))
        p = self.verify(tampered)
        self.assertEqual((p.returncode, p.stdout.strip()), (1, "forged (the signature does not match)"))


if __name__ == "__main__":
    unittest.main()
