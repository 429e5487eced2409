/* test_raft.c: the core against the rules of the Raft paper (Figure 2, section 5), the
 * thesis extensions it implements, and the scenarios of the lecture notes. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define R(id) h_raft(&h, (id))

/* ---------------------------------------------------------------------------------
 * Elections
 */

/* 5.2: a candidate that wins votes from a majority becomes leader of its term, and
 * the others follow it. */
static void test_election_basic(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	assert_int_equal(raft_role(R(1)), RAFT_LEADER);
	assert_int_equal(raft_term_current(R(1)), 1);
	for (raft_id i = 2; i <= 3; i++) {
		assert_int_equal(raft_role(R(i)), RAFT_FOLLOWER);
		assert_int_equal(raft_leader(R(i)), 1);
		assert_int_equal(raft_vote(R(i)), 1);
	}
	/* 5.4.2 / thesis 6.4: the new leader's no-op commits everywhere. */
	assert_int_equal(raft_commit_index(R(1)), 1);
	assert_int_equal(raft_entry_at(R(1), 1)->type, RAFT_ENTRY_NOOP);
	h_free(&h);
}

/* 5.2: election timeouts fire on their own and one node wins. */
static void test_election_by_timeout(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 5, true, true);
	h_tick_all(&h, 40);
	raft_id l = h_leader(&h);
	assert_int_not_equal(l, RAFT_NONE);
	uint32_t leaders = 0;
	for (raft_id i = 1; i <= 5; i++)
		leaders += raft_role(R(i)) == RAFT_LEADER;
	assert_int_equal(leaders, 1);
	h_free(&h);
}

/* Lecture notes, 5.4.1: S1 holds terms 5 6 7, S2 and S3 hold 5 8. S1 has the longest
 * log but a lower last term, so it cannot win; S2 can. */
static void test_election_restriction_lecture(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	const raft_term s1[] = {5, 6, 7}, s23[] = {5, 8};
	h_boot(&h, 1, s1, 3, 8);
	h_boot(&h, 2, s23, 2, 8);
	h_boot(&h, 3, s23, 2, 8);
	h_elect(&h, 1);
	assert_int_not_equal(raft_role(R(1)), RAFT_LEADER);
	assert_int_equal(raft_vote(R(2)), RAFT_NONE);
	assert_int_equal(raft_vote(R(3)), RAFT_NONE);

	h_elect(&h, 2);
	assert_int_equal(raft_role(R(2)), RAFT_LEADER);
	/* S1's entries 2 and 3 (terms 6 and 7) were never committed; S2 overwrites them. */
	h_tick_all(&h, 3);
	assert_int_equal(raft_term_at(R(1), 2), 8);
	assert_int_equal(raft_last_index(R(1)), raft_last_index(R(2)));
	h_free(&h);
}

/* Figure 2, RequestVote: at most one vote per term, and it survives a restart. */
static void test_vote_once_per_term(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	struct raft_message m = {.type = RAFT_MSG_VOTE, .from = 2, .to = 1, .term = 4};
	raft_step(R(1), &m);
	h_ready(&h, 1);
	assert_int_equal(raft_vote(R(1)), 2);
	struct raft_message *resp = h_find(&h, 1, 2, RAFT_MSG_VOTE_RESP);
	assert_non_null(resp);
	assert_false(resp->reject);

	h_restart(&h, 1);
	assert_int_equal(raft_term_current(R(1)), 4);
	assert_int_equal(raft_vote(R(1)), 2);
	m.from = 3;
	raft_step(R(1), &m);
	h_ready(&h, 1);
	resp = h_find(&h, 1, 3, RAFT_MSG_VOTE_RESP);
	assert_non_null(resp);
	assert_true(resp->reject);
	h_free(&h);
}

/* Figure 2, persistence before speech: a vote grant leaves only in the batch's
 * persisted_messages, in the same batch as the hard state it depends on. */
static void test_vote_waits_for_persistence(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_ready(&h, 1);
	struct raft_message m = {.type = RAFT_MSG_VOTE, .from = 2, .to = 1, .term = 2};
	raft_step(R(1), &m);
	struct raft_ready rd;
	raft_ready(R(1), &rd);
	assert_true(rd.has_hard_state);
	assert_int_equal(rd.hard_state.term, 2);
	assert_int_equal(rd.hard_state.vote, 2);
	assert_int_equal(rd.n_messages, 0);
	assert_int_equal(rd.n_persisted_messages, 1);
	assert_int_equal(rd.persisted_messages[0].type, RAFT_MSG_VOTE_RESP);
	raft_advance(R(1), &rd);
	h_free(&h);
}

