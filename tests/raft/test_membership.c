/* test_membership.c: membership changes through joint consensus (thesis chapter 4),
 * learners, leader removal, removal of a dead member, and configurations in the log. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define R(id) h_raft(&h, (id))

static bool conf_equal_voters(const struct raft_conf *c, const raft_id *ids, uint32_t n)
{
	if (c->n_voters != n || c->n_voters_old != 0)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!raft_conf_is_voter(c, ids[i]))
			return false;
	return true;
}

/* A learner receives the log but does not vote; promoted once caught up, it goes through
 * C_old,new to C_new (thesis 4.3), which every node then holds. */
static void test_add_learner_then_promote(void **state)
{
	(void)state;
	struct h h;
	h_init_spares(&h, 4, 3, true, true);
	h_elect(&h, 1);
	h_propose_n(&h, 1, 5);
	const raft_id v3[] = {1, 2, 3}, l4[] = {4};
	assert_int_equal(h_change(&h, 1, v3, 3, l4, 1), 0);
	h_stabilize(&h);
	h_tick_all(&h, 3);
	assert_int_equal(raft_last_index(R(4)), raft_last_index(R(1)));
	const struct raft_conf *c4 = raft_conf_current(R(4));
	assert_int_equal(c4->n_learners, 1);
	assert_false(raft_conf_is_voter(c4, 4));
	/* A learner never campaigns. */
	assert_int_equal(raft_campaign(R(4)), RAFT_ENOVOTER);
	h_tick(&h, 4, 100);
	assert_int_equal(raft_role(R(4)), RAFT_FOLLOWER);

	raft_index at;
	struct raft_conf target;
	memset(&target, 0, sizeof(target));
	target.n_voters = 4;
	for (int i = 0; i < 4; i++)
		target.voters[i] = (raft_id)i + 1;
	assert_int_equal(raft_change_config(R(1), &target, &at), 0);
	/* Joint at once: both majorities are needed now. */
	assert_int_equal(raft_conf_current(R(1))->n_voters_old, 3);
	/* One change at a time. */
	assert_int_equal(raft_change_config(R(1), &target, NULL), RAFT_ECHANGING);
	h_stabilize(&h);
	h_tick_all(&h, 3);
	const raft_id v4[] = {1, 2, 3, 4};
	for (raft_id i = 1; i <= 4; i++)
		assert_true(conf_equal_voters(raft_conf_current(R(i)), v4, 4));
	assert_true(raft_conf_index(R(1)) > at); /* C_new followed C_old,new */
	assert_true(raft_conf_index(R(1)) <= raft_commit_index(R(1)));
	h_free(&h);
}

/* Promotion is refused while the learner lags by more than promote_max_lag. */
static void test_promotion_needs_catch_up(void **state)
{
	(void)state;
	struct h h;
	h_init_spares(&h, 4, 3, true, true);
	h.cfg.promote_max_lag = 5;
	for (raft_id i = 1; i <= 4; i++)
		h_restart(&h, i);
	h_elect(&h, 1);
	const raft_id v3[] = {1, 2, 3}, l4[] = {4}, v4[] = {1, 2, 3, 4};
	assert_int_equal(h_change(&h, 1, v3, 3, l4, 1), 0);
	h_stabilize(&h);
	h_isolate(&h, 4);
	h_propose_n(&h, 1, 20);
	assert_int_equal(h_change(&h, 1, v4, 4, NULL, 0), RAFT_ELAGGING);
	/* A node the leader never heard of cannot become a voter either. */
	const raft_id v5[] = {1, 2, 3, 5};
	assert_int_equal(h_change(&h, 1, v5, 4, NULL, 0), RAFT_ELAGGING);
	h_heal(&h);
	h_tick_all(&h, 4);
	assert_int_equal(h_change(&h, 1, v4, 4, NULL, 0), 0);
	h_free(&h);
}

