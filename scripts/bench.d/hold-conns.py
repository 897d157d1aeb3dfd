#!/usr/bin/env python3
"""Client for scripts/bench-conns (stdlib only): holds N idle keep-alive connections to one gateway.

usage: hold-conns.py GATEWAY_PID PORT ADMIN_PORT N [REQUESTED]
(REQUESTED: the N asked for, when scripts/bench-conns had to lower it to fit the open-file limit)

Each connection does one full request/response first (so it is a real keep-alive connection after a
response), then sits idle. Measures the gateway's memory (VmRSS from /proc/PID/status, Pss from
/proc/PID/smaps_rollup) before opening any and once all are held, divides by the number held, reads
waitroom_gateway_connections at the peak, then checks that a sample of the held connections still
answers a second request with 200. Exit status: 0 all targets met, 1 otherwise.
"""
import errno
import os
import re
import resource
import selectors
import socket
import sys
import time
import urllib.request

PID, PORT, ADMIN, N = (int(a) for a in sys.argv[1:5])
REQUESTED = int(sys.argv[5]) if len(sys.argv) > 5 else N
BATCH = int(os.environ.get("BENCH_CONNS_BATCH", "500"))  # connections opened at once: well inside the listen backlog
OPEN_DEADLINE_S = 90   # for opening and answering all N
SAMPLE = 100
REQ = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: wr-bench-conns\r\n\r\n"

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = N + 64
if hard != resource.RLIM_INFINITY and hard < want:
    print("hold-conns: this process may open only %d files (hard limit); holding %d instead of %d"
          % (hard, hard - 64, N))
    N = hard - 64
    REQUESTED = max(REQUESTED, N + 64)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else want, hard))


def mem():
    out = {}
    for f, key in (("status", "VmRSS"), ("smaps_rollup", "Pss")):
        try:
            for line in open("/proc/%d/%s" % (PID, f)):
                if line.split(":")[0] == key:
                    out[key] = int(line.split()[1])  # KiB
                    break
        except OSError:
            pass
    return out


def metric(name):
    try:
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % ADMIN, timeout=5).read().decode()
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return "unavailable (%s)" % e
    m = re.search(r"^%s (\d+)$" % re.escape(name), body, re.M)
    return int(m.group(1)) if m else "not in /metrics"


class Resp:
    """Incremental HTTP/1.1 response reader: status, Content-Length or chunked body, Connection."""

    def __init__(self):
        self.buf = b""
        self.status = None
        self.close = False

    def feed(self, data):
        """Returns True once one full response is in."""
        self.buf += data
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        head = self.buf[:head_end].decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", head[0])
        self.status = int(m.group(1)) if m else -1
        hdrs = {}
        for h in head[1:]:
            k, _, v = h.partition(":")
            hdrs[k.strip().lower()] = v.strip().lower()
        self.close = "close" in hdrs.get("connection", "")
        body = self.buf[head_end + 4:]
        if "chunked" in hdrs.get("transfer-encoding", ""):
            return body.endswith(b"0\r\n\r\n")
        return len(body) >= int(hdrs.get("content-length", "0"))


def exchange(socks, deadline):
    """Sends REQ on every (connecting or connected) non-blocking socket and reads one response each.
    Returns {sock: Resp or error string}."""
    sel = selectors.DefaultSelector()
    result = {}
    for s in socks:
        sel.register(s, selectors.EVENT_WRITE, Resp())
    left = len(socks)
    while left and time.time() < deadline:
        for key, ev in sel.select(timeout=0.5):
            s, r = key.fileobj, key.data
            try:
                if ev & selectors.EVENT_WRITE:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, "connect: " + errno.errorcode.get(err, str(err)))
                    s.sendall(REQ)  # 60 bytes into an empty send buffer: never partial
                    sel.modify(s, selectors.EVENT_READ, r)
                    continue
                data = s.recv(65536)
                if not data:
                    raise OSError(0, "closed by the gateway before a full response")
                if not r.feed(data):
                    continue
                result[s] = r
            except BlockingIOError:
                continue
            except OSError as e:
                result[s] = "%s" % (e.strerror or e)
            sel.unregister(s)
            left -= 1
    for s in socks:
        if s not in result:
            result[s] = "no response within the time limit"
    sel.close()
    return result


# warm-up: the first requests allocate the worker's buffers and the origin pool, which do not grow with N
warm = []
try:
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        warm.append(s)
        s.sendall(REQ)
        r = Resp()
        while not r.feed(s.recv(65536) or sys.exit("hold-conns: warm-up: the gateway closed a connection "
                                                    "before a full response")):
            pass
        if r.status != 200:
            sys.exit("hold-conns: warm-up: the gateway answered %d, not 200" % r.status)
except OSError as e:
    sys.exit("hold-conns: warm-up request to 127.0.0.1:%d failed: %s" % (PORT, e))