/* Figure 2 (AppendEntries receiver) with persistence: the acknowledgement travels with
 * the entries it acknowledges and is released only after they are durable. */
static void test_append_ack_waits_for_persistence(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1); /* every node now holds the no-op at index 1 */
	assert_int_equal(raft_last_index(R(3)), 1);
	struct raft_entry e = {
	    .term = 1, .index = 2, .type = RAFT_ENTRY_NORMAL, .buf = raft_buf_new("y", 1)};
	struct raft_message m = {.type = RAFT_MSG_APPEND,
	                         .from = 1,
	                         .to = 3,
	                         .term = 1,
	                         .index = 1,
	                         .log_term = 1,
	                         .commit = 1,
	                         .n_entries = 1,
	                         .entries = &e};
	raft_step(R(3), &m);
	struct raft_ready rd;
	raft_ready(R(3), &rd);
	for (uint32_t i = 0; i < rd.n_messages; i++)
		assert_int_not_equal(rd.messages[i].type, RAFT_MSG_APPEND_RESP);
	assert_int_equal(rd.n_entries, 1);
	assert_int_equal(rd.entries[0].index, 2);
	assert_int_equal(rd.n_persisted_messages, 1);
	assert_int_equal(rd.persisted_messages[0].type, RAFT_MSG_APPEND_RESP);
	assert_int_equal(rd.persisted_messages[0].index, 2);
	assert_false(rd.persisted_messages[0].reject);
	raft_advance(R(3), &rd);
	assert_int_equal(raft_persisted_index(R(3)), 2);
	raft_buf_unref(e.buf);
	h_free(&h);
}

/* Thesis 9.6: a partitioned node keeps failing its pre-vote, so its term does not grow
 * and it does not depose the leader when it returns. */
static void test_prevote_keeps_term(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, true, true);
	h_elect(&h, 1);
	raft_term t = raft_term_current(R(1));
	h_isolate(&h, 3);
	for (int i = 0; i < 100; i++) {
		h_tick_all(&h, 1);
	}
	assert_int_equal(raft_term_current(R(3)), t);
	assert_int_not_equal(raft_role(R(3)), RAFT_CANDIDATE);
	h_heal(&h);
	h_tick_all(&h, 5);
	assert_int_equal(h_leader(&h), 1);
	assert_int_equal(raft_term_current(R(1)), t);
	h_free(&h);
}

/* Without pre-vote, the same node comes back with a higher term and forces an
 * election: the contrast shows what pre-vote buys. */
static void test_no_prevote_disrupts(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	raft_term t = raft_term_current(R(1));
	h_isolate(&h, 3);
	h_tick_all(&h, 60);
	assert_true(raft_term_current(R(3)) > t);
	h_heal(&h);
	h_tick_all(&h, 3);
	assert_true(raft_term_current(R(1)) > t);
	h_free(&h);
}

/* Thesis 6.2 (check-quorum): a leader that hears from no quorum for an election
 * timeout steps down. */
static void test_check_quorum_steps_down(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, true, true);
	h_elect(&h, 1);
	h_isolate(&h, 1);
	h_tick(&h, 1, 2 * h.cfg.election_ticks + 1);
	assert_int_equal(raft_role(R(1)), RAFT_FOLLOWER);
	h_free(&h);
}

/* Thesis 4.2.3: a follower that heard from its leader within the election timeout
 * ignores a RequestVote of a higher term, unless it follows a leadership transfer. */
static void test_leader_lease_ignores_votes(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, true, true);
	h_elect(&h, 1);
	raft_term t = raft_term_current(R(2));
	struct raft_message m = {.type = RAFT_MSG_VOTE,
	                         .from = 3,
	                         .to = 2,
	                         .term = t + 5,
	                         .index = 100,
	                         .log_term = 100};
	raft_step(R(2), &m);
	assert_int_equal(raft_term_current(R(2)), t);
	assert_int_equal(raft_leader(R(2)), 1);
	m.transfer = true;
	raft_step(R(2), &m);
	assert_int_equal(raft_term_current(R(2)), t + 5);
	h_free(&h);
}

/* Figure 2, all servers: a message of a higher term turns a leader into a follower;
 * a message of a lower term is ignored. */
