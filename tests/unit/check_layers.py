#!/usr/bin/env python3
"""The gateway's layers, checked from its #include lines (docs/ARCHITECTURE.md):
  - gateway/http/ includes nothing from gateway/queue/ or gateway/admin/ (the proxy alone);
  - gateway/queue/ includes nothing from gateway/admin/;
  - a layer's internal.h is included only by that layer's own files (the queue enters the proxy
    through the hooks of gateway/http/http.h, never through its internals);
  - no include cycle between files of the gateway.
Usage: check_layers.py [ROOT]   (ROOT: the source tree; default: two levels up from here).
Exits 1 listing every violation. It checks itself first on a small tree with known faults, so a
check that stopped seeing anything would fail here too."""
import os
import re
import sys
import tempfile
import unittest
# pylint: disable=consider-using-with

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
LAYERS = ("http", "queue", "admin")
# what each layer may include from the others
ALLOWED = {"http": {"http"}, "queue": {"http", "queue"}, "admin": {"http", "queue", "admin"}}


def layer_of(path):
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] == "gateway" and parts[1] in LAYERS:
        return parts[1]
    return None


def gateway_files(root):
    out = {}
    for base, _, names in os.walk(os.path.join(root, "gateway")):
        for n in names:
            if n.endswith((".c", ".h")):
                full = os.path.join(base, n)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                with open(full, encoding="utf-8") as f:
                    out[rel] = [i for i in INCLUDE.findall(f.read()) if i.startswith("gateway/")]
    return out


def check(root):
    files = gateway_files(root)
    problems = []
    for path, incs in sorted(files.items()):
        mine = layer_of(path)
        for inc in incs:
            theirs = layer_of(inc)
            if mine and theirs and theirs not in ALLOWED[mine]:
                problems.append("%s includes %s: %s/ may not depend on %s/" % (path, inc, mine, theirs))
            if inc.endswith("/internal.h") and theirs and mine != theirs:
                problems.append("%s includes %s: internal to %s/" % (path, inc, theirs))
    # cycles among the files that exist
    state = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in files.get(node, []):
            if nxt not in files:
                continue
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                problems.append("include cycle: " + " -> ".join(cyc))
            elif not state.get(nxt):
                visit(nxt, stack + [nxt])
        state[node] = 2

    for f in sorted(files):
        if not state.get(f):
            visit(f, [f])
    return problems


class SelfCheck(unittest.TestCase):
    def tree(self, files):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        d = tmp.name
        for path, text in files.items():
            full = os.path.join(d, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        return d

    def test_sees_each_kind_of_fault(self):
        root = self.tree({
            "gateway/http/conn.c": '#include "gateway/queue/gate.h"\n#include "gateway/http/internal.h"\n',
            "gateway/http/internal.h": "",
            "gateway/queue/gate.h": '#include "gateway/admin/admin.h"\n',
            "gateway/admin/admin.h": "",
            "gateway/admin/admin.c": '#include "gateway/http/internal.h"\n',
            "gateway/queue/a.h": '#include "gateway/queue/b.h"\n',
            "gateway/queue/b.h": '#include "gateway/queue/a.h"\n',
        })
        text = "\n".join(check(root))
        self.assertIn("gateway/http/conn.c includes gateway/queue/gate.h", text)
        self.assertIn("gateway/queue/gate.h includes gateway/admin/admin.h", text)
        self.assertIn("gateway/admin/admin.c includes gateway/http/internal.h: internal", text)
        self.assertIn("include cycle", text)
        self.assertNotIn("conn.c includes gateway/http/internal.h", text)

    def test_a_clean_tree_passes(self):
        root = self.tree({
            "gateway/http/conn.c": '#include "gateway/http/internal.h"\n#include "common/log.h"\n',
            "gateway/http/internal.h": '#include "gateway/http/http.h"\n',
            "gateway/http/http.h": "",
            "gateway/queue/gate.c": '#include "gateway/http/http.h"\n',
            "gateway/main.c": '#include "gateway/queue/queue.h"\n',
        })
        self.assertEqual(check(root), [])


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    self_test = unittest.main(argv=[sys.argv[0]], exit=False, verbosity=0).result
    if not self_test.wasSuccessful():
        sys.exit(1)
    problems = check(root)
    for p in problems:
        print("layers: " + p)
    n = len(gateway_files(root))
    print("layers: %d gateway files, %d violation%s" % (n, len(problems), "" if len(problems) == 1 else "s"))
    sys.exit(1 if problems else 0)
