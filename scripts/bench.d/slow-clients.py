#!/usr/bin/env python3
"""Holds N slow connections against a server until killed (scripts/bench-slow): a third each of
  slowloris   a request head sent a byte every few seconds (it never ends)
  slow body   a POST whose 10,000-byte body comes a byte every few seconds
  slow read   a GET of a large response that is never read
A connection the server closes is opened again, so the pressure holds. Prints how many are open every
few seconds and, at the end (SIGTERM), how many were opened and closed by the server. Standard library
only (asyncio); raises its own open-file limit."""
import asyncio
import resource
import signal
import socket
import sys

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
drip_s = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
stats = {"open": 0, "opened": 0, "closed_by_server": 0, "failed": 0}


async def slow_reader():
    """A GET whose answer is never read, from a socket with a small receive buffer: the server's
    writes stall at once, as they would for a client on a very slow link."""
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    try:
        await loop.sock_connect(s, (host, port))
    except OSError:
        s.close()
        stats["failed"] += 1
        await asyncio.sleep(1)
        return
    stats["open"] += 1
    stats["opened"] += 1
    try:
        await loop.sock_sendall(s, b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
        while True:  # until the server gives up (send_timeout_ms): a peek sees the close
            await asyncio.sleep(drip_s)
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    break
            except BlockingIOError:
                pass
    except OSError:
        pass
    finally:
        stats["open"] -= 1
        stats["closed_by_server"] += 1
        s.close()


async def one(kind, i):
    await asyncio.sleep(i * 0.002)  # ramp up: 500 a second
    while True:
        if kind == 2:
            await slow_reader()
            continue
        try:
            r, w = await asyncio.open_connection(host, port)
        except OSError:
            stats["failed"] += 1
            await asyncio.sleep(1)
            continue
        stats["open"] += 1
        stats["opened"] += 1
        try:
            if kind == 0:
                w.write(b"GET /slowloris HTTP/1.1\r\nHost: h\r\n")
                while True:
                    await w.drain()
                    await asyncio.sleep(drip_s)
                    w.write(b"X")
            elif kind == 1:
                w.write(b"POST /slowbody HTTP/1.1\r\nHost: h\r\nContent-Length: 10000\r\n\r\n")
                while True:
                    await w.drain()
                    await asyncio.sleep(drip_s)
                    w.write(b"x")

        except (OSError, ConnectionError):
            pass
        finally:
            stats["open"] -= 1
            stats["closed_by_server"] += 1
            w.close()


async def report():
    while True:
        await asyncio.sleep(3)
        print("slow clients: %(open)d open, %(opened)d opened, %(closed_by_server)d closed by the server, "
              "%(failed)d failed to connect" % stats, flush=True)


async def main():
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    tasks = [asyncio.create_task(one(i % 3, i)) for i in range(n)] + [asyncio.create_task(report())]
    await stop
    for t in tasks:
        t.cancel()
    print("slow clients: done: %(opened)d opened, %(closed_by_server)d closed by the server" % stats, flush=True)


asyncio.run(main())
