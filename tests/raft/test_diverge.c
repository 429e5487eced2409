/* test_diverge.c: a leader whose log contradicts an entry a follower committed makes the
 * follower fail-stop (raft.h, "Divergence") instead of answering with a false match. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define R(id) h_raft(&h, (id))

/* Three nodes; node 1 leads term 1 and entries 1..4 (all term 1) are committed on
 * every node, node 2 included. */
static void committed_cluster(struct h *h)
{
	h_init(h, 3, false, false);
	h_elect(h, 1);
	h_propose_n(h, 1, 3);
	h_tick_all(h, 2);
	assert_int_equal(raft_last_index(h_raft(h, 2)), 4);
	assert_int_equal(raft_commit_index(h_raft(h, 2)), 4);
}

/* Takes node id's batches, expecting exactly one to carry the error. */
static void expect_failed_batch(struct h *h, raft_id id, raft_index index, raft_term ours,
                                raft_term theirs)
{
	struct raft *r = h_raft(h, id);
	assert_true(raft_has_ready(r));
	struct raft_ready rd;
	raft_ready(r, &rd);
	assert_int_equal(rd.error, RAFT_EDIVERGED);
	assert_int_equal(rd.divergence.index, index);
	assert_int_equal(rd.divergence.term, ours);
	assert_int_equal(rd.divergence.leader_term, theirs);
	assert_int_equal(rd.n_messages + rd.n_persisted_messages, 0);
	assert_int_equal(rd.n_entries + rd.n_committed, 0);
	assert_false(rd.has_hard_state);
	assert_false(rd.has_snapshot);
	raft_advance(r, &rd);
	assert_false(raft_has_ready(r));
}

/* Once diverged the node takes no input at all. */
static void expect_stopped(struct h *h, raft_id id)
{
	struct raft *r = h_raft(h, id);
	raft_term term = raft_term_current(r);
	raft_index last = raft_last_index(r), commit = raft_commit_index(r);
	for (int i = 0; i < 100; i++)
		raft_tick(r);
	assert_false(raft_has_ready(r));
	assert_int_equal(raft_term_current(r), term);
	assert_int_equal(raft_role(r), RAFT_FOLLOWER);
	assert_int_equal(raft_campaign(r), RAFT_EDIVERGED);
	assert_int_equal(raft_propose(r, "x", 1, NULL, NULL), RAFT_EDIVERGED);
	assert_int_equal(raft_read_index(r, 1), RAFT_EDIVERGED);
	struct raft_message hb = {
	    .type = RAFT_MSG_HEARTBEAT, .from = 1, .to = id, .term = term + 5, .commit = commit};
	assert_int_equal(raft_step(r, &hb), RAFT_EDIVERGED);
	assert_int_equal(raft_term_current(r), term);
	assert_int_equal(raft_last_index(r), last);
	assert_int_equal(raft_commit_index(r), commit);
	assert_false(raft_has_ready(r));
	struct raft_divergence d;
	assert_int_equal(raft_error(r, &d), RAFT_EDIVERGED);
}

/* The false match of old: prevLogIndex below the commit index, entries that contradict
 * committed ones. Answering "matched up to my commit" would make the leader record a
 * match that does not exist. */
static void test_append_below_commit_conflicts(void **state)
{
	(void)state;
	struct h h;
	committed_cluster(&h);
	struct raft_entry es[3] = {
	    {.term = 2, .index = 3, .type = RAFT_ENTRY_NORMAL},
	    {.term = 2, .index = 4, .type = RAFT_ENTRY_NORMAL},
	    {.term = 2, .index = 5, .type = RAFT_ENTRY_NORMAL},
	};
	struct raft_message m = {.type = RAFT_MSG_APPEND,
	                         .from = 3,
	                         .to = 2,
	                         .term = 2,
	                         .index = 2,
	                         .log_term = 1,
	                         .commit = 5,
	                         .n_entries = 3,
	                         .entries = es};
	assert_int_equal(raft_error(R(2), NULL), RAFT_OK);
	assert_int_equal(raft_step(R(2), &m), RAFT_EDIVERGED);
	struct raft_divergence d;
	assert_int_equal(raft_error(R(2), &d), RAFT_EDIVERGED);
	assert_int_equal(d.index, 3);
	assert_int_equal(d.term, 1);
	assert_int_equal(d.leader_term, 2);
	assert_int_equal(d.commit, 4);
	assert_int_equal(d.from, 3);
	assert_int_equal(d.msg_term, 2);
	assert_int_equal(d.msg_type, RAFT_MSG_APPEND);
	/* The committed entries are untouched. */
	assert_int_equal(raft_term_at(R(2), 3), 1);
	assert_int_equal(raft_term_at(R(2), 4), 1);
	expect_failed_batch(&h, 2, 3, 1, 2);
	expect_stopped(&h, 2);
	h_free(&h);
}

/* prevLogIndex at a committed index with another term: a rejection would send the
 * leader backing up into entries both sides committed. */
