#!/usr/bin/env python3
"""glob.py: KEYS and SCAN MATCH through redis-py against an independent model of Redis's glob rules.

Usage: glob.py PORT. Writes keys that exercise every rule, then for each pattern compares
KEYS and a full SCAN MATCH iteration (small COUNT, TYPE string) with what the model says,
and with a few answers written out by hand.
"""
import sys

import redis


def glob_model(pat: bytes, s: bytes) -> bool:
    """Redis's stringmatchlen, case-sensitive, written as a recursive matcher."""
    def set_at(p, c):
        # p indexes the byte after '['; returns (matched, index after the set)
        neg = p < len(pat) and pat[p] == ord('^')
        if neg:
            p += 1
        hit = False
        while True:
            if p >= len(pat):
                break
            if pat[p] == ord('\\') and p + 1 < len(pat):
                hit |= pat[p + 1] == c
                p += 2
            elif pat[p] == ord(']'):
                p += 1
                break
            elif p + 2 < len(pat) and pat[p + 1] == ord('-'):
                lo, hi = sorted((pat[p], pat[p + 2]))
                hit |= lo <= c <= hi
                p += 3
            else:
                hit |= pat[p] == c
                p += 1
        return (not hit if neg else hit), p

    def m(p, i):
        while p < len(pat):
            ch = pat[p]
            if ch == ord('*'):
                while p < len(pat) and pat[p] == ord('*'):
                    p += 1
                if p == len(pat):
                    return True
                return any(m(p, j) for j in range(i, len(s) + 1))
            if i >= len(s):
                return False
            if ch == ord('?'):
                p += 1
            elif ch == ord('['):
                ok, p = set_at(p + 1, s[i])
                if not ok:
                    return False
            elif ch == ord('\\') and p + 1 < len(pat):
                if pat[p + 1] != s[i]:
                    return False
                p += 2
            else:
                if ch != s[i]:
                    return False
                p += 1
            i += 1
        return i == len(s)

    return m(0, 0)


KEYS = [b"hello", b"hallo", b"hxllo", b"hllo", b"heeeello", b"h[llo", b"h*llo", b"h?llo",
        b"h\\llo", b"a-b", b"a]b", b"abc", b"ab", b"a", b"", b"user:1", b"user:22",
        b"user:3x", b"x\xffy", b"b^c", b"bc", b"b-c", b"zz"]
PATTERNS = [b"*", b"h?llo", b"h*llo", b"h[ae]llo", b"h[^e]llo", b"h[a-b]llo", b"h[b-a]llo",
            b"h\\*llo", b"h\\?llo", b"h\\[llo", b"h\\\\llo", b"h[\\]]llo", b"a[]-]b",
            b"a[\\-]b", b"user:?", b"user:[0-9]*", b"user:[0-9][0-9]", b"*[^x]", b"x?y",
            b"b[\\^]c", b"b[^^]c", b"[", b"a[", b"a[b", b"ab\\", b"***", b"?", b"", b"*c",
            b"[a-c]*", b"h*l*o", b"a*b*c", b"user:\\3x", b"z[", b"b[^"]
HAND = {b"h[^e]llo": {b"hallo", b"hxllo", b"h[llo", b"h*llo", b"h?llo", b"h\\llo"},
        b"h\\*llo": {b"h*llo"}, b"user:[0-9][0-9]": {b"user:22"},
        b"a[b": {b"ab"}, b"": {b""}, b"?": {b"a"}, b"b[^^]c": {b"b-c"}}


def main():
    port = int(sys.argv[1])
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=20)
    r.mset({k: b"v" for k in KEYS})
    bad = 0
    for pat in PATTERNS:
        want = {k for k in KEYS if glob_model(pat, k)}
        if pat in HAND and HAND[pat] != want:
            print(f"model disagrees with the hand answer for {pat!r}: {sorted(want)}")
            bad += 1
        got_keys = set(r.keys(pat))
        got_scan = set()
        cursor, pages = 0, 0
        while True:
            cursor, page = r.scan(cursor, match=pat, count=3, _type="string")
            got_scan.update(page)
            pages += 1
            if cursor == 0 or pages > 1000:
                break
        for name, got in (("KEYS", got_keys), ("SCAN", got_scan)):
            if got != want:
                print(f"{name} {pat!r}: got {sorted(got)}, want {sorted(want)}")
                bad += 1
    if r.scan(0, match=b"*", count=5, _type="hash") != (0, []):
        print("SCAN TYPE hash should find nothing")
        bad += 1
    try:
        r.execute_command("SCAN", 0, "COUNT", 0)
        print("SCAN COUNT 0 should be a syntax error")
        bad += 1
    except redis.ResponseError as e:
        if "syntax" not in str(e):
            print(f"SCAN COUNT 0: {e}")
            bad += 1
    print(f"{len(PATTERNS)} patterns, {len(KEYS)} keys, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
