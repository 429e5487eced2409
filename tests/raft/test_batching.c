/* test_batching.c: several inputs stepped before one ready batch is taken, as an event
 * loop does (the server steps each message as it arrives and drains in a check
 * callback). Whatever the interleaving, a batch must describe exactly how to bring the
 * disk to the core's log, and nothing may be applied or acknowledged that the disk does
 * not hold. Each case is also run with a ready taken after every input, which must
 * leave the same disk. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define R(id) h_raft(&h, (id))

/* The follower under test is node 2 of three; node 1 plays a leader of `term` whose
 * messages the tests write by hand. */
#define F 2
#define L 1

static void boot_follower(struct h *h, const raft_term *terms, uint32_t n, raft_term term)
{
	h_init(h, 3, false, false);
	h_boot(h, F, terms, n, term);
}

/* A complete snapshot at (index, log_term), in one chunk, from leader L of `term`. */
static void step_snapshot(struct h *h, raft_term term, raft_index index, raft_term log_term)
{
	struct raft_conf conf = *raft_conf_current(h_raft(h, F));
	char text[32];
	int len = snprintf(text, sizeof(text), "snapshot-%llu", (unsigned long long)index);
	struct raft_buf *chunk = raft_buf_new(text, (size_t)len);
	struct raft_message m = {.type = RAFT_MSG_SNAPSHOT,
	                         .from = L,
	                         .to = F,
	                         .term = term,
	                         .index = index,
	                         .log_term = log_term,
	                         .snap_size = (uint64_t)len,
	                         .snap_offset = 0,
	                         .chunk = chunk,
	                         .snap_conf = &conf};
	assert_int_equal(raft_step(h_raft(h, F), &m), 0);
	raft_buf_unref(chunk);
}

/* An append from leader L of `term` after (prev, prev_term), carrying entries
 * prev+1 .. prev+n of terms `terms`, with leader commit `commit`. */
static void step_append(struct h *h, raft_term term, raft_index prev, raft_term prev_term,
                        const raft_term *terms, uint32_t n, raft_index commit)
{
	struct raft_entry e[16];
	assert_true(n <= 16);
	for (uint32_t i = 0; i < n; i++) {
		char text[32];
		int len =
		    snprintf(text, sizeof(text), "e-%llu-%llu", (unsigned long long)(prev + 1 + i),
		             (unsigned long long)terms[i]);
		e[i] = (struct raft_entry){.term = terms[i],
		                           .index = prev + 1 + i,
		                           .type = RAFT_ENTRY_NORMAL,
		                           .buf = raft_buf_new(text, (size_t)len)};
	}
	struct raft_message m = {.type = RAFT_MSG_APPEND,
	                         .from = L,
	                         .to = F,
	                         .term = term,
	                         .index = prev,
	                         .log_term = prev_term,
	                         .commit = commit,
	                         .n_entries = n,
	                         .entries = e};
	assert_int_equal(raft_step(h_raft(h, F), &m), 0);
	for (uint32_t i = 0; i < n; i++)
		raft_buf_unref(e[i].buf);
}

static void assert_disk_consistent(struct h *h)
{
	char why[200] = "";
	bool ok = h_disk_consistent(h, F, why, sizeof(why));
	if (!ok)
		print_error("disk of n%d: %s\n", F, why);
	assert_true(ok);
	assert_int_equal(h->nodes[F - 1].applied_unstored, 0);
}

/* Every AppendEntries acknowledgement queued by F claims no more than F's disk holds. */
static void assert_acks_durable(struct h *h)
{
	const struct h_node *nd = &h->nodes[F - 1];
	raft_index disk_last = nd->n_log > 0 ? nd->log[nd->n_log - 1].index : nd->snap_index;
	for (uint32_t i = 0; i < h->n_q; i++) {
		const struct raft_message *m = &h->q[i];
		if (m->from == F && m->type == RAFT_MSG_APPEND_RESP && !m->reject)
			assert_true(m->index <= disk_last);
	}
}