for s in warm:
    s.close()
time.sleep(1.0)
before = mem()
base_conns = metric("waitroom_gateway_connections")

held, errors = [], {}
t0 = time.time()
deadline = t0 + OPEN_DEADLINE_S
while len(held) < N and time.time() < deadline:
    batch = []
    for _ in range(min(BATCH, N - len(held))):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", PORT))
        batch.append(s)
    for s, r in exchange(batch, deadline).items():
        if isinstance(r, Resp) and r.status == 200 and not r.close:
            held.append(s)
        else:
            why = r if isinstance(r, str) else ("status %d" % r.status if r.status != 200 else
                                                 "200 with Connection: close")
            errors[why] = errors.get(why, 0) + 1
            s.close()
    if errors and sum(errors.values()) > max(100, N // 10):
        break  # the gateway is refusing; no point hammering it for the rest of the deadline
opened_s = time.time() - t0

# all idle now; give the gateway a moment to finish its own bookkeeping, then check none was closed
time.sleep(2.0)
sel = selectors.DefaultSelector()
for s in held:
    sel.register(s, selectors.EVENT_READ)
dropped = {key.fileobj for key, _ in sel.select(timeout=0)}
sel.close()
after = mem()
peak = metric("waitroom_gateway_connections")

n_held = len(held) - len(dropped)
print("connections requested:       %d%s, opened %d at a time" % (
    N, "" if REQUESTED == N else " (lowered from %d to fit this machine's limits, see above)" % REQUESTED, BATCH))
print("connections held:            %d (each answered 200 once, then idle; opened in %.1f s)" % (n_held, opened_s))
if errors:
    print("connections that failed:     %d: %s" % (sum(errors.values()),
          "; ".join("%d x %s" % (c, w) for w, c in sorted(errors.items(), key=lambda x: -x[1]))))
if dropped:
    print("held but then closed by the gateway while idle: %d" % len(dropped))
print("waitroom_gateway_connections: %s before, %s at peak" % (base_conns, peak))
print("gateway VmRSS before / after: %7d KiB / %7d KiB  (+%d KiB)"
      % (before["VmRSS"], after["VmRSS"], after["VmRSS"] - before["VmRSS"]))
per_rss = (after["VmRSS"] - before["VmRSS"]) * 1024 / max(n_held, 1)
per_pss = None
if "Pss" in before and "Pss" in after:
    print("gateway Pss   before / after: %7d KiB / %7d KiB  (+%d KiB)"
          % (before["Pss"], after["Pss"], after["Pss"] - before["Pss"]))
    per_pss = (after["Pss"] - before["Pss"]) * 1024 / max(n_held, 1)
print("memory per idle connection:  %.0f bytes (VmRSS)%s"
      % (per_rss, "" if per_pss is None else ", %.0f bytes (Pss)" % per_pss))

# a sample of the held connections, spread over all of them, answers a second request
sample = [s for s in held[:: max(1, len(held) // SAMPLE)] if s not in dropped][:SAMPLE]
res = exchange(sample, time.time() + 15)
good = sum(1 for r in res.values() if isinstance(r, Resp) and r.status == 200)
print("sample of held connections answering a 2nd request with 200: %d/%d" % (good, len(sample)))
bad = {}
for r in res.values():
    if not (isinstance(r, Resp) and r.status == 200):
        w = r if isinstance(r, str) else "status %d" % r.status
        bad[w] = bad.get(w, 0) + 1
if bad:
    print("  failures: " + "; ".join("%d x %s" % (c, w) for w, c in bad.items()))

for s in held:
    s.close()
# the gateway notices the closes; its gauge falls back
for _ in range(50):
    time.sleep(0.1)
    after_close = metric("waitroom_gateway_connections")
    if not isinstance(after_close, int) or after_close <= 5:
        break
print("waitroom_gateway_connections after closing them: %s" % after_close)

ok_mem = n_held > 0 and per_rss <= 4096 and (per_pss is None or per_pss <= 4096)
ok_n = n_held >= 10000
print()
print("target <= 4 KiB (4096 bytes) per idle keep-alive connection: %s (%.0f bytes RSS%s)"
      % ("PASS" if ok_mem else "FAIL", per_rss, "" if per_pss is None else ", %.0f Pss" % per_pss))
if N < 10000 and n_held >= N:
    print("target 10,000 concurrent connections held:                   NOT MEASURED (only %d held: %s)"
          % (N, "this machine's limits allow no more, see above" if REQUESTED > N else "BENCH_CONNS=%d" % N))
else:
    print("target 10,000 concurrent connections held:                   %s (%d held)"
          % ("PASS" if ok_n else "FAIL", n_held))
sys.exit(0 if ok_mem and (ok_n or N < 10000) and n_held >= N and good == len(sample) else 1)
