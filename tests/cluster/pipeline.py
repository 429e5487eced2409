#!/usr/bin/env python3
"""pipeline.py: a RESP pipeline reads its own writes (issue 12), every round.

Usage: pipeline.py raw|redis PORT TAG [ROUNDS]. Each round sends, in one write on one
connection, SET k v, GET k, DEL k, EXISTS k, INCR n, GET n, SET k v, EXISTS k, and
checks every reply: raw builds the bytes itself (standard library only), redis uses a
redis-py pipeline (transaction=False: plain pipelining, no MULTI). Exits 1 on the first
wrong reply, 77 if redis-py is missing.
"""
import socket
import sys


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def raw(port, tag, rounds):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    k, n = b"%s:k" % tag, b"%s:n" % tag
    pending = b""
    for i in range(rounds):
        v = b"v%d" % i
        req = (command(b"SET", k, v) + command(b"GET", k) + command(b"DEL", k) +
               command(b"EXISTS", k) + command(b"INCR", n) + command(b"GET", n) +
               command(b"SET", k, v) + command(b"EXISTS", k))
        c = b"%d" % (i + 1)
        want = (b"+OK\r\n$%d\r\n%s\r\n:1\r\n:0\r\n:%s\r\n$%d\r\n%s\r\n+OK\r\n:1\r\n" %
                (len(v), v, c, len(c), c))
        s.sendall(req)
        while len(pending) < len(want) and want.startswith(pending):
            try:
                data = s.recv(65536)
            except socket.timeout:
                data = b""
            if not data:
                sys.exit("FAIL raw round %d: no more replies after %r" % (i, pending))
            pending += data
        got, pending = pending[:len(want)], pending[len(want):]
        if got != want:
            sys.exit("FAIL raw round %d: got %r, want %r" % (i, got, want))
    s.close()


def with_redis(port, tag, rounds):
    try:
        import redis
    except ImportError:
        print("redis-py missing")
        sys.exit(77)
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=20)
    k, n = "%s:k" % tag, "%s:n" % tag
    for i in range(rounds):
        v = b"v%d" % i
        p = r.pipeline(transaction=False)
        p.set(k, v).get(k).delete(k).exists(k).incr(n).get(n).set(k, v).exists(k)
        got = p.execute()
        want = [True, v, 1, 0, i + 1, b"%d" % (i + 1), True, 1]
        if got != want:
            sys.exit("FAIL redis round %d: got %r, want %r" % (i, got, want))


def main():
    mode, port, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    if mode == "raw":
        raw(port, tag, rounds)
    else:
        with_redis(port, tag.decode(), rounds)
    print("ok: %s on port %d, %d rounds" % (mode, port, rounds))


main()
