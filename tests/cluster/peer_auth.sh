#!/usr/bin/env bash
# peer_auth.sh: with --peer-secret-file, forged Raft traffic (a TIMEOUT_NOW, an append of term 1000 with an entry, a vote request) sent to every node's peer port moves nothing: not the term, not the leader, not the keys; the plain handshake and a guessed secret are refused, and messages claiming another member than the one authenticated are dropped and counted.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/secret"
chmod 600 "$DIR/secret"
CLUSTER_FLAGS="--peer-secret-file $DIR/secret"
cluster_start
wait_leader
for i in 1 2 3; do wait_up "$i"; done
L=$LEADER
wait_revision_still "$L"
for k in 1 2 3 4 5; do expect_eq "SET" "$(rc "$L" SET "k$k" "v$k")" OK; done
idx=$(info_field "$L" applied_index)
for i in 1 2 3; do wait_applied "$i" "$idx"; done
log "leader n$L, applied $idx on every node"

metric() { # i name
	hc "$1" "$(url "$1" /metrics)" | sed -n "s/^$2 //p"
}
declare -a TERM0 KEYS0
for i in 1 2 3; do
	TERM0[$i]=$(info_field "$i" raft_term)
	KEYS0[$i]=$(metric "$i" concord_kv_keys)
done
cluster=$(python3 -c 'import sys
h = 14695981039346656037
for c in sys.argv[1].encode():
    h ^= c; h = (h * 1099511628211) % 2**64
print(h or 1)' "test-$TEST_NAME")

declare -a CLAIM
for i in 1 2 3; do
	# Followers are told the leader speaks; the leader, that a follower does.
	CLAIM[$i]=$L
	[ "$i" -eq "$L" ] && CLAIM[$i]=$((L % 3 + 1))
	log "forging traffic at n$i's peer port (claiming to be n${CLAIM[$i]})"
	out=$(timeout 30 python3 "$HERE/peer_forge.py" "${PEER[$i]##*:}" "$cluster" "$i" "${CLAIM[$i]}" "$idx" "$DIR/secret") ||
		fail "peer_forge.py failed: $out"
	log "  $(echo "$out" | tr '\n' ';')"
	expect_match "plain handshake" "$out" "plain: refused"
	expect_match "guessed secret" "$out" "guess: acceptor-proved refused"
	expect_match "the secret as member 9" "$out" "secret-as-9: accepted"
done
sleep 1
for i in 1 2 3; do
	expect_eq "n$i term" "$(info_field "$i" raft_term)" "${TERM0[$i]}"
	expect_eq "n$i leader" "$(info_field "$i" leader_id)" "$L"
	expect_eq "n$i keys" "$(metric "$i" concord_kv_keys)" "${KEYS0[$i]}"
	failed=$(metric "$i" concord_net_auth_failed_total)
	dropped=$(metric "$i" concord_net_dropped_sender_total)
	[ "${failed:-0}" -ge 1 ] || fail "n$i counted no failed handshake ($failed)"
	[ "${dropped:-0}" -ge 3 ] || fail "n$i counted $dropped dropped messages, want 3"
	grep -q "dropped a message from ${CLAIM[$i]} to $i on the link of member 9" "$DIR/n$i.log" ||
		fail "n$i did not log the dropped messages"
done
expect_eq "still leader" "$(info_field "$L" raft_role)" leader
expect_eq "writes still work" "$(rc "$L" SET after forged)" OK
for i in 1 2 3; do expect_eq "GET k3 on n$i" "$(rc "$i" GET k3)" v3; done
log "PASS"