static void test_term_rules(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	raft_term t = raft_term_current(R(1));
	struct raft_message stale = {
	    .type = RAFT_MSG_APPEND_RESP, .from = 2, .to = 1, .term = t - 1, .index = 999};
	raft_step(R(1), &stale);
	assert_int_equal(raft_role(R(1)), RAFT_LEADER);
	struct raft_message higher = {
	    .type = RAFT_MSG_HEARTBEAT_RESP, .from = 2, .to = 1, .term = t + 1};
	raft_step(R(1), &higher);
	assert_int_equal(raft_role(R(1)), RAFT_FOLLOWER);
	assert_int_equal(raft_term_current(R(1)), t + 1);
	h_free(&h);
}

/* ---------------------------------------------------------------------------------
 * Replication and fast backup
 */

/* Boots leader 1 with `leader_log` and node 2 with `follower_log`; node 3 copies the
 * leader so that 1 can win. Returns node 1's first append to node 2 answered by the
 * rejection, with nextIndex read back after the leader processed it. */
static raft_index backup_next(const raft_term *leader_log, uint32_t nl,
                              const raft_term *follower_log, uint32_t nf, raft_term *xterm,
                              raft_index *xindex, raft_index *xlen, bool *converged)
{
	struct h h;
	h_init(&h, 3, false, false);
	h_boot(&h, 1, leader_log, nl, 6);
	h_boot(&h, 2, follower_log, nf, 6);
	h_boot(&h, 3, leader_log, nl, 6);
	h_isolate(&h, 2);
	h_elect(&h, 1);
	assert_int_equal(raft_role(R(1)), RAFT_LEADER);
	h_heal(&h);
	h_drop(&h, 0, 0, 0);
	/* The leader's next heartbeat answer from 2 triggers a probe at nextIndex. */
	h_tick(&h, 1, h.cfg.heartbeat_ticks);
	h_drop(&h, 1, 3, 0);
	assert_true(h_deliver_one(&h, 1, 2, RAFT_MSG_HEARTBEAT));
	h_drop(&h, 1, 2, RAFT_MSG_HEARTBEAT);
	assert_true(h_deliver_one(&h, 2, 1, RAFT_MSG_HEARTBEAT_RESP));
	/* The probe: prevLogIndex = the leader's last index before its no-op. */
	struct raft_message *probe = h_find(&h, 1, 2, RAFT_MSG_APPEND);
	assert_non_null(probe);
	assert_int_equal(probe->index, nl);
	assert_true(h_deliver_one(&h, 1, 2, RAFT_MSG_APPEND));
	struct raft_message *rej = h_find(&h, 2, 1, RAFT_MSG_APPEND_RESP);
	assert_non_null(rej);
	assert_true(rej->reject);
	*xterm = rej->xterm;
	*xindex = rej->xindex;
	*xlen = rej->xlen;
	assert_true(h_deliver_one(&h, 2, 1, RAFT_MSG_APPEND_RESP));
	raft_index next = 0;
	assert_true(raft_progress(R(1), 2, NULL, &next));
	h_stabilize(&h);
	h_tick_all(&h, 3);
	*converged = raft_last_index(R(2)) == raft_last_index(R(1)) &&
	             raft_last_term(R(2)) == raft_last_term(R(1)) &&
	             raft_term_at(R(2), 2) == raft_term_at(R(1), 2);
	h_free(&h);
	return next;
}

/* Lecture notes, fast backup case 1: the follower holds terms 4 5 5 5 and the leader
 * 4 6 6 6. The leader has no entry of XTerm 5, so nextIndex jumps to XIndex = 2. */
static void test_fast_backup_case1(void **state)
{
	(void)state;
	const raft_term l[] = {4, 6, 6, 6}, f[] = {4, 5, 5, 5};
	raft_term xterm;
	raft_index xindex, xlen;
	bool converged;
	raft_index next = backup_next(l, 4, f, 4, &xterm, &xindex, &xlen, &converged);
	assert_int_equal(xterm, 5);
	assert_int_equal(xindex, 2);
	assert_int_equal(next, 2);
	assert_true(converged);
}

/* Case 2: the follower holds 4 4 4 4, the leader 4 6 6 6. The leader has XTerm 4,
 * last at index 1, so nextIndex = 2. */
static void test_fast_backup_case2(void **state)
{
	(void)state;
	const raft_term l[] = {4, 6, 6, 6}, f[] = {4, 4, 4, 4};
	raft_term xterm;
	raft_index xindex, xlen;
	bool converged;
	raft_index next = backup_next(l, 4, f, 4, &xterm, &xindex, &xlen, &converged);
	assert_int_equal(xterm, 4);
	assert_int_equal(xindex, 1);
	assert_int_equal(next, 2);
	assert_true(converged);
}