/* Once C_new is in force, voters of C_old alone no longer count. */
static void test_c_new_excludes_old_voters(void **state)
{
	(void)state;
	struct h h;
	h_init_spares(&h, 5, 3, false, false);
	h_elect(&h, 1);
	const raft_id v3[] = {1, 2, 3}, l45[] = {4, 5};
	assert_int_equal(h_change(&h, 1, v3, 3, l45, 2), 0);
	h_stabilize(&h);
	h_tick_all(&h, 3);
	/* C_old = {1,2,3}, C_new = {1,4,5}. */
	const raft_id vnew[] = {1, 4, 5};
	assert_int_equal(h_change(&h, 1, vnew, 3, NULL, 0), 0);
	h_stabilize(&h);
	assert_int_equal(raft_conf_current(R(1))->n_voters_old, 0); /* reached C_new */
	/* Now cut 4 and 5 off: nodes 2 and 3 are no longer voters, so nothing commits. */
	h_isolate(&h, 4);
	h_isolate(&h, 5);
	raft_index commit = raft_commit_index(R(1));
	h_propose_n(&h, 1, 1);
	assert_int_equal(raft_commit_index(R(1)), commit);
	h_free(&h);
}

/* Thesis 4.3: while joint, an entry commits only with a majority of C_old and a
 * majority of C_new; a majority of the new configuration alone is not enough. */
static void test_joint_new_majority_is_not_enough(void **state)
{
	(void)state;
	struct h h;
	h_init_spares(&h, 5, 3, false, false);
	h_elect(&h, 1);
	const raft_id v3[] = {1, 2, 3}, l45[] = {4, 5};
	assert_int_equal(h_change(&h, 1, v3, 3, l45, 2), 0);
	h_stabilize(&h);
	h_tick_all(&h, 3);
	h_isolate(&h, 2);
	h_isolate(&h, 3);
	const raft_id vnew[] = {1, 4, 5};
	raft_index commit = raft_commit_index(R(1));
	assert_int_equal(h_change(&h, 1, vnew, 3, NULL, 0), 0);
	h_stabilize(&h);
	h_tick_all(&h, 3);
	/* All of C_new (1, 4, 5) holds C_old,new; only 1 of C_old does. */
	raft_index match4 = 0;
	assert_true(raft_progress(R(1), 4, &match4, NULL));
	assert_int_equal(match4, raft_last_index(R(1)));
	assert_int_equal(raft_commit_index(R(1)), commit);
	assert_int_equal(raft_conf_current(R(1))->n_voters_old, 3);
	h_heal(&h);
	h_tick_all(&h, 6);
	assert_int_equal(raft_conf_current(R(1))->n_voters_old, 0);
	h_free(&h);
}

/* While joint, a majority of the old configuration alone does not commit either. */
static void test_joint_old_majority_is_not_enough(void **state)
{
	(void)state;
	struct h h;
	h_init_spares(&h, 5, 3, false, false);
	h_elect(&h, 1);
	const raft_id v3[] = {1, 2, 3}, l45[] = {4, 5};
	assert_int_equal(h_change(&h, 1, v3, 3, l45, 2), 0);
	h_stabilize(&h);
	h_tick_all(&h, 3);
	h_isolate(&h, 4);
	h_isolate(&h, 5);
	const raft_id vnew[] = {1, 4, 5};
	raft_index commit = raft_commit_index(R(1));
	assert_int_equal(h_change(&h, 1, vnew, 3, NULL, 0), 0);
	h_stabilize(&h);
	h_tick_all(&h, 3);
	/* Nodes 1, 2, 3 (all of C_old) hold C_old,new; only 1 of C_new does. */
	assert_int_equal(raft_commit_index(R(1)), commit);
	assert_int_equal(raft_conf_current(R(1))->n_voters_old, 3);
	h_heal(&h);
	h_tick_all(&h, 6);
	assert_int_equal(raft_conf_current(R(1))->n_voters_old, 0);
	h_free(&h);
}

/* Thesis 4.2.2: a leader removed from the configuration keeps leading until C_new
 * commits, then steps down; the rest elect a leader among themselves. */
static void test_remove_leader(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, true, true);
	h_elect(&h, 1);
	h_propose_n(&h, 1, 3);
	const raft_id v23[] = {2, 3};
	assert_int_equal(h_change(&h, 1, v23, 2, NULL, 0), 0);
	h_stabilize(&h);
	h_tick_all(&h, 30);
	assert_int_not_equal(raft_role(R(1)), RAFT_LEADER);
	raft_id l = h_leader(&h);
	assert_true(l == 2 || l == 3);
	assert_true(conf_equal_voters(raft_conf_current(R(l)), v23, 2));
	/* The cluster of two still commits. */
	raft_index before = raft_commit_index(R(l));
	h_propose_n(&h, l, 1);
	assert_true(raft_commit_index(R(l)) > before);
	h_free(&h);
}

