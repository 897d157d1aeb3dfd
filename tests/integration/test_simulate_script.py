"""scripts/simulate-admission: runs the simulated sales (build/tests/sim/simulate) into a temporary
directory; the charts are well-formed SVG with data lines that stay on the canvas, the summary has its
four target lines with a PASS/FAIL verdict each, and a missing simulator is a clear exit-2 error.
The build directory is $WR_BUILD_DIR, else build/ in the repository; skipped when simulate is not built."""
import os
import re
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "simulate-admission")
BUILD = os.environ.get("WR_BUILD_DIR") or os.path.join(ROOT, "build")
SVG = "{http://www.w3.org/2000/svg}"
SUMMARY = ("adaptive C=200", "capacity drop 200->100", "recovery 100->200", "fixed 600/min")


class SimulateScript(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(os.path.join(BUILD, "tests", "sim", "simulate"), os.X_OK):
            raise unittest.SkipTest("no %s/tests/sim/simulate (build first)" % BUILD)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls.tmp.name, "charts")
        cls.proc = subprocess.run([sys.executable, SCRIPT, "--build", BUILD, "--out", cls.out],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        cls.stdout = cls.proc.stdout.decode()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_exit_status(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr.decode())

    def test_summary(self):
        lines = self.stdout.splitlines()
        for start in SUMMARY:
            found = [l for l in lines if l.startswith(start)]
            self.assertEqual(len(found), 1, "no single summary line for %r in:\n%s" % (start, self.stdout))
            self.assertRegex(found[0], r"\b(PASS|FAIL)\b")
        self.assertIn("target", self.stdout)
        for name in ("steady.svg", "drop.svg"):
            self.assertIn(name, self.stdout)

    def test_svgs(self):
        for name in ("steady.svg", "drop.svg"):
            with self.subTest(svg=name):
                root = ET.parse(os.path.join(self.out, name)).getroot()
                self.assertEqual(root.tag, SVG + "svg")
                w, h = float(root.get("width")), float(root.get("height"))
                self.assertEqual([float(v) for v in root.get("viewBox").split()], [0, 0, w, h])
                polylines = root.findall(".//" + SVG + "polyline")
                self.assertGreaterEqual(len(polylines), 6)
                longest = 0
                for pl in polylines:  # every point on the canvas
                    pts = [tuple(map(float, p.split(","))) for p in pl.get("points").split()]
                    longest = max(longest, len(pts))
                    for x, y in pts:
                        self.assertTrue(0 <= x <= w and 0 <= y <= h, "(%s, %s) off the canvas" % (x, y))
                self.assertGreater(longest, 250)  # one point a simulated second
                for el in root.iter():
                    for attr in ("x", "y", "x1", "y1", "x2", "y2"):
                        if el.get(attr) is not None:
                            v = float(el.get(attr))
                            self.assertTrue(0 <= v <= max(w, h), "%s=%s off the canvas" % (attr, v))
                texts = " ".join(t.text or "" for t in root.iter(SVG + "text"))
                for label in ("req/s", "visitors/min", "ms", "5xx"):
                    self.assertIn(label, texts)
                self.assertFalse(re.search(r"\b(nan|inf)\b", ET.tostring(root).decode(), re.I))

    def test_missing_binary(self):
        with tempfile.TemporaryDirectory() as empty:
            p = subprocess.run([sys.executable, SCRIPT, "--build", empty, "--out", os.path.join(empty, "o")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("meson setup", p.stderr.decode())
        self.assertIn("ninja -C", p.stderr.decode())


if __name__ == "__main__":
    unittest.main()