/* Case 3: the follower holds only 4; its log is too short, XLen = 1, so nextIndex = 2. */
static void test_fast_backup_case3(void **state)
{
	(void)state;
	const raft_term l[] = {4, 6, 6, 6}, f[] = {4};
	raft_term xterm;
	raft_index xindex, xlen;
	bool converged;
	raft_index next = backup_next(l, 4, f, 1, &xterm, &xindex, &xlen, &converged);
	assert_int_equal(xterm, 0);
	assert_int_equal(xlen, 1);
	assert_int_equal(next, 2);
	assert_true(converged);
}

/* 5.3: a follower deletes a conflicting suffix and takes the leader's entries. */
static void test_conflicting_suffix_replaced(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	const raft_term l[] = {1, 1, 2}, f[] = {1, 1, 1, 1, 1};
	h_boot(&h, 1, l, 3, 2);
	h_boot(&h, 2, f, 5, 2);
	h_boot(&h, 3, l, 3, 2);
	h_elect(&h, 1);
	h_tick_all(&h, 3);
	assert_int_equal(raft_last_index(R(2)), 4);
	assert_int_equal(raft_term_at(R(2), 3), 2);
	assert_int_equal(raft_term_at(R(2), 4), 3);
	h_free(&h);
}

/* Batching and pipelining: appends carry at most max_msg_entries entries, and at most
 * max_inflight_msgs appends wait for answers at once. */
static void test_batching_and_inflight_window(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h.cfg.max_msg_entries = 3;
	h.cfg.max_inflight_msgs = 2;
	for (raft_id i = 1; i <= 3; i++)
		h_restart(&h, i);
	h_elect(&h, 1);
	for (int i = 0; i < 20; i++)
		assert_int_equal(h_propose(&h, 1, "batch", NULL, NULL), 0);
	h_ready(&h, 1);
	uint32_t appends = 0;
	for (uint32_t i = 0; i < h.n_q; i++) {
		const struct raft_message *m = &h.q[i];
		if (m->type != RAFT_MSG_APPEND || m->to != 2)
			continue;
		appends++;
		assert_true(m->n_entries <= 3);
	}
	assert_int_equal(appends, 2);
	h_stabilize(&h);
	assert_int_equal(raft_last_index(R(2)), raft_last_index(R(1)));
	assert_int_equal(raft_commit_index(R(1)), raft_last_index(R(1)));
	h_free(&h);
}

/* Figure 2: heartbeats carry the commit index, so followers learn it without new
 * entries; never beyond what the follower is known to hold. */
static void test_heartbeat_carries_commit(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	raft_index idx;
	h_propose(&h, 1, "a", NULL, &idx);
	/* Deliver the append and its acknowledgement, but not the commit update. */
	assert_true(h_deliver_one(&h, 1, 2, RAFT_MSG_APPEND));
	assert_true(h_deliver_one(&h, 2, 1, RAFT_MSG_APPEND_RESP));
	assert_int_equal(raft_commit_index(R(1)), idx);
	h_drop(&h, 1, 0, RAFT_MSG_APPEND);
	assert_true(raft_commit_index(R(2)) < idx);
	h_tick(&h, 1, h.cfg.heartbeat_ticks);
	struct raft_message *hb3 = h_find(&h, 1, 3, RAFT_MSG_HEARTBEAT);
	assert_non_null(hb3);
	assert_true(hb3->commit < idx); /* node 3 does not hold idx yet */
	assert_true(h_deliver_one(&h, 1, 2, RAFT_MSG_HEARTBEAT));
	assert_int_equal(raft_commit_index(R(2)), idx);
	h_free(&h);
}

/* ---------------------------------------------------------------------------------
 * Commitment
 */

/* 5.4.2, Figure 8: a leader does not commit an entry of an earlier term by counting
 * replicas, even once a majority holds it; it commits it together with an entry of its
 * own term. */
