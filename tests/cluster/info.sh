#!/usr/bin/env bash
# info.sh: INFO carries what redis-cli --stat reads (keys, used_memory, connected and blocked clients, commands and connections received) as real numbers, on the leader and on a follower.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null && command -v stdbuf >/dev/null || { echo "redis-cli or stdbuf missing"; exit 77; }

cluster_start
wait_leader
L=$LEADER
F=$(a_follower)
for i in 1 2 3; do wait_up "$i"; done
for k in 1 2 3 4 5; do expect_eq "SET k$k" "$(rc "$L" SET "k$k" "$k")" OK; done

field() { # i section field
	rc "$1" INFO "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^$3://p"
}
for i in "$L" "$F"; do
	log "INFO on n$i"
	expect_match "n$i INFO memory has # Memory" "$(rc "$i" INFO memory | tr -d '\r')" "^# Memory"
	expect_match "n$i used_memory" "$(field "$i" memory used_memory)" '^[1-9][0-9]*$'
	expect_match "n$i used_memory_human" "$(field "$i" memory used_memory_human)" '^[0-9.]+[BKMGTP]$'
	expect_match "n$i connected_clients" "$(field "$i" clients connected_clients)" '^[1-9][0-9]*$'
	expect_match "n$i blocked_clients" "$(field "$i" clients blocked_clients)" '^[0-9]+$'
	expect_match "n$i total_connections_received" "$(field "$i" stats total_connections_received)" '^[1-9][0-9]*$'
	a=$(field "$i" stats total_commands_processed)
	expect_match "n$i total_commands_processed" "$a" '^[1-9][0-9]*$'
	b=$(field "$i" stats total_commands_processed)
	[ "$b" -gt "$a" ] || fail "n$i total_commands_processed did not grow: $a then $b"
	expect_match "n$i INFO has every section" "$(rc "$i" INFO | tr -d '\r' | grep '^# ' | tr '\n' ' ')" \
		'^# Server # Clients # Memory # Stats # Replication # Concord # Keyspace $'
done
expect_match "keyspace on the leader" "$(rc "$L" INFO keyspace | tr -d '\r')" 'db0:keys=5,'

log "redis-cli --stat on n$L, about 3 samples"
# Line-buffered, or what it printed is lost when timeout stops it.
timeout 5 stdbuf -oL redis-cli -h 127.0.0.1 -p "${CLIENT[$L]##*:}" --stat -i 1 >"$DIR/stat.out" 2>&1
cat "$DIR/stat.out"
grep -q '^keys  *mem  *clients  *blocked  *requests  *connections' "$DIR/stat.out" ||
	fail "redis-cli --stat printed no header"
rows=$(grep -c '^[0-9]' "$DIR/stat.out")
[ "$rows" -ge 2 ] || fail "redis-cli --stat printed $rows samples, want at least 2"
# keys, mem, clients, blocked, requests (+delta), connections: numbers, nothing else.
bad=$(grep '^[0-9]' "$DIR/stat.out" |
	grep -Evc '^5 +[0-9.]+[BKMGTP] +[1-9][0-9]* +[0-9]+ +[1-9][0-9]* \(\+[0-9]+\) +[1-9][0-9]* *$')
[ "$bad" = 0 ] || fail "redis-cli --stat: $bad sample lines are not numbers"
log "ok"
