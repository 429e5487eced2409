#!/usr/bin/env bash
# resp3.sh: HELLO and RESP3 on a 3-node cluster, on the leader and through a forwarding follower: raw bytes, redis-cli -3, and node-redis (npm's "redis", RESP3 by default since v5... 6) installed into the build directory.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null || { echo "redis-cli missing"; exit 77; }

cluster_start
wait_leader
L=$LEADER
F=$((L == 1 ? 2 : 1)) # a forwarding follower
for i in 1 2 3; do wait_up "$i"; done

# Raw bytes: one connection, each request's whole reply checked exactly. The follower
# relays: a pipeline switching protocol between relayed commands must come back in
# the protocol each command was sent in.
raw_check() { # port role
	timeout $((60 * SLOW)) python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, role = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(10)
def ask(req, want):
    s.sendall(req)
    got = b""
    while len(got) < len(want):
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
    if got != want:
        sys.exit("%s: %r -> %r, want %r" % (role, req, got, want))
def hello(head, proto, rest):
    return (head + b"$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
            b"$5\r\nproto\r\n:" + proto + b"\r\n$2\r\nid\r\n" + rest)
s.sendall(b"CLIENT ID\r\n")
cid = s.recv(100)
r = b"$4\r\nrole\r\n$6\r\nmaster\r\n" if role == "leader" else b"$4\r\nrole\r\n$7\r\nreplica\r\n"
tail = cid + b"$4\r\nmode\r\n$10\r\nstandalone\r\n" + r + b"$7\r\nmodules\r\n*0\r\n"
k = ("k-" + role).encode()
ask(b"SET " + k + b" v\r\nGET nope\r\n", b"+OK\r\n$-1\r\n")  # a RESP2 relay first
ask(b"HELLO 3\r\n", hello(b"%7\r\n", b"3", tail))
ask(b"GET nope\r\nMGET " + k + b" nope\r\n", b"_\r\n*2\r\n$1\r\nv\r\n_\r\n")
ask(b"SET " + k + b" w NX\r\nCONFIG GET save\r\n", b"_\r\n%1\r\n$4\r\nsave\r\n$0\r\n\r\n")
ask(b"MULTI\r\nGET nope\r\nGET " + k + b"\r\nEXEC\r\n",
    b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n_\r\n$1\r\nv\r\n")
# In one write: replies follow the protocol switched in between.
ask(b"GET nope\r\nHELLO 2\r\nGET nope\r\nHELLO 3\r\nGET nope\r\n",
    b"_\r\n" + hello(b"*14\r\n", b"2", tail) + b"$-1\r\n" + hello(b"%7\r\n", b"3", tail) + b"_\r\n")
ask(b"HELLO 4\r\nGET nope\r\n", b"-NOPROTO unsupported protocol version\r\n_\r\n")
print("%s: raw RESP3 ok" % role)
PY
}

for node in "$L" "$F"; do
	role=$([ "$node" -eq "$L" ] && echo leader || echo follower)
	out=$(raw_check "${CLIENT[$node]##*:}" "$role" 2>&1) || fail "$out"
	log "$out"
	log "redis-cli -3 on the $role n$node"
	expect_eq "SET" "$(rc "$node" -3 SET "c-$node" 1)" OK
	expect_eq "GET" "$(rc "$node" -3 GET "c-$node")" 1
	expect_eq "GET missing" "$(rc "$node" -3 GET nope)" ""
	expect_eq "MGET" "$(rc "$node" -3 MGET "c-$node" nope | tr '\n' ' ')" "1  "
	expect_match "HELLO" "$(rc "$node" -3 HELLO | tr '\n' ' ')" "^server redis version 7.0.0 proto 3 id [0-9]+ mode standalone role "
	expect_eq "CONFIG GET" "$(rc "$node" -3 CONFIG GET appendonly | tr '\n' ' ')" "appendonly yes "
done

# node-redis: npm's "redis" (RESP3 by default since v6; v4/v5 send HELLO 3 with RESP: 3),
# installed once into the build directory. No npm or a failed install fails the test.
npm_package redis
NODE_DIR=$NPM_DIR
log "node-redis $(node -p "require('$NODE_DIR/node_modules/redis/package.json').version")"
for node in "$L" "$F"; do
	role=$([ "$node" -eq "$L" ] && echo leader || echo follower)
	for resp in default 3 2; do
		out=$(NODE_PATH="$NODE_DIR/node_modules" timeout $((60 * SLOW)) node - \
			"${CLIENT[$node]##*:}" "$resp" "$role" 2>&1 <<'JS'
const { createClient } = require('redis');
const assert = require('assert');
const [port, resp, role] = process.argv.slice(2);
(async () => {
	const opts = { url: `redis://127.0.0.1:${port}`, name: 'resp3-test' };
	if (resp !== 'default') opts.RESP = Number(resp);
	const c = createClient(opts);
	c.on('error', (e) => { console.error(`client error: ${e}`); process.exit(1); });
	await c.connect();
	const k = `node-${role}-${resp}`;
	assert.strictEqual(await c.set(k, 'v'), 'OK');
	assert.strictEqual(await c.get(k), 'v');
	assert.strictEqual(await c.get('nope'), null);
	assert.deepStrictEqual(await c.mGet([k, 'nope']), ['v', null]);
	assert.strictEqual(await c.set(k, 'w', { NX: true }), null);
	assert.strictEqual(await c.incr(`${k}-n`), 1);
	assert.deepStrictEqual(await c.multi().get(k).get('nope').exec(), ['v', null]);
	assert.strictEqual(await c.clientGetName(), 'resp3-test');
	const hello = await c.sendCommand(['HELLO']);
	const proto = hello instanceof Map ? hello.get('proto')
		: Array.isArray(hello) ? hello[hello.indexOf('proto') + 1] : hello.proto;
	assert.strictEqual(Number(proto), resp === '2' ? 2 : 3);
	console.log(`${role} RESP ${resp}: ok, HELLO says proto ${proto}`);
	await c.quit();
})().catch((e) => { console.error(e); process.exit(1); });
JS
		) || fail "node-redis (RESP $resp) on the $role n$node: $out"
		log "$out"
	done
done
log "pass"