/* A permanently dead member can be removed while a quorum of the configuration lives:
 * 5 voters, 2 dead; removing one needs 3 of the old 5 and 3 of the new 4. */
static void test_remove_dead_member(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 5, true, true);
	h_elect(&h, 1);
	h.nodes[3].up = false;
	h.nodes[4].up = false;
	const raft_id v4[] = {1, 2, 3, 4};
	assert_int_equal(h_change(&h, 1, v4, 4, NULL, 0), 0);
	h_stabilize(&h);
	h_tick_all(&h, 3);
	assert_true(conf_equal_voters(raft_conf_current(R(1)), v4, 4));
	assert_true(raft_conf_index(R(1)) <= raft_commit_index(R(1)));
	h.nodes[3].up = true;
	h.nodes[4].up = true;
	h_free(&h);
}

/* A removed node that never learns it was removed keeps timing out; with pre-vote and
 * check-quorum the cluster ignores it (thesis 4.2.3). */
static void test_removed_node_does_not_disrupt(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 4, true, true);
	h_elect(&h, 1);
	h_isolate(&h, 4);
	const raft_id v3[] = {1, 2, 3};
	assert_int_equal(h_change(&h, 1, v3, 3, NULL, 0), 0);
	h_stabilize(&h);
	h_tick_all(&h, 3);
	assert_true(conf_equal_voters(raft_conf_current(R(1)), v3, 3));
	raft_term t = raft_term_current(R(1));
	/* Node 4 still believes in the old configuration; let it reach the others. */
	h_heal(&h);
	h_tick_all(&h, 100);
	assert_int_equal(raft_role(R(1)), RAFT_LEADER);
	assert_int_equal(raft_term_current(R(1)), t);
	h_free(&h);
}

/* Thesis 4.1: a configuration in the log applies at once, and a truncated one reverts. */
static void test_truncated_configuration_reverts(void **state)
{
	(void)state;
	struct h h;
	h_init_spares(&h, 4, 3, false, false);
	h_elect(&h, 1);
	h_isolate(&h, 1);
	const raft_id v3[] = {1, 2, 3}, l4[] = {4};
	assert_int_equal(h_change(&h, 1, v3, 3, l4, 1), 0);
	assert_int_equal(raft_conf_current(R(1))->n_learners, 1);
	h_elect(&h, 2);
	h_heal(&h);
	h_tick_all(&h, 6);
	assert_int_equal(raft_conf_current(R(1))->n_learners, 0);
	assert_int_equal(raft_conf_current(R(1))->n_voters, 3);
	h_free(&h);
}

/* The scenario: 3 voters grow to 5 and shrink back to 3 (removing two of the
 * originals) while a client writes; every acknowledged write survives and the cluster
 * is never without a leader for longer than an election. */