static void test_figure8_old_term_not_committed_by_counting(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 5, false, false);
	h.cfg.max_msg_entries = 1; /* one entry per append, so we can stop in between */
	const raft_term s1[] = {1, 2}, others[] = {1};
	for (raft_id i = 1; i <= 5; i++)
		h_boot(&h, i, i == 1 ? s1 : others, i == 1 ? 2 : 1, 3);
	/* S1 wins term 4 with S2 and S3; S4 and S5 hear nothing. */
	h_isolate(&h, 4);
	h_isolate(&h, 5);
	raft_campaign(R(1));
	h_ready(&h, 1);
	for (raft_id f = 2; f <= 3; f++) {
		assert_true(h_deliver_one(&h, 1, f, RAFT_MSG_VOTE));
		assert_true(h_deliver_one(&h, f, 1, RAFT_MSG_VOTE_RESP));
	}
	assert_int_equal(raft_role(R(1)), RAFT_LEADER);
	assert_int_equal(raft_term_current(R(1)), 4);
	/* Replicate only index 2 (term 2) to S2 and S3: a majority holds it. */
	h_drop(&h, 0, 0, 0);
	h_tick(&h, 1, h.cfg.heartbeat_ticks);
	for (raft_id f = 2; f <= 3; f++) {
		assert_true(h_deliver_one(&h, 1, f, RAFT_MSG_HEARTBEAT));
		assert_true(h_deliver_one(&h, f, 1, RAFT_MSG_HEARTBEAT_RESP));
		h_drop(&h, 1, f, RAFT_MSG_HEARTBEAT);
	}
	for (raft_id f = 2; f <= 3; f++) {
		/* The first probe (prevLogIndex 2) is rejected: f's log is too short. */
		assert_true(h_deliver_one(&h, 1, f, RAFT_MSG_APPEND));
		struct raft_message *rej = h_find(&h, f, 1, RAFT_MSG_APPEND_RESP);
		assert_non_null(rej);
		assert_true(rej->reject);
		assert_true(h_deliver_one(&h, f, 1, RAFT_MSG_APPEND_RESP));
		struct raft_message *m = h_find(&h, 1, f, RAFT_MSG_APPEND);
		assert_non_null(m);
		assert_int_equal(m->n_entries, 1);
		assert_int_equal(m->entries[0].index, 2);
		assert_int_equal(m->entries[0].term, 2);
		assert_true(h_deliver_one(&h, 1, f, RAFT_MSG_APPEND));
		assert_true(h_deliver_one(&h, f, 1, RAFT_MSG_APPEND_RESP));
		h_drop(&h, 1, f, RAFT_MSG_APPEND); /* hold back the no-op */
	}
	raft_index match2 = 0, match3 = 0;
	assert_true(raft_progress(R(1), 2, &match2, NULL));
	assert_true(raft_progress(R(1), 3, &match3, NULL));
	assert_int_equal(match2, 2);
	assert_int_equal(match3, 2);
	/* A majority (S1, S2, S3) holds index 2, but it is of term 2: not committed. */
	assert_true(raft_commit_index(R(1)) < 2);
	/* Once the term-4 no-op reaches a majority, both commit together. */
	h_heal(&h);
	h_isolate(&h, 4);
	h_isolate(&h, 5);
	h_tick_all(&h, 3 * h.cfg.heartbeat_ticks + 2); /* the dropped no-op is resent */
	assert_int_equal(raft_commit_index(R(1)), 3);
	h_free(&h);
}

/* Lecture notes and 5.4.2: a leader that loses leadership between appending a
 * proposal and its commit. Another leader fills the index with its own entry; the
 * entry applied there carries another term, so the proposer must hear failure. */
static void test_lost_leadership_proposer_not_told_success(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	raft_term term;
	raft_index index;
	h_isolate(&h, 1);
	assert_int_equal(h_propose(&h, 1, "doomed", &term, &index), 0);
	h_stabilize(&h);
	/* The others elect node 2, whose no-op takes the same index. */
	h_elect(&h, 2);
	assert_int_equal(raft_role(R(2)), RAFT_LEADER);
	h_heal(&h);
	h_tick_all(&h, 4);
	assert_int_equal(raft_role(R(1)), RAFT_FOLLOWER);
	assert_true(h.nodes[0].applied >= index);
	/* What node 1 applied at `index` is not the entry it proposed. */
	assert_int_not_equal(h.nodes[0].applied_terms[index], term);
	assert_int_equal(h.nodes[0].applied_terms[index], raft_term_current(R(2)));
	h_free(&h);
}

/* A proposal that does commit is applied at its index with its term (the success
 * case of the rule above). */
static void test_proposal_applied_with_its_term(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	raft_term term;
	raft_index index;
	assert_int_equal(h_propose(&h, 1, "kept", &term, &index), 0);
	h_stabilize(&h);
	for (int i = 0; i < 3; i++) {
		assert_true(h.nodes[i].applied >= index);
		assert_int_equal(h.nodes[i].applied_terms[index], term);
	}
	assert_int_equal(h_propose(&h, 2, "not leader", NULL, NULL), RAFT_ENOTLEADER);
	h_free(&h);
}

/* Thesis 10.2.1: the leader counts itself toward a quorum only once its own write is
 * durable, even when the followers already acknowledged. */
