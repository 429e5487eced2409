"""watch.py: watch and pub/sub against a running cluster (issue 14), with real clients:
redis-py's pubsub() and HTTP streams read line by line.

  watch.py keyspace RESP_PORTS...        psubscribe to keyspace events on every node; writes
                                         through one node reach each subscriber, in order
  watch.py check LEADER_HTTP HTTP_PORTS... RESP_PORT
                                         a watch stream, resumed on another node after a
                                         disconnect and kept across a leader change, equals
                                         the applied history (a catch-up from revision 1 on
                                         a third node): order, completeness, no duplicate
  watch.py slow RESP_PORT HTTP_PORT PID  a subscriber and an HTTP watcher that never read
                                         are cut off; the node's RSS stays bounded

Every wait is bounded in time; any failure raises (exit status 1)."""
import json
import os
import socket
import sys
import threading
import time

import redis

DEADLINE_S = float(os.environ.get("WATCH_DEADLINE_S", "60"))


def r_client(port):
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=20)


# ---------------------------------------------------------------------------------
# Keyspace notifications across nodes


def keyspace(ports):
    subs = []
    for p in ports:
        ps = r_client(p).pubsub()
        ps.psubscribe("__keyspace@0__:ks/*")
        ps.subscribe("__keyevent@0__:del")
        subs.append(ps)
    writer = r_client(ports[0])
    writer.config_set("notify-keyspace-events", "KEA")  # accepted; always on
    want = []
    for i in range(20):
        key = "ks/%d" % (i % 5)
        if i >= 5 and i % 4 == 3:  # every key exists by then: each DEL deletes
            writer.delete(key)
            want.append((key, "del"))
        else:
            writer.set(key, str(i))
            want.append((key, "set"))
    # A key that expires: the leader's reaper deletes it through the log, and that
    # deletion notifies like any other (as "del": expiry is not told apart).
    writer.set("ks/ttl", "1", px=300)
    want += [("ks/ttl", "set"), ("ks/ttl", "del")]
    for n, ps in enumerate(subs):
        got, dels = [], 0
        end = time.time() + 20
        want_dels = sum(1 for w in want if w[1] == "del")
        while time.time() < end and (len(got) < len(want) or dels < want_dels):
            m = ps.get_message(timeout=0.5)
            if m is None or m["type"] not in ("pmessage", "message"):
                continue
            if m["type"] == "message":
                dels += 1
                continue
            key = m["channel"].decode().split(":", 1)[1]
            got.append((key, m["data"].decode()))
        assert got == want, "node %d: got %r, want %r" % (n, got, want)
        assert dels == want_dels, "node %d: %d __keyevent@0__:del messages" % (n, dels)
        ps.close()
    print("keyspace: %d events on each of %d nodes, in order" % (len(want), len(ports)))


# ---------------------------------------------------------------------------------
# An HTTP watch stream


class Stream:
    """GET /v1/watch as JSON lines over a raw socket (chunked decoding by hand)."""

    def __init__(self, port, query):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.sendall(b"GET /v1/watch?%s HTTP/1.1\r\nHost: x\r\n\r\n" % query.encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"chunked" in head.lower(), head
        first = self.line(10)
        assert first is not None and first.get("watching") is True, first
        self.start = first["start_revision"]

    def _until(self, sep):
        while sep not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("stream closed")
            self.buf += data
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def line(self, timeout):
        """The next JSON line, or None after `timeout` seconds without one."""
        self.s.settimeout(timeout)
        try:
            size = int(self._until(b"\r\n"), 16)
            if size == 0:
                return None
            while len(self.buf) < size + 2:
                data = self.s.recv(65536)
                if not data:
                    raise EOFError("stream closed")
                self.buf += data
            chunk, self.buf = self.buf[:size], self.buf[size + 2:]
            return json.loads(chunk)
        except socket.timeout:
            return None

    def close(self):
        self.s.close()


def writer(port, ops, done, n):
    r = r_client(port)
    for i in range(n):
        key = "w/%d" % (i % 7)
        for attempt in range(200):
            try:
                if i % 5 == 4:
                    r.delete(key)
                    ops.append(("delete", key, ""))
                else:
                    r.set(key, "v%d" % i)
                    ops.append(("put", key, "v%d" % i))
                break
            except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError):
                time.sleep(0.05)  # a leader change under way: ambiguous, retried
        else:
            raise AssertionError("write %d never succeeded" % i)
    r.set("w/end", "end")  # the sentinel: once the stream shows it, it has everything
    ops.append(("put", "w/end", "end"))
    done.set()


def events_of(line):
    return [(line["revision"], e["type"], e["key"], e["value"], e["create_revision"],
             e["mod_revision"], e["version"]) for e in line["events"]]


def read_until(stream, seen, stop, timeout):
    """Appends events until stop(seen) holds; False on timeout."""
    end = time.time() + timeout
    while time.time() < end:
        if stop(seen):
            return True
        line = stream.line(0.5)
        if line is None:
            continue
        assert "canceled" not in line, line
        seen.extend(events_of(line))
    return stop(seen)


