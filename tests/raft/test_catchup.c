/* test_catchup.c: a node whose recovery found damaged durable entries boots in catch-up
 * mode (raft_boot.catch_up): it grants no vote and never campaigns until its durable log
 * reaches a leader's commit index, so that it cannot help elect a leader that lacks the
 * committed entries it lost. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define R(id) h_raft(&h, (id))

/* Node 1 leads; entries up to 5 are on every node; node 3 is cut off while 6..8 commit on
 * nodes 1 and 2 only; then node 2 loses 6..8 to damage and restarts catching up. */
static void damaged_cluster(struct h *h)
{
	h_init(h, 3, false, false);
	h_elect(h, 1);
	h_propose_n(h, 1, 4);
	h_tick_all(h, 2);
	assert_int_equal(raft_commit_index(h_raft(h, 3)), 5);
	h_isolate(h, 3);
	h_propose_n(h, 1, 3);
	assert_int_equal(raft_commit_index(h_raft(h, 1)), 8);
	assert_int_equal(raft_last_index(h_raft(h, 2)), 8);
	h_restart_damaged(h, 2, 5, 0);
	raft_index target = 99;
	assert_true(raft_catching_up(h_raft(h, 2), &target));
	assert_int_equal(target, 0);
}

/* Without the mode node 2 (log 1..5) would vote for node 3 (log 1..5), which would then
 * lead without the committed entries 6..8. */
static void test_no_vote_while_catching_up(void **state)
{
	(void)state;
	struct h h;
	damaged_cluster(&h);
	h_heal(&h);
	h_isolate(&h, 1);
	for (int i = 0; i < 20; i++)
		h_tick_all(&h, 5);
	assert_int_not_equal(raft_role(R(3)), RAFT_LEADER);
	assert_int_not_equal(raft_role(R(2)), RAFT_LEADER);
	assert_true(raft_catching_up(R(2), NULL));
	assert_int_equal(raft_campaign(R(2)), RAFT_ENOVOTER);
	/* Node 1 returns: it is the only node that can win (node 3 votes for it); node 2
	 * catches up from it and leaves the mode. */
	h_heal(&h);
	for (int i = 0;
	     i < 40 && !(h_leader(&h) == 1 && raft_term_current(R(1)) == raft_term_current(R(3)) &&
	                 raft_commit_index(R(1)) > 8);
	     i++)
		h_tick_all(&h, 5);
	assert_int_equal(h_leader(&h), 1);
	h_propose_n(&h, 1, 1);
	h_tick_all(&h, 2);
	assert_false(raft_catching_up(R(2), NULL));
	assert_true(raft_last_index(R(2)) >= 9);
	for (raft_index i = 6; i <= 8; i++)
		assert_int_equal(raft_term_at(R(2), i), raft_term_at(R(1), i));
	h_free(&h);
}

/* A heartbeat (commit capped at what the leader thinks we hold) raises the target but
 * does not end the wait; the leader's AppendEntries does, once the log reaches it. */
static void test_heartbeat_alone_does_not_end(void **state)
{
	(void)state;
	struct h h;
	damaged_cluster(&h);
	struct raft_message hb = {.type = RAFT_MSG_HEARTBEAT,
	                          .from = 1,
	                          .to = 2,
	                          .term = raft_term_current(R(1)),
	                          .commit = 5};
	assert_int_equal(raft_step(R(2), &hb), RAFT_OK);
	h_ready(&h, 2);
	assert_true(raft_catching_up(R(2), NULL));
	/* A vote request from node 3 in a later term is refused. */
	struct raft_message vote = {.type = RAFT_MSG_VOTE,
	                            .from = 3,
	                            .to = 2,
	                            .term = raft_term_current(R(2)) + 1,
	                            .index = 5,
	                            .log_term = raft_term_at(R(2), 5)};
	h_drop(&h, 0, 0, 0);
	assert_int_equal(raft_step(R(2), &vote), RAFT_OK);
	h_ready(&h, 2);
	struct raft_message *resp = h_find(&h, 2, 3, RAFT_MSG_VOTE_RESP);
	assert_non_null(resp);
	assert_true(resp->reject);
	h_free(&h);
}

/* The target given at boot (the recorded durable end) must be reached too, even when the
 * leader's commit index is lower. */
static void test_boot_target_respected(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_propose_n(&h, 1, 4);
	h_tick_all(&h, 2);
	h_restart_damaged(&h, 2, 3, 7);
	h_tick_all(&h, 3);
	assert_true(raft_catching_up(R(2), NULL));
	h_propose_n(&h, 1, 2);
	h_tick_all(&h, 2);
	assert_int_equal(raft_last_index(R(2)), 7);
	assert_false(raft_catching_up(R(2), NULL));
	h_free(&h);
}

/* A node catching up does not campaign, which is how a node with a higher term makes it
 * known; without pre-vote or check-quorum it must still answer a stale leader with its
 * term, or the leader would never learn it and the node never catch up. */
static void test_stale_leader_learns_term(void **state)
{
	(void)state;
	struct h h;
	damaged_cluster(&h);
	h_heal(&h);
	h_drop(&h, 0, 0, 0);
	struct raft_message vote = {.type = RAFT_MSG_VOTE,
	                            .from = 3,
	                            .to = 2,
	                            .term = raft_term_current(R(1)) + 4,
	                            .index = 5,
	                            .log_term = raft_term_at(R(2), 5)};
	assert_int_equal(raft_step(R(2), &vote), RAFT_OK);
	h_ready(&h, 2);
	h_drop(&h, 0, 0, 0);
	assert_int_equal(raft_term_current(R(2)), vote.term);
	assert_int_equal(raft_role(R(1)), RAFT_LEADER);
	h_tick(&h, 1, 3);
	h_stabilize(&h);
	assert_int_not_equal(raft_role(R(1)), RAFT_LEADER);
	assert_int_equal(raft_term_current(R(1)), vote.term);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_vote_while_catching_up),
	    cmocka_unit_test(test_heartbeat_alone_does_not_end),
	    cmocka_unit_test(test_boot_target_respected),
	    cmocka_unit_test(test_stale_leader_learns_term),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
