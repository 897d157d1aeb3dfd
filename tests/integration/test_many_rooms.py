"""Eight rooms on one host (issue 13, part 6): one cookie holds a token per room, so the admitted
redirect of the eighth room carries seven other passes beside its own and the Location: the head
must stay whole, whatever the lengths."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import RoomTest, Visitor, admit  # noqa: E402

N = 8


class EightRooms(RoomTest):
    ROOMS = "".join("[room r%d]\npaths = /r%d\n" % (i, i) for i in range(N))

    def test_admitted_redirect_with_eight_passes_and_a_long_url(self):
        v = Visitor(self.gw.port)
        long_query = "?q=" + "x" * 1000  # the longest way back kept (1023 bytes)
        for i in range(N):
            self.assertEqual(v.get("/r%d/seat" % i).status, 200)
        for i in range(N):
            admit(self.r, 1, room="r%d" % i, gw=self.gw if i == N - 1 else None)
        for i in range(N):
            r = v.get("/r%d/seat%s" % (i, long_query))
            self.assertEqual(r.status, 302, "room r%d" % i)
            self.assertEqual(r.header("location"), "/r%d/seat%s" % (i, long_query), "room r%d" % i)
        self.assertEqual(len(v.cookies["wr_p"].split(".")), N)  # a pass per room in one cookie
        for i in range(N):  # and each of them works
            r = v.get("/r%d/seat" % i)
            self.assertEqual(r.status, 200)
            self.assertIn(b"hello from origin /r%d/seat" % i, r.body)


if __name__ == "__main__":
    unittest.main()
