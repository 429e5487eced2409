"""expiry.py: key expiry through redis-py on a 3-node cluster (issue 14): SET NX PX locks
that expire and can be taken again, TTL/PTTL replies, the EXPIRE family, GETEX, GETDEL,
GETSET, SET GET, MULTI with expiry, every node deleting an expired key at the same
revision. Usage: expiry.py LEADER_PORT "CLIENT_PORTS" "HTTP_PORTS" PREFIX."""
import json
import sys
import time
import urllib.error
import urllib.request

import redis

leader_port = int(sys.argv[1])
ports = [int(p) for p in sys.argv[2].split()]
https = [int(p) for p in sys.argv[3].split()]
prefix = sys.argv[4]


def client(port=leader_port):
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)


def until(what, fn, limit=10.0):
    """Polls fn() until it is true, at most `limit` seconds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if fn():
            return time.monotonic() - t0
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def lock():
    r, other = client(), client(ports[-1])
    k = prefix + "lock"
    assert r.set(k, "a", nx=True, px=500) is True
    assert other.set(k, "b", nx=True, px=500) is None, "a held lock was taken"
    pttl = r.pttl(k)
    assert 0 < pttl <= 500, pttl
    assert r.ttl(k) in (0, 1), r.ttl(k)
    t0 = time.monotonic()
    waited = until("the lock to expire", lambda: r.get(k) is None, 5.0)
    assert time.monotonic() - t0 + 0.05 >= pttl / 1000.0 - 0.05, "expired early"
    assert r.exists(k) == 0 and r.ttl(k) == -2 and r.pttl(k) == -2
    assert other.set(k, "b", nx=True, px=500) is True, "an expired lock was not re-acquirable"
    assert r.get(k) == b"b"
    return waited


def ttl_replies():
    r = client()
    k = prefix + "t"
    assert r.ttl(k) == -2 and r.pttl(k) == -2
    assert r.set(k, "v") and r.ttl(k) == -1 and r.pttl(k) == -1
    assert r.expire(k, 100) is True
    assert r.ttl(k) in (99, 100), r.ttl(k)
    assert 99000 < r.pttl(k) <= 100000, r.pttl(k)
    assert r.persist(k) is True and r.ttl(k) == -1 and r.persist(k) is False
    assert r.expire(prefix + "none", 10) is False
    # NX / XX / GT / LT (Redis 7).
    assert r.expire(k, 50, xx=True) is False
    assert r.expire(k, 50, nx=True) is True
    assert r.expire(k, 60, nx=True) is False
    assert r.expire(k, 40, gt=True) is False and r.expire(k, 70, gt=True) is True
    assert r.expire(k, 80, lt=True) is False and r.expire(k, 30, lt=True) is True
    assert r.ttl(k) in (29, 30)
    assert r.pexpire(k, 5000) and 4000 < r.pttl(k) <= 5000
    now = time.time()
    assert r.expireat(k, int(now) + 200) and 190 <= r.ttl(k) <= 201
    assert r.pexpireat(k, int(now * 1000) + 300000) and 290 <= r.ttl(k) <= 301
    # Writes: SET clears the TTL, KEEPTTL and INCR/APPEND keep it.
    assert r.set(k, "w", keepttl=True) and r.ttl(k) > 0
    n = prefix + "n"
    assert r.set(n, 5, ex=100) and r.incr(n) == 6 and r.ttl(n) > 0
    assert r.append(n, "0") == 2 and r.ttl(n) > 0
    assert r.set(n, 1) and r.ttl(n) == -1
    assert r.setex(n, 10, "x") and r.ttl(n) in (9, 10)
    assert r.psetex(n, 1500, "y") and 1000 < r.pttl(n) <= 1500
    assert r.set(n, "z", exat=int(now) + 50) and 40 <= r.ttl(n) <= 51
    assert r.set(n, "z", pxat=int(now * 1000) + 60000) and 50 <= r.ttl(n) <= 61
    # A deadline already passed deletes the key at once.
    assert r.expire(n, -1) is True and r.exists(n) == 0
    r.set(n, "q")
    assert r.expireat(n, 1) is True and r.get(n) is None
    for bad in (["SET", n, "v", "EX", "0"], ["SET", n, "v", "PX", "-5"],
                ["SETEX", n, "0", "v"], ["SET", n, "v", "EX", "1", "PX", "1"],
                ["SET", n, "v", "KEEPTTL", "EX", "1"], ["EXPIRE", n, "x"],
                ["EXPIRE", n, "1", "NX", "XX"], ["EXPIRE", n, "1", "GT", "LT"],
                ["SET", n, "v", "EX", "9999999999999999"]):
        try:
            r.execute_command(*bad)
            raise AssertionError("accepted: %r" % (bad,))
        except redis.ResponseError:
            pass


def old_value():
    r = client()
    k = prefix + "g"
    assert r.getset(k, "1") is None and r.getset(k, "2") == b"1"
    assert r.set(k, "3", get=True) == b"2" and r.get(k) == b"3"
    assert r.set(k, "4", nx=True, get=True) == b"3" and r.get(k) == b"3"
    assert r.getex(k, ex=100) == b"3" and r.ttl(k) in (99, 100)
    assert r.getex(k, persist=True) == b"3" and r.ttl(k) == -1
    assert r.getex(k, px=3000) == b"3" and 0 < r.pttl(k) <= 3000
    assert r.getex(k) == b"3"
    assert r.getdel(k) == b"3" and r.get(k) is None and r.getdel(k) is None
    assert r.getex(prefix + "none", ex=5) is None


def multi():
    r = client()
    a, b = prefix + "ma", prefix + "mb"
    p = r.pipeline(transaction=True)
    p.set(a, "1", ex=100).setex(b, 50, "2").expire(a, 200).persist(b).pexpire(b, 7000)
    p.get(a).incr(a).expire(prefix + "none", 5)
    got = p.execute()
    assert got == [True, True, True, True, True, b"1", 2, False], got
    assert r.ttl(a) in (199, 200) and 6 <= r.ttl(b) <= 7
    # An EXPIRE in the past inside MULTI deletes, and later commands see it gone.
    p = r.pipeline(transaction=True)
    p.expire(a, 0).get(a).set(a, "x").get(a)
    got = p.execute()
    assert got == [True, None, True, b"x"], got
    assert r.ttl(a) == -1
    # EXPIRE then SET KEEPTTL in one transaction: the new deadline stays.
    p = r.pipeline(transaction=True)
    p.expire(a, 300).set(a, "y", keepttl=True)
    assert p.execute() == [True, True]
    assert r.ttl(a) in (299, 300) and r.get(a) == b"y"
    # SET ... GET is a transaction itself: refused inside MULTI, nothing runs.
    p = r.pipeline(transaction=True)
    p.set(b, "1").set(a, "z", get=True)
    try:
        p.execute()
        raise AssertionError("SET GET inside MULTI was accepted")
    except redis.ResponseError as e:
        assert "EXECABORT" in str(e) or "GET" in str(e), e
    assert r.get(a) == b"y"


def http_get(port, key, rev=0):
    url = "http://127.0.0.1:%d/v1/kv/%s?serializable=1%s" % (port, key, "&rev=%d" % rev if rev else "")
    try:
        with urllib.request.urlopen(url, timeout=10) as f:
            return json.loads(f.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def same_revision():
    """A key expires: every node answers absent, and every node's history shows the
    deletion at the same revision."""
    r = client()
    k = prefix + "e"
    assert r.set(k, "v", px=300)
    created = r.execute_command("CONCORD.GET", k)
    until("the key to expire on the leader", lambda: r.get(k) is None, 5.0)
    for p in ports:
        assert client(p).get(k) is None, "node on port %d still has the key" % p
    # Every node's own state (serializable HTTP reads): absent, deleted at one revision.
    def deleted_at(h):
        cur = http_get(h, k)
        if "error" not in cur:
            return None
        rev = cur["revision"]
        for at in range(rev, 0, -1):
            got = http_get(h, k, at)
            if "error" not in got or "compact" in json.dumps(got):
                return at + 1
        return None
    revs = {}
    until("every node to apply the deletion",
          lambda: all(deleted_at(h) is not None for h in https), 10.0)
    for h in https:
        revs[h] = deleted_at(h)
    assert len(set(revs.values())) == 1, revs
    return created, revs


def main():
    waited = lock()
    ttl_replies()
    old_value()
    multi()
    created, revs = same_revision()
    print("lock expired after %.2fs; deleted at revision %s on every node (%s)"
          % (waited, list(revs.values())[0], created))


main()
