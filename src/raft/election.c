/* election.c: leader election (5.2), the election restriction (5.4.1), pre-vote
 * (thesis 9.6) and the transitions between roles. */
#include "raft/impl.h"

#include <stdlib.h>
#include <string.h>

void election_drop_leader_state(struct raft *r)
{
	for (uint32_t i = 0; i < r->n_prs; i++)
		progress_free(&r->prs[i]);
	free(r->prs);
	r->prs = NULL;
	r->n_prs = 0;
	r->transferee = RAFT_NONE;
	r->append_pending = false;
	read_drop_all(r);
}

void election_become_follower(struct raft *r, raft_term term, raft_id leader)
{
	assert(term >= r->term);
	if (term > r->term) {
		r->term = term;
		r->vote = RAFT_NONE;
	}
	if (r->role == RAFT_LEADER)
		election_drop_leader_state(r);
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
	r->n_votes = 0;
	raft_reset_election_timer(r);
}

bool election_log_up_to_date(const struct raft *r, raft_index index, raft_term term)
{
	/* 5.4.1: the log with the later last term is more up-to-date; with equal last
	 * terms, the longer log is. */
	raft_term our_term = log_last_term(&r->log);
	if (term != our_term)
		return term > our_term;
	return index >= log_last_index(&r->log);
}

bool election_catch_up_done(const struct raft *r)
{
	/* Durable, not merely appended: the node must hold the entries itself. */
	return r->catch_up_heard && r->persisted >= r->catch_up_to &&
	       log_last_index(&r->log) >= r->catch_up_to;
}

bool election_catching_up(struct raft *r)
{
	if (r->catch_up && election_catch_up_done(r))
		r->catch_up = false;
	return r->catch_up;
}

void election_note_leader_commit(struct raft *r, raft_index commit, bool append)
{
	if (!r->catch_up)
		return;
	/* A heartbeat's commit index is capped at what the leader believes we hold, so
	 * only an AppendEntries (the leader's whole commit index) ends the wait; both
	 * raise the target. */
	if (commit > r->catch_up_to)
		r->catch_up_to = commit;
	if (append)
		r->catch_up_heard = true;
}

static void record_vote(struct raft *r, raft_id id, bool granted)
{
	for (uint32_t i = 0; i < r->n_votes; i++)
		if (r->votes[i].id == id)
			return; /* a duplicated response counts once */
	if (r->n_votes == sizeof(r->votes) / sizeof(r->votes[0]))
		return;
	r->votes[r->n_votes++] = (struct vote){id, granted};
}

static void tally(struct raft *r)
{
	switch (quorum_vote_result(&r->conf, r->votes, r->n_votes)) {
	case VOTE_WON:
		if (r->role == RAFT_PRECANDIDATE)
			election_start(r, false, false);
		else
			election_become_leader(r);
		break;
	case VOTE_LOST:
		election_become_follower(r, r->term, RAFT_NONE);
		break;
	case VOTE_PENDING:
		break;
	}
}

void election_start(struct raft *r, bool pre_vote, bool transfer)
{
	assert(raft_is_voter(r));
	if (r->role == RAFT_LEADER)
		election_drop_leader_state(r);
	if (pre_vote) {
		/* Thesis 9.6: ask first whether we could win, without raising our term,
		 * so a node that cannot win does not disrupt the cluster. */
		r->role = RAFT_PRECANDIDATE;
	} else {
		/* 5.2: increment currentTerm, vote for self. */
		r->term++;
		r->vote = r->id;
		r->role = RAFT_CANDIDATE;
	}
	r->leader = RAFT_NONE;
	r->n_votes = 0;
	raft_reset_election_timer(r);
	record_vote(r, r->id, true);

	raft_id ids[2 * RAFT_MAX_MEMBERS];
	uint32_t n = conf_voter_ids(&r->conf, ids);
	for (uint32_t i = 0; i < n; i++) {
		if (ids[i] == r->id)
			continue;
		struct raft_message m = {
		    .type = pre_vote ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE,
		    .to = ids[i],
		    .term = pre_vote ? r->term + 1 : r->term,
		    .index = log_last_index(&r->log),
		    .log_term = log_last_term(&r->log),
		    .transfer = transfer,
		};
		raft_send(r, &m);
	}
	tally(r);
}

void election_recv_vote_request(struct raft *r, const struct raft_message *m)
{
	bool pre_vote = m->type == RAFT_MSG_PREVOTE;
	/* Figure 2, RequestVote: grant if votedFor is null or the candidate, and the
	 * candidate's log is at least as up-to-date as ours (5.4.1). A pre-vote for a
	 * later term may be granted whatever we voted in this one. A follower that knows
	 * this term's leader does not vote for anyone else. */
	bool can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
	                (pre_vote && m->term > r->term);
	bool grant = can_vote && election_log_up_to_date(r, m->index, m->log_term) &&
	             !election_catching_up(r);
	struct raft_message resp = {
	    .type = pre_vote ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
	    .to = m->from,
	    .term = grant ? m->term : r->term,
	    .reject = !grant,
	};
	if (grant && !pre_vote) {
		assert(m->term == r->term);
		r->vote = m->from;
		/* 5.2: granting a vote resets the election timer. */
		raft_reset_election_timer(r);
	}
	raft_send(r, &resp);
}

void election_recv_vote_response(struct raft *r, const struct raft_message *m)
{
	record_vote(r, m->from, !m->reject);
	tally(r);
}

void election_become_leader(struct raft *r)
{
	assert(r->role == RAFT_CANDIDATE);
	assert(r->vote == r->id);
	r->role = RAFT_LEADER;
	r->leader = r->id;
	r->transferee = RAFT_NONE;
	r->committed_in_term = false;
	r->heartbeat_elapsed = 0;
	r->election_elapsed = 0;
	r->n_votes = 0;

	raft_index last = log_last_index(&r->log);
	raft_id ids[3 * RAFT_MAX_MEMBERS];
	uint32_t n = conf_member_ids(&r->conf, ids);
	assert(r->prs == NULL);
	r->prs = raft_xcalloc(n, sizeof(*r->prs));
	r->n_prs = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (ids[i] == r->id)
			continue;
		/* Figure 2: nextIndex starts just past the leader's last entry. */
		progress_init(&r->prs[r->n_prs++], ids[i], last + 1, r->cfg.max_inflight_msgs);
	}

	/* 5.4.2 and 8: a leader commits an entry of its own term at once, which also
	 * commits everything before it and lets it serve reads (thesis 6.4). */
	struct raft_entry noop = {.term = r->term, .index = last + 1, .type = RAFT_ENTRY_NOOP};
	log_append(&r->log, &noop);
	r->append_pending = true;
}
