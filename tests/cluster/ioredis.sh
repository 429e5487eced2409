#!/usr/bin/env bash
# ioredis.sh: ioredis (npm) against a 3-node cluster, on the leader and through a forwarding follower: pipelines that read their own writes (SET then GET, DEL then EXISTS, every try), MULTI/EXEC, INCR, expiry, SCAN streams and pub/sub.
source "$(dirname "$0")/lib.sh"

cluster_start
wait_leader
L=$LEADER
F=$((L == 1 ? 2 : 1)) # a forwarding follower
for i in 1 2 3; do wait_up "$i"; done

# Installed once into the build directory; no npm or a failed install fails the test.
npm_package ioredis
NODE_DIR=$NPM_DIR
log "ioredis $(node -p "require('$NODE_DIR/node_modules/ioredis/package.json').version")"

for node in "$L" "$F"; do
	role=$([ "$node" -eq "$L" ] && echo leader || echo follower)
	out=$(NODE_PATH="$NODE_DIR/node_modules" timeout $((90 * SLOW)) node - \
		"${CLIENT[$node]##*:}" "$role" 2>&1 <<'JS'
const Redis = require('ioredis');
const assert = require('assert');
const [port, role] = process.argv.slice(2);
(async () => {
	const c = new Redis({ port: Number(port), host: '127.0.0.1', maxRetriesPerRequest: 1,
		enableOfflineQueue: true, lazyConnect: true });
	c.on('error', (e) => { console.error(`client error: ${e}`); process.exit(1); });
	await c.connect();
	// A pipeline's commands take effect in the order sent: a read sees the write before it.
	for (let i = 0; i < 40; i++) {
		const k = `io-${role}-${i}`;
		const got = await c.pipeline().set(k, `v${i}`).get(k).del(k).exists(k).get(k).exec();
		assert.deepStrictEqual(got, [[null, 'OK'], [null, `v${i}`], [null, 1], [null, 0],
			[null, null]], `try ${i}: ${JSON.stringify(got)}`);
	}
	const n = `io-${role}-n`;
	const incrs = await c.pipeline().set(n, '10').incr(n).incrby(n, 5).get(n).exec();
	assert.deepStrictEqual(incrs.map((r) => r[1]), ['OK', 11, 16, '16']);
	const m = await c.multi().set(`${n}-m`, 'a').append(`${n}-m`, 'b').get(`${n}-m`).exec();
	assert.deepStrictEqual(m.map((r) => r[1]), ['OK', 2, 'ab']);
	// Expiry: a TTL set is seen at once, and the key goes once it passes.
	assert.strictEqual(await c.set(`${n}-t`, 'x', 'PX', 300), 'OK');
	const pttl = await c.pttl(`${n}-t`);
	assert.ok(pttl > 0 && pttl <= 300, `pttl ${pttl}`);
	let gone = false;
	for (let i = 0; i < 100 && !gone; i++) {
		await new Promise((r) => setTimeout(r, 50));
		gone = (await c.exists(`${n}-t`)) === 0;
	}
	assert.ok(gone, 'the key outlived its TTL by 5 s');
	// SCAN with MATCH, through ioredis's stream: every key once.
	const want = [];
	const p = c.pipeline();
	for (let i = 0; i < 30; i++) { want.push(`io-${role}-scan-${i}`); p.set(want[i], 'x'); }
	await p.exec();
	const seen = new Set();
	await new Promise((resolve, reject) => {
		const s = c.scanStream({ match: `io-${role}-scan-*`, count: 7 });
		s.on('data', (keys) => keys.forEach((k) => seen.add(k)));
		s.on('end', resolve);
		s.on('error', reject);
	});
	assert.deepStrictEqual([...seen].sort(), want.slice().sort());
	// Pub/sub on this node: a subscriber connection gets what is published here. PUBLISH
	// goes through the log and counts the leader's receivers: none, from a follower.
	const sub = new Redis({ port: Number(port), host: '127.0.0.1', lazyConnect: true });
	await sub.connect();
	const got = new Promise((resolve) => sub.on('message', (ch, msg) => resolve([ch, msg])));
	assert.strictEqual(await sub.subscribe(`io-${role}-ch`), 1);
	assert.strictEqual(await c.publish(`io-${role}-ch`, 'hello'), role === 'leader' ? 1 : 0);
	assert.deepStrictEqual(await got, [`io-${role}-ch`, 'hello']);
	await sub.quit();
	await c.quit();
	console.log(`${role}: ok`);
})().catch((e) => { console.error(e); process.exit(1); });
JS
	) || fail "ioredis on the $role n$node: $out"
	log "$out"
done
log "pass"