/* A restart from the disk boots and finds the same log. */
static void assert_restart_same(struct h *h)
{
	raft_index last = raft_last_index(h_raft(h, F));
	raft_term last_term = raft_last_term(h_raft(h, F));
	h_restart(h, F);
	assert_int_equal(raft_last_index(h_raft(h, F)), last);
	assert_int_equal(raft_last_term(h_raft(h, F)), last_term);
}

static void maybe_ready(struct h *h, bool each)
{
	if (each)
		h_ready(h, F);
}

/* ---------------------------------------------------------------------------------
 * Issue 12: the follower's log runs past the snapshot's index with a conflicting term;
 * it steps the snapshot and an append continuing from it, then takes one ready.
 */

static void snapshot_then_append(bool each)
{
	struct h h;
	const raft_term log[] = {1, 1, 1, 1, 1};
	boot_follower(&h, log, 5, 1);
	step_snapshot(&h, 2, 3, 2); /* (3, 1) in our log conflicts: discard it all */
	maybe_ready(&h, each);
	const raft_term t2[] = {2, 2, 2};
	step_append(&h, 2, 3, 2, t2, 3, 6);
	h_ready(&h, F);
	assert_int_equal(h.nodes[F - 1].snap_index, 3);
	assert_int_equal(h.nodes[F - 1].n_log, 3);
	assert_int_equal(h.nodes[F - 1].applied, 6);
	assert_disk_consistent(&h);
	assert_acks_durable(&h);
	assert_restart_same(&h);
	h_free(&h);
}

static void test_snapshot_then_append_one_ready(void **state)
{
	(void)state;
	snapshot_then_append(false);
}

static void test_snapshot_then_append_ready_each(void **state)
{
	(void)state;
	snapshot_then_append(true);
}

/* The same inputs with the batches inspected: the one batch discards the stored log and
 * stores every entry after the snapshot, and only what it stores is applied. */
static void test_snapshot_then_append_batch(void **state)
{
	(void)state;
	struct h h;
	const raft_term log[] = {1, 1, 1, 1, 1};
	boot_follower(&h, log, 5, 1);
	step_snapshot(&h, 2, 3, 2);
	const raft_term t2[] = {2, 2, 2};
	step_append(&h, 2, 3, 2, t2, 3, 6);
	struct raft_ready rd;
	raft_ready(R(F), &rd);
	assert_true(rd.has_snapshot);
	assert_int_equal(rd.snapshot_index, 3);
	assert_true(rd.snapshot_discard_log);
	assert_int_equal(rd.n_entries, 3);
	assert_int_equal(rd.entries[0].index, 4);
	assert_int_equal(rd.entries[2].index, 6);
	assert_int_equal(rd.n_committed, 0);
	bool acked6 = false;
	for (uint32_t i = 0; i < rd.n_persisted_messages; i++)
		acked6 |= rd.persisted_messages[i].type == RAFT_MSG_APPEND_RESP &&
		          rd.persisted_messages[i].index == 6;
	assert_true(acked6);
	raft_advance(R(F), &rd);
	assert_int_equal(raft_persisted_index(R(F)), 6);
	raft_ready(R(F), &rd);
	assert_int_equal(rd.n_entries, 0);
	assert_int_equal(rd.n_committed, 3);
	assert_int_equal(rd.committed[0].index, 4);
	raft_advance(R(F), &rd);
	h_free(&h);
}

/* ---------------------------------------------------------------------------------
 * Siblings: other state a snapshot install or a truncation must reset.
 */

/* An append truncates the stored log, then a snapshot lands on one of the new entries
 * (the core's log holds it: Figure 13 step 6 keeps what follows). The stored entries
 * past the truncation point are stale, and no batch entry replaces them any more. */
