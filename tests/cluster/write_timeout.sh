#!/usr/bin/env bash
# write_timeout.sh: a client that sends requests and never reads a reply is closed after --client-write-timeout, on the leader and on a follower that relays its reads, and counted; a client that reads slowly but steadily is not.
source "$(dirname "$0")/lib.sh"

CLUSTER_FLAGS="--client-write-timeout 2"
cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
F=$(a_follower)
python3 - "${CLIENT[$L]##*:}" <<'PY' || fail "could not write the big value"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
v = b"x" * 400000
s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n" % (len(v), v))
assert s.recv(16).startswith(b"+OK"), "SET failed"
PY
wait_applied "$F" "$(info_field "$L" commit_index)"
metric() { curl -s -m 5 "$(url "$1" /metrics)" | sed -n 's/^concord_resp_timed_out_total //p'; }
B_L=$(metric "$L") B_F=$(metric "$F")

log "a non-reading client on n$L (leader) and on n$F (follower), and a slow reader on n$F"
python3 - "${CLIENT[$L]##*:}" "${CLIENT[$F]##*:}" "$(url "$L" /metrics)" "$(url "$F" /metrics)" \
	"$B_L" "$B_F" "$((20 * SLOW))" <<'PY' || fail "the write timeout did not close the non-reading clients, or closed the slow reader"
import socket, sys, time, urllib.request
ports, urls = [int(p) for p in sys.argv[1:3]], sys.argv[3:5]
base, limit = [int(x) for x in sys.argv[5:7]], float(sys.argv[7])
# 4.8 MB of replies: past the 2 MiB soft output limit, short of the 8 MiB hard one.
req = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 12
def timed_out(url):
    for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
        if line.startswith("concord_resp_timed_out_total "):
            return int(line.split()[1])
    return 0
stuck = []
for p in ports:  # never read until the end
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", p))
    s.sendall(req)
    stuck.append(s)
slow = socket.create_connection(("127.0.0.1", ports[1]))
slow.sendall(req[: 5 * 22])  # 5 replies, 2 MB, read at most 64 KB every 0.1 s
got, want = 0, 5 * len(b"$400000\r\n" + b"x" * 400000 + b"\r\n")
slow.settimeout(0.1)
t0 = time.monotonic()
moved = [False, False]
while time.monotonic() - t0 < limit and not (all(moved) and got >= want):
    if got < want:
        try:
            d = slow.recv(65536)
            assert d, "the slow reader was closed"
            got += len(d)
        except socket.timeout:
            pass
    time.sleep(0.1)
    moved = [timed_out(u) > b for u, b in zip(urls, base)]
print("timeouts counted on leader, follower:", moved, "; slow reader got", got, "of", want,
      "in %.1fs" % (time.monotonic() - t0))
# Now read what the stuck sockets hold: the server closed them, so each ends.
ended = []
for s in stuck:
    s.settimeout(5)
    try:
        while s.recv(1 << 20):
            pass
        ended.append(True)
    except ConnectionError:
        ended.append(True)
    except socket.timeout:
        ended.append(False)
print("stuck connections ended:", ended)
sys.exit(0 if all(moved) and all(ended) and got >= want else 1)
PY
expect_eq "the cluster serves" "$(rc "$F" SET after yes)" OK
log "ok"
