#!/usr/bin/env python3
# abuse.py: opens 64 abusive connections of each kind against a real node and checks that its memory stays bounded, the cluster keeps serving, relays still get in and the limit counters move.
#
# Usage: abuse.py RSS_BOUND_MIB TARGET... CALM where each TARGET is pid:resp_port:http_port of
# a node to abuse (the leader first), and the last argument is resp_port of a node left alone (its writes
# are relayed to the leader through the reserve). Prints figures; exits 1 on a failure.
import re
import socket
import sys
import time

PER_KIND = 64
BIG = 65536  # the test's --max-value-bytes
failures = []


def fail(msg):
    print("FAIL: " + msg, flush=True)
    failures.append(msg)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    return s


def send_some(s, data):
    """Sends what the socket takes now; the rest is dropped (the peer stopped reading)."""
    try:
        return s.send(data)
    except (BlockingIOError, OSError):
        return 0


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Client:
    """A well-behaved RESP client on one persistent connection."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def call(self, *args):
        """Retries (bounded) while the cluster has no leader: abuse may cost one."""
        for _ in range(100):
            r = self.call_once(*args)
            if not (isinstance(r, bytes) and r.startswith(b"-CLUSTERDOWN")):
                return r
            time.sleep(0.2)
        return r

    def call_once(self, *args):
        self.s.sendall(resp(*args))
        l = self.line()
        if l.startswith(b"$") and int(l[1:]) >= 0:
            n = int(l[1:])
            while len(self.buf) < n + 2:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        return l


def http_get(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path.encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def metrics(port):
    try:
        text = http_get(port, "/metrics").decode(errors="replace")
    except OSError:
        return {}
    out = {}
    for m in re.finditer(r"^(concord_(?:resp|http)_\w+) (\d+)$", text, re.M):
        out[m.group(1)] = int(m.group(2))
    return out


def open_kinds(resp_port, http_port):
    conns = {k: [] for k in "abcdf"}
    for _ in range(PER_KIND):
        # (a) an unfinished SET announcing a 100 MB value, then bytes trickling in.
        s = connect(resp_port)
        send_some(s, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n" + b"x" * 200000)
        conns["a"].append(s)
        # (b) an MGET past the output limit, then GETs of a large value, never read.
        s = connect(resp_port)
        send_some(s, resp("MGET", *(["big0"] * 20)) + resp("GET", "big0") * 64)
        conns["b"].append(s)
        # (c) prefix listings of large values, pipelined, never read.
        s = connect(http_port)
        req = b"GET /v1/kv?prefix=big&limit=1000&serializable=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        send_some(s, req * 8)
        conns["c"].append(s)
        # (d) a PUT whose body never finishes.
        s = connect(http_port)
        send_some(s, b"PUT /v1/kv/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Length: 200000\r\n\r\n" + b"y" * 1000)
        conns["d"].append(s)
        # (f) slowloris: a head that never ends.
        s = connect(http_port)
        send_some(s, b"GET /v1/kv/a HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        conns["f"].append(s)
    return conns


def trickle(conns):
    for s in conns["a"]:
        send_some(s, b"x" * 100)
    for s in conns["d"]:
        send_some(s, b"y")
    for s in conns["f"]:
        send_some(s, b"X-Slow: 1\r\n")


def open_idle(port, count):
    idle = []
    for _ in range(count):
        try:
            idle.append(connect(port))
        except OSError:
            break
    return idle


def main():
    bound_kib = int(sys.argv[1]) * 1024
    targets = [tuple(int(x) for x in t.split(":")) for t in sys.argv[2:-1]]
    calm_port = int(sys.argv[-1])
    first_resp = targets[0][1]
    setup = Client(first_resp)
    for i in range(12):
        setup.call("SET", "big%d" % i, b"v" * BIG)
    normal = {t[1]: Client(t[1]) for t in targets}  # opened before the flood
    before = {t[0]: metrics(t[2]) for t in targets}
    base = {t[0]: rss_kib(t[0]) for t in targets}
    keep = []
    for pid, rport, hport in targets:
        conns = open_kinds(rport, hport)
        # (e) idle sockets past --max-clients and its reserve, on both ports.
        conns["e"] = open_idle(rport, PER_KIND + 80) + open_idle(hport, PER_KIND + 80)
        keep.append(conns)
    peak = dict(base)
    t_end = time.monotonic() + 6
    rounds = 0
    while time.monotonic() < t_end and rounds < 100:
        rounds += 1
        for conns in keep:
            trickle(conns)
        for pid, rport, _ in targets:
            peak[pid] = max(peak[pid], rss_kib(pid))
            v = b"w%d" % rounds
            try:
                r = normal[rport].call("SET", "normal", v)
                if r != b"+OK":  # a retryable refusal (a stalled disk steps down)
                    print(f"node {pid}: SET answered {r!r}; next round", flush=True)
                    continue
                got = normal[rport].call("GET", "normal")
                if got != v:
                    fail(f"node {pid}: GET normal gave {got!r} after SET {v!r}")
            except (OSError, ConnectionError) as e:
                fail(f"node {pid}: the normal client failed under abuse: {e}")
                return
        time.sleep(0.2)
    # A write through the calm node is relayed to the leader, past --max-clients.
    # Idle sockets hold the reserve until --client-read-timeout: retry, bounded.
    calm = Client(calm_port)
    r = calm.call("SET", "relayed", "yes")
    for _ in range(40):
        if r == b"+OK":
            break
        time.sleep(0.5)
        r = calm.call("SET", "relayed", "yes")
    if r != b"+OK":
        fail(f"a write relayed to the flooded leader answered {r!r}")
    for pid, _, _ in targets:
        print(f"node {pid}: VmRSS {base[pid]} KiB before, peak {peak[pid]} KiB under "
              f"{6 * PER_KIND * 2} abusive connections (bound {bound_kib} KiB)", flush=True)
        if peak[pid] > bound_kib:
            fail(f"node {pid}: VmRSS peaked at {peak[pid]} KiB, past {bound_kib} KiB")
    return keep, before, targets


def check_counters(keep, before, targets):
    # Wait (bounded) for the read and idle timeouts to close the stalled connections.
    names = ["rejected_total", "timed_out_total", "overflows_total", "errors_total"]
    deadline = time.monotonic() + 40
    while True:
        ok = True
        for pid, rport, hport in targets:
            after = metrics(hport)
            for proto in ("resp", "http"):
                for n in names:
                    if proto == "http" and n == "errors_total":
                        continue
                    # A follower relays GETs to the leader and stops relaying while
                    # the client's output is past the soft limit: the leader's
                    # output limit is the one that closes.
                    if proto == "resp" and n == "overflows_total" and pid != targets[0][0]:
                        continue
                    key = f"concord_{proto}_{n}"
                    if after.get(key, 0) <= before[pid].get(key, 0):
                        ok = False
                        last = (pid, key, before[pid].get(key, 0), after.get(key, 0))
        if ok or time.monotonic() > deadline:
            break
        for conns in keep:
            trickle(conns)
        time.sleep(1)
    if not ok:
        fail("counter %s of node %d did not move (%d -> %d)" % (last[1], last[0], last[2], last[3]))
    for pid, _, hport in targets:
        after = metrics(hport)
        print(f"node {pid}: " + ", ".join(
            f"{k[8:]} +{after.get(k, 0) - before[pid].get(k, 0)}"
            for k in sorted(after) if k.endswith("_total") and after.get(k, 0) != before[pid].get(k, 0)),
            flush=True)


if __name__ == "__main__":
    res = main()
    if res is not None:
        check_counters(*res)
    sys.exit(1 if failures else 0)
