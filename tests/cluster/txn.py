"""txn.py: MULTI/EXEC through redis-py (issue 14): pipeline(transaction=True), and the
optimistic WATCH/MULTI/EXEC increment from two clients at once, whose final count must
be exact. Usage: txn.py PORT PREFIX."""
import sys
import threading

import redis

port, prefix = int(sys.argv[1]), sys.argv[2]
ROUNDS = 50


def client():
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)


def basic():
    r = client()
    p = r.pipeline(transaction=True)
    p.set(prefix + "a", "1").incrby(prefix + "a", 41).get(prefix + "a").append(prefix + "b", "xy")
    p.mget(prefix + "a", prefix + "b", prefix + "none").exists(prefix + "a").strlen(prefix + "b")
    got = p.execute()
    want = [True, 42, b"42", 2, [b"42", b"xy", None], 1, 2]
    assert got == want, got
    # A refused command inside MULTI: nothing runs, EXEC answers EXECABORT.
    p = r.pipeline(transaction=True)
    p.set(prefix + "c", "1").execute_command("KEYS", "*")
    try:
        p.execute()
        raise AssertionError("EXEC of a transaction with a refused command succeeded")
    except redis.ResponseError as e:
        assert "EXECABORT" in str(e) or "MULTI" in str(e), e
    assert r.get(prefix + "c") is None, "a command of an aborted transaction ran"


def worker(key, counts, idx):
    r = client()
    done = retries = 0
    with r.pipeline() as p:
        while done < ROUNDS:
            assert retries < 20 * ROUNDS, "too many retries"
            try:
                p.watch(key)
                n = int(p.get(key) or 0)
                p.multi()
                p.set(key, n + 1)
                p.execute()
                done += 1
            except redis.WatchError:
                retries += 1
            finally:
                p.reset()
    counts[idx] = retries


def optimistic():
    key = prefix + "n"
    client().delete(key)
    counts = [0, 0]
    ts = [threading.Thread(target=worker, args=(key, counts, i)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    final = int(client().get(key))
    assert final == 2 * ROUNDS, (final, counts)
    print("optimistic increments: %d, retries %s" % (final, counts))


basic()
optimistic()
print("ok")