static void test_grow_and_shrink_under_writes(void **state)
{
	(void)state;
	struct h h;
	h_init_spares(&h, 5, 3, true, true);
	h_elect(&h, 1);
	raft_term terms[200];
	raft_index indexes[200];
	int writes = 0;
	int steps = 0;
	const raft_id v3[] = {1, 2, 3}, l45[] = {4, 5}, v5[] = {1, 2, 3, 4, 5},
	              vfinal[] = {1, 4, 5};
	int stage = 0;
	uint32_t leaderless_ticks = 0, worst = 0;
	while (stage < 4 && steps++ < 400) {
		raft_id l = h_leader(&h);
		if (l == RAFT_NONE) {
			leaderless_ticks++;
			worst = leaderless_ticks > worst ? leaderless_ticks : worst;
			h_tick_all(&h, 1);
			continue;
		}
		leaderless_ticks = 0;
		char text[32];
		snprintf(text, sizeof(text), "w%d", writes);
		if (writes < 200 && h_propose(&h, l, text, &terms[writes], &indexes[writes]) == 0)
			writes++;
		int rv = RAFT_ECHANGING;
		if (stage == 0)
			rv = h_change(&h, l, v3, 3, l45, 2);
		else if (stage == 1)
			rv = h_change(&h, l, v5, 5, NULL, 0);
		else if (stage == 2)
			rv = h_change(&h, l, vfinal, 3, NULL, 0);
		else if (stage == 3 && conf_equal_voters(raft_conf_current(R(l)), vfinal, 3) &&
		         raft_conf_index(R(l)) <= raft_commit_index(R(l)))
			rv = 0;
		if (rv == 0)
			stage++;
		h_tick_all(&h, 1);
	}
	assert_int_equal(stage, 4);
	h_tick_all(&h, 10);
	raft_id l = h_leader(&h);
	assert_true(l == 1 || l == 4 || l == 5);
	assert_true(worst <= 2 * h.cfg.election_ticks);
	/* Every write the final leader committed is in the log of each final member with the
	 * term it was proposed in, or was overwritten before it could be acknowledged. */
	int kept = 0;
	for (int i = 0; i < writes; i++) {
		if (indexes[i] > raft_commit_index(R(l)))
			continue;
		if (raft_term_at(R(l), indexes[i]) != terms[i])
			continue; /* never acknowledged: another entry took the index */
		kept++;
		for (int j = 0; j < 3; j++)
			assert_int_equal(raft_term_at(R(vfinal[j]), indexes[i]), terms[i]);
	}
	assert_true(kept > 0);
	h_free(&h);
}

static void test_conf_encoding(void **state)
{
	(void)state;
	struct raft_conf c, d;
	memset(&c, 0, sizeof(c));
	c.n_voters = 3;
	c.voters[0] = 1;
	c.voters[1] = 2;
	c.voters[2] = 0x1122334455667788ull;
	c.n_voters_old = 1;
	c.voters_old[0] = 9;
	c.n_learners = 1;
	c.learners[0] = 7;
	unsigned char buf[512];
	size_t len = raft_conf_encoded_size(&c);
	assert_true(len <= sizeof(buf));
	raft_conf_encode(&c, buf);
	assert_int_equal(raft_conf_decode(buf, len, &d), 0);
	assert_int_equal(d.n_voters, 3);
	assert_int_equal(d.voters[2], 0x1122334455667788ull);
	assert_int_equal(d.voters_old[0], 9);
	assert_int_equal(d.learners[0], 7);
	/* Every truncation and a wrong version are refused. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(raft_conf_decode(buf, cut, &d), RAFT_ECORRUPT);
	buf[0] = 2;
	assert_int_equal(raft_conf_decode(buf, len, &d), RAFT_ECORRUPT);
	/* A duplicated id and a zero id are refused. */
	c.voters[1] = 1;
	raft_conf_encode(&c, buf);
	assert_int_equal(raft_conf_decode(buf, len, &d), RAFT_ECORRUPT);
	c.voters[1] = 0;
	raft_conf_encode(&c, buf);
	assert_int_equal(raft_conf_decode(buf, len, &d), RAFT_ECORRUPT);
}

static void test_change_config_errors(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	const raft_id v3[] = {1, 2, 3}, dup[] = {1, 1, 2};
	assert_int_equal(h_change(&h, 1, v3, 3, NULL, 0), RAFT_ENOTLEADER);
	h_elect(&h, 1);
	assert_int_equal(h_change(&h, 1, dup, 3, NULL, 0), RAFT_EINVAL);
	assert_int_equal(h_change(&h, 1, v3, 0, NULL, 0), RAFT_EINVAL);
	const raft_id both[] = {3};
	assert_int_equal(h_change(&h, 1, v3, 3, both, 1), RAFT_EINVAL);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_learner_then_promote),
	    cmocka_unit_test(test_promotion_needs_catch_up),
	    cmocka_unit_test(test_c_new_excludes_old_voters),
	    cmocka_unit_test(test_joint_new_majority_is_not_enough),
	    cmocka_unit_test(test_joint_old_majority_is_not_enough),
	    cmocka_unit_test(test_remove_leader),
	    cmocka_unit_test(test_remove_dead_member),
	    cmocka_unit_test(test_removed_node_does_not_disrupt),
	    cmocka_unit_test(test_truncated_configuration_reverts),
	    cmocka_unit_test(test_grow_and_shrink_under_writes),
	    cmocka_unit_test(test_conf_encoding),
	    cmocka_unit_test(test_change_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
