#!/usr/bin/env python3
"""floor.py: the machine's floor for one write, measured in the benchmark's window.

  floor.py fsync DIR [COUNT]   append 128 B to a file in DIR, os.fdatasync, COUNT times
  floor.py rtt [COUNT]         a 1-byte TCP ping-pong on 127.0.0.1 (TCP_NODELAY), COUNT times

Prints one line: `<what> n=<count> p50_us=<..> p99_us=<..>`.
"""
import os
import socket
import sys
import threading
import time


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def fsync(d, count):
    path = os.path.join(d, "floor.fsync")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    buf = b"x" * 128
    lat = []
    try:
        for _ in range(count):
            t = time.perf_counter_ns()
            os.write(fd, buf)
            os.fdatasync(fd)
            lat.append((time.perf_counter_ns() - t) / 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    return lat


def rtt(count):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def echo():
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with c:
            for _ in range(count + 100):
                b = c.recv(1)
                if not b:
                    return
                c.sendall(b)

    th = threading.Thread(target=echo, daemon=True)
    th.start()
    cl = socket.create_connection(("127.0.0.1", port), timeout=10)
    cl.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    for i in range(count + 100):
        t = time.perf_counter_ns()
        cl.sendall(b"p")
        if cl.recv(1) != b"p":
            raise SystemExit("rtt: short read")
        if i >= 100:  # warm-up
            lat.append((time.perf_counter_ns() - t) / 1000)
    cl.close()
    th.join(5)
    srv.close()
    return lat


def main():
    what = sys.argv[1]
    if what == "fsync":
        count = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
        lat = fsync(sys.argv[2], count)
    elif what == "rtt":
        count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
        lat = rtt(count)
    else:
        raise SystemExit(__doc__)
    print(f"{what} n={len(lat)} p50_us={pct(lat, 50):.1f} p99_us={pct(lat, 99):.1f}")


main()