static void test_leader_counts_itself_after_persisting(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	raft_index idx;
	assert_int_equal(raft_propose(R(1), "p", 1, NULL, &idx), 0);
	struct raft_ready rd;
	raft_ready(R(1), &rd); /* the appends go out; the leader's own write is not done */
	assert_int_equal(rd.n_entries, 1);
	struct raft_message *ack = NULL;
	for (uint32_t i = 0; i < rd.n_messages; i++) {
		struct raft_message *m = &rd.messages[i];
		if (m->type != RAFT_MSG_APPEND || m->to != 2)
			continue;
		raft_step(R(2), m);
		h_ready(&h, 2);
		ack = h_find(&h, 2, 1, RAFT_MSG_APPEND_RESP);
	}
	assert_non_null(ack);
	assert_false(ack->reject);
	raft_step(R(1), ack);
	raft_index match = 0;
	assert_true(raft_progress(R(1), 2, &match, NULL));
	assert_int_equal(match, idx);
	/* Node 2 and an undurable leader: not yet a majority of three. */
	assert_int_equal(raft_persisted_index(R(1)), idx - 1);
	assert_int_equal(raft_commit_index(R(1)), idx - 1);
	raft_advance(R(1), &rd);
	assert_int_equal(raft_commit_index(R(1)), idx);
	h_free(&h);
}

/* ---------------------------------------------------------------------------------
 * Leadership transfer, step-down, reads
 */

/* Thesis 3.10: transfer brings the target up to date, then it wins at once;
 * proposals are refused meanwhile. */
static void test_transfer_leadership(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, true, true);
	h_elect(&h, 1);
	raft_term t = raft_term_current(R(1));
	h_propose(&h, 1, "before", NULL, NULL);
	assert_int_equal(raft_transfer_leader(R(1), 3), 0);
	assert_int_equal(raft_propose(R(1), "x", 1, NULL, NULL), RAFT_EBUSY);
	h_stabilize(&h);
	assert_int_equal(raft_role(R(3)), RAFT_LEADER);
	assert_int_equal(raft_term_current(R(3)), t + 1);
	assert_int_equal(raft_role(R(1)), RAFT_FOLLOWER);
	assert_int_equal(raft_transfer_leader(R(1), 2), RAFT_ENOTLEADER);
	assert_int_equal(raft_transfer_leader(R(3), 9), RAFT_ENOPEER);
	h_free(&h);
}

/* A transfer whose target never answers is abandoned after an election timeout. */
static void test_transfer_times_out(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, true, true);
	h_elect(&h, 1);
	h_isolate(&h, 3);
	assert_int_equal(raft_transfer_leader(R(1), 3), 0);
	h_tick(&h, 1, h.cfg.election_ticks - 1);
	h_stabilize(&h);
	assert_int_equal(raft_propose(R(1), "x", 1, NULL, NULL), RAFT_EBUSY);
	h_tick(&h, 1, 1);
	assert_int_equal(raft_transferee(R(1)), RAFT_NONE);
	assert_int_equal(raft_propose(R(1), "x", 1, NULL, NULL), 0);
	h_free(&h);
}

/* Step-down hands leadership to the most up-to-date voter. */
static void test_step_down(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, true, true);
	h_elect(&h, 1);
	h_isolate(&h, 2);
	h_propose(&h, 1, "only-3-has-it", NULL, NULL);
	h_stabilize(&h);
	h_heal(&h);
	assert_int_equal(raft_step_down(R(1)), 0);
	h_stabilize(&h);
	assert_int_equal(raft_role(R(3)), RAFT_LEADER);
	h_free(&h);
}

/* Thesis 6.4: a read waits for the leader's no-op to commit and for a quorum to confirm
 * leadership, then carries the commit index. */
static void test_read_index(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	assert_int_equal(raft_read_index(R(1), 1), RAFT_ENOTLEADER);
	raft_campaign(R(1));
	h_ready(&h, 1);
	h_deliver_one(&h, 1, 2, RAFT_MSG_VOTE);
	h_deliver_one(&h, 2, 1, RAFT_MSG_VOTE_RESP);
	assert_int_equal(raft_role(R(1)), RAFT_LEADER);
	/* Leader, but its no-op is not committed: the read must wait. */
	assert_int_equal(raft_read_index(R(1), 42), 0);
	h_ready(&h, 1);
	assert_int_equal(h.nodes[0].n_reads, 0);
	h_stabilize(&h);
	assert_int_equal(h.nodes[0].n_reads, 1);
	assert_int_equal(h.nodes[0].reads[0].context, 42);
	assert_int_equal(h.nodes[0].reads[0].index, raft_commit_index(R(1)));
	h_free(&h);
}