static void test_append_prev_at_commit_conflicts(void **state)
{
	(void)state;
	struct h h;
	committed_cluster(&h);
	struct raft_message m = {.type = RAFT_MSG_APPEND,
	                         .from = 3,
	                         .to = 2,
	                         .term = 2,
	                         .index = 4,
	                         .log_term = 2,
	                         .commit = 4};
	assert_int_equal(raft_step(R(2), &m), RAFT_EDIVERGED);
	expect_failed_batch(&h, 2, 4, 1, 2);
	expect_stopped(&h, 2);
	h_free(&h);
}

/* A snapshot ending on a committed index with another term. */
static void test_snapshot_below_commit_conflicts(void **state)
{
	(void)state;
	struct h h;
	committed_cluster(&h);
	struct raft_conf conf = *raft_conf_current(R(2));
	struct raft_message m = {.type = RAFT_MSG_SNAPSHOT,
	                         .from = 3,
	                         .to = 2,
	                         .term = 2,
	                         .index = 3,
	                         .log_term = 2,
	                         .snap_size = 4,
	                         .chunk = raft_buf_new("snap", 4),
	                         .snap_conf = &conf};
	assert_int_equal(raft_step(R(2), &m), RAFT_EDIVERGED);
	raft_buf_unref(m.chunk);
	expect_failed_batch(&h, 2, 3, 1, 2);
	expect_stopped(&h, 2);
	h_free(&h);
}

/* What agrees with the committed log is still answered as before: an append below the
 * commit index whose entries match, and a snapshot the commit index covers. */
static void test_consistent_below_commit_answered(void **state)
{
	(void)state;
	struct h h;
	committed_cluster(&h);
	h_drop(&h, 0, 0, 0);
	struct raft_entry es[2] = {
	    {.term = 1, .index = 3, .type = RAFT_ENTRY_NORMAL},
	    {.term = 1, .index = 4, .type = RAFT_ENTRY_NORMAL},
	};
	struct raft_message m = {.type = RAFT_MSG_APPEND,
	                         .from = 1,
	                         .to = 2,
	                         .term = 1,
	                         .index = 2,
	                         .log_term = 1,
	                         .commit = 4,
	                         .n_entries = 2,
	                         .entries = es};
	assert_int_equal(raft_step(R(2), &m), RAFT_OK);
	h_ready(&h, 2);
	struct raft_message *resp = h_find(&h, 2, 1, RAFT_MSG_APPEND_RESP);
	assert_non_null(resp);
	assert_false(resp->reject);
	assert_int_equal(resp->index, 4);
	h_drop(&h, 0, 0, 0);
	struct raft_conf conf = *raft_conf_current(R(2));
	struct raft_message s = {.type = RAFT_MSG_SNAPSHOT,
	                         .from = 1,
	                         .to = 2,
	                         .term = 1,
	                         .index = 3,
	                         .log_term = 1,
	                         .snap_size = 4,
	                         .chunk = raft_buf_new("snap", 4),
	                         .snap_conf = &conf};
	assert_int_equal(raft_step(R(2), &s), RAFT_OK);
	raft_buf_unref(s.chunk);
	h_ready(&h, 2);
	assert_non_null(h_find(&h, 2, 1, RAFT_MSG_SNAPSHOT_RESP));
	assert_int_equal(raft_error(R(2), NULL), RAFT_OK);
	assert_int_equal(h.nodes[1].error, 0);
	h_free(&h);
}

/* The real thing, from real messages: nodes 1 and 3 lose their disks after entries
 * 1..4 committed, elect a leader among themselves while node 2 is cut off, and write a
 * different history. When node 2 hears from that leader it must stop, and the leader
 * must not record a match for it. */
static void test_amnesia_majority_diverges(void **state)
{
	(void)state;
	struct h h;
	committed_cluster(&h);
	h_drop(&h, 0, 0, 0);
	h_isolate(&h, 2);
	h_boot(&h, 1, NULL, 0, 0);
	h_boot(&h, 3, NULL, 0, 0);
	h_elect(&h, 3);
	assert_int_equal(raft_role(R(3)), RAFT_LEADER);
	h_elect(&h, 1);
	assert_int_equal(raft_role(R(1)), RAFT_LEADER);
	assert_int_equal(raft_term_current(R(1)), 2);
	assert_int_equal(raft_term_at(R(1), 2), 2);
	h_heal(&h);
	raft_index index;
	assert_int_equal(h_propose(&h, 1, "after", NULL, &index), 0);
	h_stabilize(&h);
	h_tick_all(&h, 5);
	assert_int_equal(h.nodes[1].error, RAFT_EDIVERGED);
	struct raft_divergence d;
	assert_int_equal(raft_error(R(2), &d), RAFT_EDIVERGED);
	assert_int_equal(d.term, 1);
	assert_int_equal(d.from, 1);
	assert_true(d.index <= 4);
	/* Its committed entries stayed as they were. */
	for (raft_index i = 1; i <= 4; i++)
		assert_int_equal(raft_term_at(R(2), i), 1);
	raft_index match, next;
	assert_true(raft_progress(R(1), 2, &match, &next));
	assert_int_equal(match, 0);
	expect_stopped(&h, 2);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_below_commit_conflicts),
	    cmocka_unit_test(test_append_prev_at_commit_conflicts),
	    cmocka_unit_test(test_snapshot_below_commit_conflicts),
	    cmocka_unit_test(test_consistent_below_commit_answered),
	    cmocka_unit_test(test_amnesia_majority_diverges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
