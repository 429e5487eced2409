#!/usr/bin/env python3
"""damage.py: damages one stopped node's data directory, seeded: bit flips in one kind of
its files (WAL segments, meta or snapshots, drawn once per call) and a truncation of a WAL
segment or a snapshot. Prints what it did, one
line per change ("flip FILE OFFSET BIT" or "cut FILE LENGTH"), for the sweep's log.

usage: damage.py DATA_DIR SEED FLIPS CUTS
"""
import os
import random
import sys


def files(data_dir):
    """(path, kind, bytes worth damaging) for every file of the directory's state."""
    out = []
    meta = os.path.join(data_dir, "meta")
    if os.path.isfile(meta):
        out.append((meta, "meta", os.path.getsize(meta)))
    for sub, kind in (("wal", "wal"), ("snap", "snap")):
        d = os.path.join(data_dir, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if not os.path.isfile(p) or name.endswith(".tmp"):
                continue
            size = os.path.getsize(p)
            if kind == "wal":
                size = written(p, size)
            if size > 0:
                out.append((p, kind, size))
    return out


def written(path, size):
    """A preallocated segment's bytes up to its last non-zero one (the records)."""
    with open(path, "rb") as f:
        data = f.read(size)
    end = len(data.rstrip(b"\0"))
    return end


def pick(rng, fs, weights):
    kinds = [k for k in weights if any(f[1] == k for f in fs)]
    kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
    return rng.choice([f for f in fs if f[1] == kind])


def main():
    data_dir, seed, flips, cuts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    fs = files(data_dir)
    if not fs:
        print("nothing to damage")
        return 1
    kind = pick(rng, fs, {"wal": 6, "snap": 2, "meta": 2})[1]
    for _ in range(flips):
        path, _, size = pick(rng, fs, {kind: 1})
        off, bit = rng.randrange(size), rng.randrange(8)
        with open(path, "r+b") as f:
            f.seek(off)
            b = f.read(1)[0] ^ (1 << bit)
            f.seek(off)
            f.write(bytes([b]))
        print("flip %s %d %d" % (os.path.relpath(path, data_dir), off, bit))
    for _ in range(cuts):
        path, _, size = pick(rng, fs, {"wal": 7, "snap": 3})
        length = rng.randrange(size)
        os.truncate(path, length)
        print("cut %s %d" % (os.path.relpath(path, data_dir), length))
        fs = files(data_dir)
        if not fs:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