/* A deposed leader cut off from the others never confirms a read. */
static void test_read_index_isolated_leader(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_isolate(&h, 1);
	assert_int_equal(raft_read_index(R(1), 7), 0);
	h_tick_all(&h, 5);
	assert_int_equal(h.nodes[0].n_reads, 0);
	h_free(&h);
}

/* A single voter commits and confirms reads by itself, once its writes are durable. */
static void test_single_node(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 1, true, true);
	h_tick_all(&h, 25);
	assert_int_equal(raft_role(R(1)), RAFT_LEADER);
	raft_index idx;
	assert_int_equal(h_propose(&h, 1, "solo", NULL, &idx), 0);
	assert_int_equal(raft_commit_index(R(1)), idx);
	assert_int_equal(raft_read_index(R(1), 5), 0);
	h_ready(&h, 1);
	assert_int_equal(h.nodes[0].n_reads, 1);
	assert_int_equal(h.nodes[0].reads[0].index, idx);
	h_free(&h);
}

/* ---------------------------------------------------------------------------------
 * Boot, restart and input validation
 */

/* A restarted node keeps its term, vote and log (Figure 2, persistent state). */
static void test_restart_keeps_state(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_propose(&h, 1, "a", NULL, NULL);
	h_stabilize(&h);
	raft_term t = raft_term_current(R(2));
	raft_index last = raft_last_index(R(2));
	h_restart(&h, 2);
	assert_int_equal(raft_term_current(R(2)), t);
	assert_int_equal(raft_vote(R(2)), 1);
	assert_int_equal(raft_last_index(R(2)), last);
	h_free(&h);
}

static void test_boot_rejects_corrupt_state(void **state)
{
	(void)state;
	struct raft_config cfg;
	raft_config_default(&cfg, 1);
	struct raft_entry gap[2] = {{.term = 1, .index = 1, .type = RAFT_ENTRY_NORMAL},
	                            {.term = 1, .index = 3, .type = RAFT_ENTRY_NORMAL}};
	struct raft_boot boot = {.hard_state = {.term = 1}, .entries = gap, .n_entries = 2};
	boot.conf.n_voters = 1;
	boot.conf.voters[0] = 1;
	struct raft *r = NULL;
	assert_int_equal(raft_new(&r, &cfg, &boot), RAFT_ECORRUPT);
	struct raft_entry down[2] = {{.term = 2, .index = 1, .type = RAFT_ENTRY_NORMAL},
	                             {.term = 1, .index = 2, .type = RAFT_ENTRY_NORMAL}};
	boot.entries = down;
	boot.hard_state.term = 2;
	assert_int_equal(raft_new(&r, &cfg, &boot), RAFT_ECORRUPT);
	boot.hard_state.term = 1; /* a log term above the stored current term */
	boot.entries = down;
	boot.n_entries = 1;
	assert_int_equal(raft_new(&r, &cfg, &boot), RAFT_ECORRUPT);
	cfg.id = 0;
	assert_int_equal(raft_new(&r, &cfg, &boot), RAFT_EINVAL);
	assert_null(r);
}

/* Messages from the network that no correct peer sends are ignored, not fatal. */
static void test_malformed_messages_ignored(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	raft_index last = raft_last_index(R(2));
	struct raft_entry bad = {.term = 99, .index = 50, .type = RAFT_ENTRY_NORMAL};
	struct raft_message m = {.type = RAFT_MSG_APPEND,
	                         .from = 1,
	                         .to = 2,
	                         .term = raft_term_current(R(1)),
	                         .index = last,
	                         .log_term = raft_last_term(R(2)),
	                         .n_entries = 1,
	                         .entries = &bad};
	raft_step(R(2), &m); /* wrong index and a term above the leader's */
	assert_int_equal(raft_last_index(R(2)), last);
	struct raft_message odd = {.type = (enum raft_msg_type)77, .from = 1, .to = 2};
	assert_int_equal(raft_step(R(2), &odd), 0);
	struct raft_message self = {.type = RAFT_MSG_VOTE, .from = 2, .to = 2, .term = 50};
	raft_step(R(2), &self);
	assert_int_not_equal(raft_term_current(R(2)), 50);
	struct raft_message wrong_to = {.type = RAFT_MSG_VOTE, .from = 1, .to = 3};
	assert_int_equal(raft_step(R(2), &wrong_to), RAFT_EINVAL);
	struct raft_message huge_ack = {.type = RAFT_MSG_APPEND_RESP,
	                                .from = 2,
	                                .to = 1,
	                                .term = raft_term_current(R(1)),
	                                .index = 1000000};
	raft_step(R(1), &huge_ack);
	raft_index match = 0;
	raft_progress(R(1), 2, &match, NULL);
	assert_true(match <= raft_last_index(R(1)));
	h_free(&h);
}

