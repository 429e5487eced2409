#!/usr/bin/env python3
"""report.py RESULTS FLOOR: the table printed by scripts/bench-compare.sh.

RESULTS: tab-separated lines `system load rep ops_per_s p50_ms p99_ms` ('-' where the
tool gave nothing). FLOOR: lines from floor.py. Prints median [min-max] over the reps, and
the ratios issue 16 names, each from the medians.
"""
import statistics
import sys

LOADS = [
    ("set-c1", "SET -d 256 c=1"),
    ("set-c64", "SET -d 256 c=64"),
    ("set-c256", "SET -d 256 c=256"),
    ("set-c256-P16", "SET -d 256 c=256 -P 16"),
    ("get-c256", "GET c=256"),
    ("http-put-c256", "HTTP PUT 256 B c=256"),
]
SYSTEMS = ["concord", "redis", "etcd"]


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


def load(path):
    res = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 6:
                continue
            system, name, _rep, rps, p50, p99 = parts[:6]
            r = res.setdefault((system, name), {"rps": [], "p50": [], "p99": [], "fail": 0})
            if num(rps) is None:
                r["fail"] += 1
                continue
            r["rps"].append(num(rps))
            if num(p50) is not None:
                r["p50"].append(num(p50))
            if num(p99) is not None:
                r["p99"].append(num(p99))
    return res


def fmt(xs, unit=""):
    if not xs:
        return "-"
    m = statistics.median(xs)
    if unit == "ms":
        return f"{m:.2f} [{min(xs):.2f}-{max(xs):.2f}]"
    return f"{m:,.0f} [{min(xs):,.0f}-{max(xs):,.0f}]"


def med(res, system, name, field="rps"):
    r = res.get((system, name))
    return statistics.median(r[field]) if r and r[field] else None


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def main():
    res = load(sys.argv[1])
    floor = {}
    with open(sys.argv[2]) as f:
        for line in f:
            w = line.split()
            if w:
                floor[w[0]] = {k: float(v) for k, v in (x.split("=") for x in w[1:])}
    print(f"{'load':<24} {'system':<8} {'ops/s median [min-max]':<30} "
          f"{'p50 ms median [min-max]':<26} p99 ms median [min-max]")
    for name, label in LOADS:
        for system in SYSTEMS:
            r = res.get((system, name))
            if r is None:
                continue
            note = f"  ({r['fail']} run(s) failed)" if r["fail"] else ""
            print(f"{label:<24} {system:<8} {fmt(r['rps']):<30} {fmt(r['p50'], 'ms'):<26} "
                  f"{fmt(r['p99'], 'ms')}{note}")
    print()
    fs, rt = floor.get("fsync"), floor.get("rtt")
    if fs:
        print(f"floor: fdatasync of a 128 B append   p50 {fs['p50_us'] / 1000:.3f} ms"
              f"  p99 {fs['p99_us'] / 1000:.3f} ms  (n={fs['n']:.0f})")
    if rt:
        print(f"floor: loopback TCP round trip       p50 {rt['p50_us'] / 1000:.3f} ms"
              f"  p99 {rt['p99_us'] / 1000:.3f} ms  (n={rt['n']:.0f}, python)")
    print()
    print("ratios (of medians):")
    print(f"  Concord/Redis SET c=256          {ratio(med(res, 'concord', 'set-c256'), med(res, 'redis', 'set-c256'))}")
    print(f"  Concord/etcd HTTP PUT c=256      {ratio(med(res, 'concord', 'http-put-c256'), med(res, 'etcd', 'http-put-c256'))}")
    print(f"  Concord/Redis SET c=256 -P 16    {ratio(med(res, 'concord', 'set-c256-P16'), med(res, 'redis', 'set-c256-P16'))}")
    print(f"  Concord/Redis GET c=256          {ratio(med(res, 'concord', 'get-c256'), med(res, 'redis', 'get-c256'))}"
          "   (Concord's GET is linearizable: ReadIndex)")
    c1 = med(res, "concord", "set-c1", "p50")
    r1 = med(res, "redis", "set-c1", "p50")
    if fs:
        f50 = fs["p50_us"] / 1000
        print(f"  SET c=1 p50 / fdatasync p50      Concord {ratio(c1, f50)}   Redis {ratio(r1, f50)}"
              f"   (floor {f50:.3f} ms)")


main()
