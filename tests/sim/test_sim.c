/* test_sim.c: the simulator itself: reproducible runs, fault lists, regression seeds. */
#include "sim/sim.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct sim_opts opts(uint64_t seed, uint32_t nodes, uint32_t faults)
{
	struct sim_opts o = {
	    .seed = seed, .nodes = nodes, .ticks = 1000, .faults = faults, .clients = 3};
	return o;
}

/* One seed run twice gives the same trace hash; other seeds give other hashes. */
static void test_same_seed_same_hash(void **state)
{
	(void)state;
	uint64_t hashes[6];
	for (uint64_t seed = 1; seed <= 6; seed++) {
		struct sim_opts o = opts(seed, 5, SIM_FAULT_ALL);
		struct sim_result a, b;
		assert_true(sim_run(&o, &a));
		assert_true(sim_run(&o, &b));
		assert_int_equal(a.trace_hash, b.trace_hash);
		assert_int_equal(a.events, b.events);
		hashes[seed - 1] = a.trace_hash;
	}
	for (int i = 0; i < 6; i++)
		for (int j = i + 1; j < 6; j++)
			assert_int_not_equal(hashes[i], hashes[j]);
}

/* By default the nodes' drivers step several inputs between readies, in patterns drawn
 * from the seed; ready_each takes a ready after every input, as the simulator did before
 * it had drivers (replaying the traces of that time bit for bit). Both are
 * reproducible. */
static void test_drivers(void **state)
{
	(void)state;
	struct sim_opts o = opts(3, 5, SIM_FAULT_ALL);
	struct sim_result mixed, each, again;
	assert_true(sim_run(&o, &mixed));
	assert_true(mixed.deferred > 0);
	o.ready_each = true;
	assert_true(sim_run(&o, &each));
	assert_int_equal(each.deferred, 0);
	assert_int_not_equal(each.trace_hash, mixed.trace_hash);
	assert_true(sim_run(&o, &again));
	assert_int_equal(each.trace_hash, again.trace_hash);
}

/* Without faults one election happens and clients make steady progress. */
static void test_fault_free_run(void **state)
{
	(void)state;
	struct sim_opts o = opts(7, 3, 0);
	struct sim_result r;
	assert_true(sim_run(&o, &r));
	assert_int_equal(r.elections, 1);
	assert_int_equal(r.crashes, 0);
	assert_true(r.acked > 100);
	assert_true(r.reads > 50);
	/* Multi-key writes and txns are part of the checked history (docs/checker.md). */
	assert_true(r.multi_acked > 10);
	assert_true(r.txn_acked > 5);
	assert_true(r.lease_puts > 5); /* and puts attached to leases (lease.c) */
	assert_int_equal(r.linearizable, 1);
}