def step_down(http_ports, leader_port):
    import urllib.request
    req = urllib.request.Request("http://127.0.0.1:%d/v1/admin/step-down" % leader_port,
                                 method="POST", data=b"")
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except Exception as e:  # 202 is success; anything else is reported
        if getattr(e, "code", None) not in (202,):
            raise


def check(leader_http, http_ports, resp_port):
    n = 240
    ops, done = [], threading.Event()
    t = threading.Thread(target=writer, args=(resp_port, ops, done, n), daemon=True)
    seen = []
    a, b, c = http_ports[0], http_ports[1], http_ports[2]
    s = Stream(a, "prefix=w/")  # from the next revision on
    start = s.start
    t.start()
    assert read_until(s, seen, lambda x: len(x) >= n // 3, DEADLINE_S), "stalled on n%d" % a
    s.close()  # a disconnect: resume on another node from the last revision + 1
    resume = seen[-1][0] + 1
    s = Stream(b, "prefix=w/&rev=%d" % resume)
    assert read_until(s, seen, lambda x: len(x) >= 2 * n // 3, DEADLINE_S), "stalled after resume"
    step_down(http_ports, leader_http)  # a leader change under the stream
    assert done.wait(DEADLINE_S), "the writer did not finish"
    assert read_until(s, seen, lambda x: x and x[-1][2] == "w/end", DEADLINE_S), \
        "stream has %d events, %d writes acknowledged" % (len(seen), len(ops))
    s.close()
    # The applied history, from another node's retained history.
    final = seen[-1][0]
    h = Stream(c, "prefix=w/&rev=%d" % start)
    hist = []
    assert read_until(h, hist, lambda x: x and x[-1][0] >= final, DEADLINE_S), "catch-up stalled"
    h.close()
    revs = [(e[0], e[2]) for e in seen]
    assert len(set(revs)) == len(revs), "duplicate events"
    assert all(seen[i][0] <= seen[i + 1][0] for i in range(len(seen) - 1)), "out of order"
    assert seen == hist, "stream differs from the history:\n%r\n%r" % (seen[:5], hist[:5])
    # Every acknowledged write is there, in the order written (a retried one may be twice).
    it = iter([(e[1], e[2], e[3]) for e in seen])
    for op in ops:
        if op[0] == "delete":
            continue  # a DEL of an absent key makes no event
        assert any(x == op for x in it), "acknowledged write %r missing or out of order" % (op,)
    print("check: %d events, %d writes, resumed at %d, equal to the history on n%d" %
          (len(seen), len(ops), resume, c))


# ---------------------------------------------------------------------------------
# Slow consumers


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def metric(http_port, name):
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=10).read()
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError("no series " + name)


def slow(resp_port, http_port, pid):
    # A subscriber that never reads.
    sub = socket.create_connection(("127.0.0.1", resp_port), timeout=5)
    sub.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nslow\r\n")
    # An HTTP watcher that never reads.
    w = socket.create_connection(("127.0.0.1", http_port), timeout=5)
    w.sendall(b"GET /v1/watch?prefix=slow/ HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    r = r_client(resp_port)
    before = rss_kb(pid)
    msg = b"x" * 65536
    published = 0
    for i in range(1500):  # 96 MiB published to a client that reads nothing
        r.publish("slow", msg)
        published += len(msg)
    p = r.pipeline(transaction=False)
    for i in range(300):  # 19 MiB of events for a watcher that reads nothing
        p.set("slow/k", msg)
        if i % 50 == 49:
            p.execute()
    p.execute()
    after = rss_kb(pid)
    canceled = metric(http_port, "concord_watchers_canceled_slow_total")
    assert canceled >= 2, "concord_watchers_canceled_slow_total is %d" % canceled
    grown_mb = (after - before) / 1024
    limit_mb = int(os.environ.get("RSS_GROWTH_LIMIT_MB", "48"))
    assert grown_mb < limit_mb, "RSS grew by %.1f MiB (limit %d)" % (grown_mb, limit_mb)
    # The watcher's stream ends with its reason; the subscriber was disconnected.
    w.settimeout(10)
    data = b""
    end = time.time() + 20
    while time.time() < end and not data.endswith(b"0\r\n\r\n"):
        chunk = w.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    assert b'"canceled":true' in data and b"slow watcher" in data, data[-300:]
    sub.settimeout(10)
    closed = False
    end = time.time() + 20
    while time.time() < end:
        try:
            if not sub.recv(1 << 20):
                closed = True
                break
        except ConnectionResetError:
            closed = True
            break
    assert closed, "the slow subscriber was not disconnected"
    print("slow: %d MiB published and 19 MiB of events to non-readers, RSS grew %.1f MiB, "
          "%d canceled" % (published >> 20, grown_mb, canceled))


def main():
    what = sys.argv[1]
    if what == "keyspace":
        keyspace([int(p) for p in sys.argv[2:]])
    elif what == "check":
        check(int(sys.argv[2]), [int(p) for p in sys.argv[3:6]], int(sys.argv[6]))
    elif what == "slow":
        slow(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit("usage: see the docstring")


if __name__ == "__main__":
    main()