static void test_error_strings(void **state)
{
	(void)state;
	assert_string_equal(raft_strerror(RAFT_OK), "ok");
	assert_string_equal(raft_strerror(RAFT_ENOTLEADER), "this node is not the leader");
	assert_string_equal(raft_strerror(-1), "unknown error");
	assert_string_equal(raft_strerror(1000), "unknown error");
}

/* raft_resign: the leader becomes a follower of its own term, keeping its vote; a vote
 * request for another candidate in that term is refused; the others elect a new leader. */
static void test_resign(void **state)
{
	(void)state;
	struct h h;
	h_init(&h, 3, false, false);
	h_elect(&h, 1);
	h_propose_n(&h, 1, 2);
	raft_term term = raft_term_current(R(1));
	assert_int_equal(raft_resign(R(2)), RAFT_ENOTLEADER);
	assert_int_equal(raft_resign(R(1)), RAFT_OK);
	assert_int_equal(raft_role(R(1)), RAFT_FOLLOWER);
	assert_int_equal(raft_term_current(R(1)), term);
	assert_int_equal(raft_vote(R(1)), 1);
	h_ready(&h, 1);
	h_drop(&h, 0, 0, 0);
	struct raft_message vote = {.type = RAFT_MSG_VOTE,
	                            .from = 3,
	                            .to = 1,
	                            .term = term,
	                            .index = raft_last_index(R(1)),
	                            .log_term = raft_last_term(R(1))};
	assert_int_equal(raft_step(R(1), &vote), RAFT_OK);
	h_ready(&h, 1);
	struct raft_message *resp = h_find(&h, 1, 3, RAFT_MSG_VOTE_RESP);
	assert_non_null(resp);
	assert_true(resp->reject);
	h_drop(&h, 0, 0, 0);
	h_isolate(&h, 1); /* it would win again at once otherwise: the test wants another */
	for (int i = 0; i < 40 && h_leader(&h) == RAFT_NONE; i++)
		h_tick_all(&h, 5);
	raft_id l = h_leader(&h);
	assert_true(l == 2 || l == 3);
	assert_true(raft_term_current(R(l)) > term);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_election_basic),
	    cmocka_unit_test(test_election_by_timeout),
	    cmocka_unit_test(test_election_restriction_lecture),
	    cmocka_unit_test(test_vote_once_per_term),
	    cmocka_unit_test(test_vote_waits_for_persistence),
	    cmocka_unit_test(test_append_ack_waits_for_persistence),
	    cmocka_unit_test(test_prevote_keeps_term),
	    cmocka_unit_test(test_no_prevote_disrupts),
	    cmocka_unit_test(test_check_quorum_steps_down),
	    cmocka_unit_test(test_leader_lease_ignores_votes),
	    cmocka_unit_test(test_term_rules),
	    cmocka_unit_test(test_fast_backup_case1),
	    cmocka_unit_test(test_fast_backup_case2),
	    cmocka_unit_test(test_fast_backup_case3),
	    cmocka_unit_test(test_conflicting_suffix_replaced),
	    cmocka_unit_test(test_batching_and_inflight_window),
	    cmocka_unit_test(test_heartbeat_carries_commit),
	    cmocka_unit_test(test_figure8_old_term_not_committed_by_counting),
	    cmocka_unit_test(test_lost_leadership_proposer_not_told_success),
	    cmocka_unit_test(test_proposal_applied_with_its_term),
	    cmocka_unit_test(test_leader_counts_itself_after_persisting),
	    cmocka_unit_test(test_transfer_leadership),
	    cmocka_unit_test(test_transfer_times_out),
	    cmocka_unit_test(test_step_down),
	    cmocka_unit_test(test_read_index),
	    cmocka_unit_test(test_read_index_isolated_leader),
	    cmocka_unit_test(test_single_node),
	    cmocka_unit_test(test_restart_keeps_state),
	    cmocka_unit_test(test_boot_rejects_corrupt_state),
	    cmocka_unit_test(test_malformed_messages_ignored),
	    cmocka_unit_test(test_error_strings),
	    cmocka_unit_test(test_resign),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
