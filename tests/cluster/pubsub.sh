#!/usr/bin/env bash
# pubsub.sh: PUBLISH reaches the subscribers of every member: SUBSCRIBE and PSUBSCRIBE clients (RESP2, and RESP3 pushes) on all three nodes each receive all 40 messages published through a follower and through the leader, every one in the log's order; PUBLISH answers an integer, the leader's own receivers; with auth on, any authenticated user may publish.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null || fail "redis-cli missing (scripts/deps.sh)"

cluster_start
wait_leader
L=$LEADER
F=$(a_follower)
for i in 1 2 3; do wait_up "$i"; done
log "leader n$L, follower n$F"

# Per node: a SUBSCRIBE and a PSUBSCRIBE in RESP2 through redis-cli (which prints each
# message's fields one a line when its output is a file), and a RESP3 SUBSCRIBE on a raw
# socket that prints each push the same way and anything else that is not a push as BAD.
RESP3_SUB='
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
s.sendall(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n")
f = s.makefile("rb")
def value(line):
    t, rest = line[:1], line[1:].strip()
    if t == b"$":
        data = f.read(int(rest) + 2)[:-2]
        return data.decode()
    if t in (b"*", b">", b"%"):
        n = int(rest) * (2 if t == b"%" else 1)
        return [value(f.readline()) for _ in range(n)]
    return rest.decode()
value(f.readline())  # the HELLO map
while True:
    line = f.readline()
    if not line:
        break
    v = value(line)
    print("\n".join(map(str, v)) if line[:1] == b">" else "BAD " + str(v), flush=True)
'
SUBS=()
for i in 1 2 3; do
	port=${CLIENT[$i]##*:}
	timeout $((60 * SLOW)) redis-cli -p "$port" SUBSCRIBE news >"$DIR/sub$i.out" 2>&1 &
	PIDS+=("$!")
	SUBS+=("$!")
	timeout $((60 * SLOW)) redis-cli -p "$port" PSUBSCRIBE 'ne*' >"$DIR/psub$i.out" 2>&1 &
	PIDS+=("$!")
	SUBS+=("$!")
	timeout $((60 * SLOW)) python3 -c "$RESP3_SUB" "$port" >"$DIR/sub3_$i.out" 2>&1 &
	PIDS+=("$!")
	SUBS+=("$!")
done
for i in 1 2 3; do
	tries=0
	until [ "$(rc "$i" PUBSUB NUMSUB news | sed -n 2p)" = 2 ] &&
		[ "$(rc "$i" PUBSUB NUMPAT)" = 1 ]; do
		tries=$((tries + 1))
		[ $tries -lt $((100 * SLOW)) ] || fail "n$i: the subscribers did not register"
		sleep 0.1
	done
done

# 20 through the follower (relayed to the leader), then 20 on the leader. Each PUBLISH
# answers before the next is sent, so the log holds them in this order. The reply is
# an integer: the leader's receivers, its two SUBSCRIBEs and its PSUBSCRIBE.
log "publishing 20 on n$F, then 20 on n$L"
for k in $(seq 1 20); do
	expect_eq "PUBLISH f-$k on the follower" "$(RC_FLAGS=--no-raw rc "$F" PUBLISH news "f-$k")" "(integer) 3"
done
for k in $(seq 1 20); do
	expect_eq "PUBLISH l-$k on the leader" "$(RC_FLAGS=--no-raw rc "$L" PUBLISH news "l-$k")" "(integer) 3"
done
want=$( (seq 1 20 | sed 's/^/f-/'; seq 1 20 | sed 's/^/l-/') | tr '\n' ' ')

# The messages, in the order received: the lines naming one.
messages() { # file
	grep -E '^[fl]-[0-9]+$' "$1" | tr '\n' ' '
}
for f in "$DIR"/sub[123].out "$DIR"/psub[123].out "$DIR"/sub3_[123].out; do
	tries=0
	until [ "$(messages "$f" | wc -w)" -ge 40 ]; do
		tries=$((tries + 1))
		[ $tries -lt $((100 * SLOW)) ] || break
		sleep 0.1
	done
done
for pid in "${SUBS[@]}"; do kill "$pid" 2>/dev/null; done
for i in 1 2 3; do
	expect_eq "n$i SUBSCRIBE received" "$(messages "$DIR/sub$i.out")" "$want"
	expect_eq "n$i PSUBSCRIBE received" "$(messages "$DIR/psub$i.out")" "$want"
	expect_eq "n$i RESP3 SUBSCRIBE received" "$(messages "$DIR/sub3_$i.out")" "$want"
	expect_eq "n$i RESP3 pushes only" "$(grep -c '^BAD' "$DIR/sub3_$i.out")" 0
	expect_eq "n$i RESP3 push format" "$(sed -n 4,6p "$DIR/sub3_$i.out" | tr '\n' ' ')" "message news f-1 "
	# The format Redis uses: message, channel, payload; pmessage, pattern, channel, payload.
	expect_eq "n$i message format" "$(sed -n 4,6p "$DIR/sub$i.out" | tr '\n' ' ')" "message news f-1 "
	expect_eq "n$i pmessage format" "$(sed -n 4,7p "$DIR/psub$i.out" | tr '\n' ' ')" \
		"pmessage ne* news f-1 "
done

# A publish changes no key and no revision; the limits are the key and value ones.
rev=$(rc "$L" CONCORD.RANGE "" COUNTONLY | head -n1)
expect_eq "PUBLISH with no subscriber" "$(RC_FLAGS=--no-raw rc "$F" PUBLISH empty x)" "(integer) 0"
expect_eq "revision after PUBLISH" "$(rc "$L" CONCORD.RANGE "" COUNTONLY | head -n1)" "$rev"
long=$(head -c 5000 /dev/zero | tr '\0' c)
expect_match "long channel" "$(rc "$F" PUBLISH "$long" x)" 'channel too large'
expect_match "PUBLISH inside MULTI" "$(printf 'MULTI\nPUBLISH news x\nEXEC\n' | rc "$L")" 'ERR'

# With auth on, any authenticated user may publish, on any channel (a channel is no key):
# here one that may only read app/.
log "auth on: a user with read on app/ publishes through the follower and the leader"
rcu() { local u=$1 p=$2 i=$3; shift 3; REDISCLI_AUTH=$p timeout $((10 * SLOW)) redis-cli -h 127.0.0.1 -p "${CLIENT[$i]##*:}" --user "$u" "$@"; }
expect_eq "root" "$(rc "$L" CONCORD.USER ADD root root-pw root)" OK
expect_eq "role" "$(rc "$L" CONCORD.ROLE ADD appreader)" OK
expect_eq "grant" "$(rc "$L" CONCORD.ROLE GRANT appreader read app/)" OK
expect_eq "user" "$(rc "$L" CONCORD.USER ADD ro ro-pw appreader)" OK
expect_eq "auth enable" "$(rc "$L" CONCORD.AUTH ENABLE)" OK
for i in "$F" "$L"; do
	got=""
	for _ in $(seq 1 $((50 * SLOW))); do
		got=$(rcu ro ro-pw "$i" --no-raw PUBLISH other/k "from n$i" 2>&1)
		[[ "$got" == "(integer) "* ]] && break
		sleep 0.1 # the follower may not have applied the users yet
	done
	expect_eq "PUBLISH by ro on n$i" "$got" "(integer) 0"
done
expect_match "PUBLISH unauthenticated" "$(rc "$F" PUBLISH news x)" '^NOAUTH'

log "pass"
