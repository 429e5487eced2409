#!/usr/bin/env bash
# web.sh: the web page in Debian's headless chromium against a 3-node cluster: after its script ran, every member's row shows its own live role, term, commit, applied, lag, last contact and faults (gathered by the serving node, a follower too), the leader changes and a commit-rate sparkline.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
command -v chromium >/dev/null || fail "chromium is missing (scripts/deps.sh installs it)"

cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
F=$(a_follower)
for i in $(seq 1 40); do rc "$L" SET "k$i" "v$i" >/dev/null; done
# A fault on one member's link: its row must show it.
expect_eq "fault on n$F" "$(rc "$F" CONCORD.FAULT SET "$L" delay-req 1)" OK
sleep 2.5

page() { # i out
	timeout $((60 * SLOW)) chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$DIR/chromium" --virtual-time-budget=4000 --dump-dom "$(url "$1" /)" \
		>"$2" 2>"$DIR/chromium.log" || fail "chromium could not load n$1's page: $(tail -3 "$DIR/chromium.log")"
}
for i in "$L" "$F"; do
	page "$i" "$DIR/dom.n$i.html"
	"$PY" - "$DIR/dom.n$i.html" "$L" "$F" <<'PY' || fail "n$i's page"
import re, sys
dom, leader, faulty = open(sys.argv[1]).read(), int(sys.argv[2]), int(sys.argv[3])
rows = {}
for m in re.finditer(r'<tr id="node-(\d+)">(.*?)</tr>', dom, re.S):
    cells = {}
    for c in re.finditer(r'<td class="([^"]*)">(.*?)</td>', m.group(2), re.S):
        for cls in c.group(1).split():
            cells.setdefault(cls, c.group(2))
    rows[int(m.group(1))] = cells
assert sorted(rows) == [1, 2, 3], ("rows", sorted(rows))
terms = set()
for nid, c in rows.items():
    want = "leader" if nid == leader else "follower"
    assert c.get("role") == want, (nid, "role", c.get("role"), want)
    for k in ("term", "commit", "applied", "lag", "faults"):
        assert re.fullmatch(r"\d+", c.get(k, "")), (nid, k, c.get(k))
    assert int(c["commit"]) >= 40 and int(c["applied"]) >= 40, (nid, c)
    assert int(c["lag"]) < 40, (nid, "lag", c["lag"])
    assert re.fullmatch(r"\d+\.\d s ago", c.get("contact", "")), (nid, "contact", c.get("contact"))
    assert int(c["faults"]) == (1 if nid == faulty else 0), (nid, "faults", c["faults"])
    terms.add(c["term"])
assert len(terms) == 1, ("terms differ", terms)
changes = re.findall(r'<li class="change">(.*?)</li>', dom)
assert changes and re.search(r"n%d leads in term \d+" % leader, changes[0]), ("changes", changes)
pts = re.search(r'<polyline id="spark-line"[^>]*points="([^"]*)"', dom)
assert pts and len(pts.group(1).split()) >= 2, ("sparkline", pts and pts.group(1))
assert "entries/s now" in dom, "sparkline label"
print("3 rows with live numbers, %d leader change(s), %d sparkline points" % (len(changes), len(pts.group(1).split())))
PY
done
log "ok"