static void truncate_then_snapshot(bool each)
{
	struct h h;
	const raft_term log[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	boot_follower(&h, log, 10, 1);
	const raft_term t2[] = {2, 2, 2};
	step_append(&h, 2, 3, 1, t2, 3, 3); /* replaces 4..10 of term 1 by 4..6 of term 2 */
	maybe_ready(&h, each);
	step_snapshot(&h, 2, 6, 2);
	h_ready(&h, F);
	assert_int_equal(h.nodes[F - 1].snap_index, 6);
	assert_int_equal(raft_last_index(R(F)), 6);
	assert_disk_consistent(&h);
	assert_acks_durable(&h);
	assert_restart_same(&h);
	h_free(&h);
}

static void test_truncate_then_snapshot_one_ready(void **state)
{
	(void)state;
	truncate_then_snapshot(false);
}

static void test_truncate_then_snapshot_ready_each(void **state)
{
	(void)state;
	truncate_then_snapshot(true);
}

/* Two snapshots before one ready: the first discards the stored log, the second lands
 * on an entry appended after the first, so on its own it would keep the stored log. The
 * batch must still discard it. */
static void two_snapshots(bool each)
{
	struct h h;
	const raft_term log[] = {1, 1, 1, 1, 1, 1, 1, 1};
	boot_follower(&h, log, 8, 1);
	step_snapshot(&h, 2, 3, 2);
	maybe_ready(&h, each);
	const raft_term t2[] = {2, 2};
	step_append(&h, 2, 3, 2, t2, 2, 3);
	maybe_ready(&h, each);
	step_snapshot(&h, 2, 5, 2);
	h_ready(&h, F);
	assert_int_equal(h.nodes[F - 1].snap_index, 5);
	assert_int_equal(raft_last_index(R(F)), 5);
	assert_disk_consistent(&h);
	assert_acks_durable(&h);
	assert_restart_same(&h);
	h_free(&h);
}

static void test_two_snapshots_one_ready(void **state)
{
	(void)state;
	two_snapshots(false);
}

static void test_two_snapshots_ready_each(void **state)
{
	(void)state;
	two_snapshots(true);
}

/* Two truncations before one ready: the second cuts into entries the first appended and
 * that were never handed out. */
static void two_truncations(bool each)
{
	struct h h;
	const raft_term log[] = {1, 1, 1, 1, 1};
	boot_follower(&h, log, 5, 1);
	const raft_term t2[] = {2, 2};
	step_append(&h, 2, 2, 1, t2, 2, 2);
	maybe_ready(&h, each);
	const raft_term t3[] = {3, 3};
	step_append(&h, 3, 3, 2, t3, 2, 4);
	h_ready(&h, F);
	assert_int_equal(raft_last_index(R(F)), 5);
	assert_int_equal(raft_term_at(R(F), 3), 2);
	assert_int_equal(raft_term_at(R(F), 5), 3);
	assert_int_equal(h.nodes[F - 1].applied, 4);
	assert_disk_consistent(&h);
	assert_acks_durable(&h);
	assert_restart_same(&h);
	h_free(&h);
}

static void test_two_truncations_one_ready(void **state)
{
	(void)state;
	two_truncations(false);
}

static void test_two_truncations_ready_each(void **state)
{
	(void)state;
	two_truncations(true);
}

/* A snapshot past the whole log, then an append after it, then a heartbeat that moves
 * the commit index: the batch applies nothing before its entries are durable. */
static void test_snapshot_append_heartbeat_one_ready(void **state)
{
	(void)state;
	struct h h;
	const raft_term log[] = {1, 1, 1};
	boot_follower(&h, log, 3, 1);
	step_snapshot(&h, 2, 8, 2);
	const raft_term t2[] = {2, 2};
	step_append(&h, 2, 8, 2, t2, 2, 8);
	struct raft_message hb = {
	    .type = RAFT_MSG_HEARTBEAT, .from = L, .to = F, .term = 2, .commit = 10};
	raft_step(R(F), &hb);
	struct raft_ready rd;
	raft_ready(R(F), &rd);
	assert_true(rd.has_snapshot);
	assert_true(rd.snapshot_discard_log);
	assert_int_equal(rd.n_entries, 2);
	assert_int_equal(rd.entries[0].index, 9);
	assert_int_equal(rd.n_committed, 0); /* 9 and 10 are not durable yet */
	h_persist(&h, F, &rd);
	raft_advance(R(F), &rd);
	h_ready(&h, F);
	assert_int_equal(h.nodes[F - 1].applied, 10);
	assert_disk_consistent(&h);
	h_free(&h);
}

/* Group commit: a batch of entries is still in flight when a snapshot lands inside
 * them. Persisted and advanced in order, the disk ends consistent, and what the earlier
 * batch made durable counts. */
static void test_snapshot_while_batch_in_flight(void **state)
{
	(void)state;
	struct h h;
	const raft_term log[] = {1, 1, 1};
	boot_follower(&h, log, 3, 1);
	const raft_term t2[] = {2, 2, 2};
	step_append(&h, 2, 3, 1, t2, 3, 3);
	struct raft_ready rd1, rd2;
	raft_ready(R(F), &rd1);
	assert_int_equal(rd1.n_entries, 3);
	step_snapshot(&h, 2, 5, 2); /* (5, 2) is in the log, handed out in rd1: keep 6 */
	raft_ready(R(F), &rd2);
	assert_true(rd2.has_snapshot);
	assert_false(rd2.snapshot_discard_log);
	assert_int_equal(rd2.n_entries, 0);
	h_persist(&h, F, &rd1);
	h_persist(&h, F, &rd2);
	raft_advance(R(F), &rd1);
	raft_advance(R(F), &rd2);
	assert_int_equal(raft_persisted_index(R(F)), 6);
	h_ready(&h, F);
	assert_disk_consistent(&h);
	assert_restart_same(&h);
	h_free(&h);
}

/* Group commit with a conflicting snapshot: the batch in flight holds entries the
 * snapshot then discards. Its advance must not count them as durable. */
static void test_discarding_snapshot_while_batch_in_flight(void **state)
{
	(void)state;
	struct h h;
	const raft_term log[] = {1, 1, 1};
	boot_follower(&h, log, 3, 1);
	const raft_term t2[] = {2, 2, 2};
	step_append(&h, 2, 3, 1, t2, 3, 3);
	struct raft_ready rd1, rd2;
	raft_ready(R(F), &rd1);
	step_snapshot(&h, 3, 5, 3); /* (5, 2) conflicts: discard */
	const raft_term t3[] = {3};
	step_append(&h, 3, 5, 3, t3, 1, 6);
	raft_ready(R(F), &rd2);
	assert_true(rd2.has_snapshot);
	assert_true(rd2.snapshot_discard_log);
	assert_int_equal(rd2.n_entries, 1);
	assert_int_equal(rd2.entries[0].index, 6);
	h_persist(&h, F, &rd1);
	raft_advance(R(F), &rd1);
	assert_true(raft_persisted_index(R(F)) <= 5);
	h_persist(&h, F, &rd2);
	raft_advance(R(F), &rd2);
	assert_int_equal(raft_persisted_index(R(F)), 6);
	h_ready(&h, F);
	assert_int_equal(h.nodes[F - 1].applied, 6);
	assert_disk_consistent(&h);
	assert_restart_same(&h);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_snapshot_then_append_one_ready),
	    cmocka_unit_test(test_snapshot_then_append_ready_each),
	    cmocka_unit_test(test_snapshot_then_append_batch),
	    cmocka_unit_test(test_truncate_then_snapshot_one_ready),
	    cmocka_unit_test(test_truncate_then_snapshot_ready_each),
	    cmocka_unit_test(test_two_snapshots_one_ready),
	    cmocka_unit_test(test_two_snapshots_ready_each),
	    cmocka_unit_test(test_two_truncations_one_ready),
	    cmocka_unit_test(test_two_truncations_ready_each),
	    cmocka_unit_test(test_snapshot_append_heartbeat_one_ready),
	    cmocka_unit_test(test_snapshot_while_batch_in_flight),
	    cmocka_unit_test(test_discarding_snapshot_while_batch_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
