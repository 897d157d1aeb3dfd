"""common/redis.c against a real redis-server: scripts, NOSCRIPT recovery, outage and reconnect."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import free_port  # noqa: E402

CLIENT = os.environ.get("WR_REDIS_CLIENT", os.path.join(os.path.dirname(__file__), "../../build/tests/integration/redis-client"))


def start_redis(port, d):
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            import socket
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("redis did not start")


class RedisClient(unittest.TestCase):
    def test_scripts_outage_and_reconnect(self):
        d = tempfile.mkdtemp(prefix="wr-redis-")
        port = free_port()
        redis = start_redis(port, d)
        client = subprocess.Popen(["timeout", "60", CLIENT, "127.0.0.1", str(port)], stdout=subprocess.PIPE,
                                  text=True)
        try:
            self.assertEqual(client.stdout.readline().strip(), "phase1 ok")
            redis.terminate()
            redis.wait(5)
            self.assertEqual(client.stdout.readline().strip(), "down")
            time.sleep(1.0)  # a few reconnect attempts fail meanwhile
            redis = start_redis(port, d)
            self.assertEqual(client.stdout.readline().strip(), "up")
            self.assertEqual(client.stdout.readline().strip(), "phase2 ok")
            self.assertEqual(client.wait(10), 0)
        finally:
            if client.poll() is None:
                client.kill()
            redis.terminate()
            redis.wait(5)
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
