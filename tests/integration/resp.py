"""A minimal RESP2 client (standard library only) for tests that talk to redis-server directly."""
import os
import shutil
import socket
import subprocess
import tempfile
import time


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise ValueError(line)

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        r = self._read()
        if isinstance(r, RedisError):
            raise r
        return r


class RedisServer:
    """A throw-away redis-server on a free loopback port."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="wr-redis-")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                c = self.client()
                c.call("PING")
                c.sock.close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def client(self):
        return Redis(self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class LuaRoom:
    """A room's scripts (common/lua) loaded into a Redis, called with the room's keys: ev("join",
    ["seq", ...], [args]) runs EVALSHA with wr:{NAME}:seq, ... The tests' subclasses add one method
    per script."""
    LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "common", "lua")

    def __init__(self, r, name, scripts):
        self.r, self.name = r, name
        self.sha = {n: r.call("SCRIPT", "LOAD", self.source(n)).decode() for n in scripts}

    @classmethod
    def source(cls, script):
        with open(os.path.join(cls.LUA, script + ".lua")) as f:
            return f.read()

    def k(self, what):
        return "wr:{%s}:%s" % (self.name, what)

    def ev(self, name, keys, args):
        return self.r.call("EVALSHA", self.sha[name], len(keys), *[self.k(x) for x in keys], *args)