static void test_faults_parse(void **state)
{
	(void)state;
	uint32_t mask;
	char err[256];
	assert_int_equal(sim_faults_parse("all", &mask, err, sizeof(err)), 0);
	assert_int_equal(mask, SIM_FAULT_ALL);
	assert_int_equal(sim_faults_parse("drop,crash", &mask, err, sizeof(err)), 0);
	assert_int_equal(mask, SIM_FAULT_DROP | SIM_FAULT_CRASH);
	assert_int_equal(sim_faults_parse("none", &mask, err, sizeof(err)), 0);
	assert_int_equal(mask, 0);
	assert_int_equal(sim_faults_parse("drop,bogus", &mask, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bogus"));
	char buf[128];
	sim_faults_format(SIM_FAULT_DROP | SIM_FAULT_PARTITION, buf, sizeof(buf));
	assert_string_equal(buf, "drop,partition");
}

/* Seeds that once failed. Each is a regression test: the failure, then the fix.
 *   2963/7 nodes: the final durability check ran before every node had applied the
 *   last acknowledged write (a checker bug: the run now stops new operations once a
 *   fresh write commits, and waits for convergence).
 *   8139/5 nodes: see below; a storage bug.
 *   147/3 nodes: see below; a driver bug.
 * (The first two were found with the sim's own driver and toy state machine: since the
 * sim runs the real driver and kv their runs are other runs; they stay as seeds.) */
static void test_regression_seeds(void **state)
{
	(void)state;
	static const struct {
		uint64_t seed;
		uint32_t nodes;
		uint32_t ticks;
		bool ready_each; /* found before the drivers batched inputs: replayed so */
	} seeds[] = {
	    {2963, 7, 2000, true},
	    /* 8139/5 nodes: a meta replacement whose directory fsync failed (ENOSPC) survived
	     * a process crash in the page cache only; the restarted node relied on it and a
	     * later power loss took the term back (storage refused to start). Recovery now
	     * makes what it read durable first. */
	    {8139, 5, 2000, true},
	    /* 147/3 nodes: a leader cut off with writes pending at high indices lost its log
	     * suffix to another leader, then led again: its next proposal took an index below
	     * those writes and the driver's ordered list of pending writes asserted. The
	     * driver now answers the cut writes "timeout" (outcome unknown) when it proposes
	     * at or below their index. */
	    {147, 3, 2000, false},
	    /* 120/3 nodes: two gets pipelined on one connection, the first waiting for a
	     * stamp of the log clock (expiry), the second served before it from an older
	     * store: client order broken. The driver now serves reads in the order they came. */
	    {120, 3, 2000, false},
	};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct sim_opts o = opts(seeds[i].seed, seeds[i].nodes, SIM_FAULT_ALL);
		o.ticks = seeds[i].ticks;
		o.ready_each = seeds[i].ready_each;
		o.no_txn = o.no_lease = true; /* found before txns and leases: replayed so */
		struct sim_result r;
		bool ok = sim_run(&o, &r);
		if (!ok)
			print_error("seed %llu: %s: %s\n", (unsigned long long)seeds[i].seed,
			            r.property, r.detail);
		assert_true(ok);
	}
}

/* Clients pipeline, and a connection's commands take effect in the order sent (the RESP
 * frontend's rule, src/driver/order.h, which the simulated nodes follow too). Without the
 * rule, as the server was before issue 12 was fixed, these seeds break client order: a
 * pipelined get misses the put sent just before it, or sees a write sent after it. With
 * it they pass, and the rule did hold operations back. (Found by reverting the rule:
 * 82 of 5-node seeds 1-100 failed, 16 of fault-free 3-node seeds 1-20.) */
static void test_client_order_seeds(void **state)
{
	(void)state;
	static const struct {
		uint64_t seed;
		uint32_t nodes;
		uint32_t faults;
	} seeds[] = {{85, 5, SIM_FAULT_ALL}, {1, 3, 0}, {4, 3, 0}};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct sim_opts o = opts(seeds[i].seed, seeds[i].nodes, seeds[i].faults);
		o.ticks = 2000;
		o.no_txn = o.no_lease = true;
		struct sim_result r;
		bool ok = sim_run(&o, &r);
		if (!ok)
			print_error("seed %llu: %s: %s\n", (unsigned long long)seeds[i].seed,
			            r.property, r.detail);
		assert_true(ok);
		assert_true(r.held > 0);
		o.unordered = true;
		assert_false(sim_run(&o, &r));
		assert_string_equal(r.property, "linearizability");
		assert_int_equal(r.linearizable, 0);
		assert_non_null(strstr(r.recent, "client order"));
	}
}

/* The snapshot-install bug of issue 12 (src/raft/snapshot.c, install(): a follower whose
 * log ran past an incoming snapshot with a conflicting term stepped the snapshot and an
 * append continuing from it before one ready; the batch stored the snapshot and only
 * the newest entries but acknowledged them all). The diverge mode (sim.h) builds the
 * situation on purpose; with install() as it was, these seeds fail "commit-quorum" (an
 * index committed on acknowledgements of entries never stored): 171 on 3 nodes (1 of 600
 * seeds tried since the expiry clients; before them 125 and 859 on 5 nodes, 2 of 900, which
 * now run otherwise). With the fix it passes. */
static void test_snapshot_install_seeds(void **state)
{
	(void)state;
	static const uint64_t seeds[] = {171};
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		struct sim_opts o = opts(seeds[i], 3, SIM_FAULT_ALL | SIM_FAULT_DIVERGE);
		o.ticks = 2000;
		o.no_txn = o.no_lease = true;
		struct sim_result r;
		bool ok = sim_run(&o, &r);
		if (!ok)
			print_error("seed %llu: %s: %s\n", (unsigned long long)seeds[i], r.property,
			            r.detail);
		assert_true(ok);
		assert_true(r.installs > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_seed_same_hash),
	    cmocka_unit_test(test_drivers),
	    cmocka_unit_test(test_fault_free_run),
	    cmocka_unit_test(test_faults_parse),
	    cmocka_unit_test(test_regression_seeds),
	    cmocka_unit_test(test_client_order_seeds),
	    cmocka_unit_test(test_snapshot_install_seeds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
