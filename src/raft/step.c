/* step.c: receiving a message. Every term comparison happens here, before the message
 * reaches the role's handler, so that handlers never re-check terms. */
#include "raft/impl.h"

static bool in_leader_lease(const struct raft *r)
{
	/* Thesis 4.2.3: a server that heard from a leader within the minimum election
	 * timeout ignores vote requests, so a removed or partitioned server cannot
	 * depose a working leader. */
	return r->cfg.check_quorum && r->leader != RAFT_NONE &&
	       r->election_elapsed < r->cfg.election_ticks;
}

static bool message_well_formed(const struct raft *r, const struct raft_message *m)
{
	if (m->type < RAFT_MSG_PREVOTE || m->type >= RAFT_MSG_TYPE_COUNT_)
		return false;
	if (m->from == RAFT_NONE || m->from == r->id)
		return false;
	if (m->n_entries > 0 && (m->type != RAFT_MSG_APPEND || m->entries == NULL))
		return false;
	if (m->type == RAFT_MSG_SNAPSHOT && m->snap_conf == NULL)
		return false;
	return true;
}

/* Answers a message from an older term so that its sender learns the new term. */
static void answer_stale(struct raft *r, const struct raft_message *m)
{
	if (m->type == RAFT_MSG_PREVOTE) {
		struct raft_message resp = {
		    .type = RAFT_MSG_PREVOTE_RESP, .to = m->from, .term = r->term, .reject = true};
		raft_send(r, &resp);
	} else if ((r->cfg.check_quorum || r->cfg.pre_vote || r->catch_up) &&
	           (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
	            m->type == RAFT_MSG_SNAPSHOT)) {
		/* A leader cut off by a partition keeps its old term; with pre-vote the
		 * rest of the cluster may never send it a higher one by themselves. This
		 * answer makes it step down. (A node catching up after damage does not
		 * campaign, which is how it would otherwise spread its term: it answers
		 * too, or it would never hear from a leader again.) */
		struct raft_message resp = {.type = RAFT_MSG_APPEND_RESP,
		                            .to = m->from,
		                            .term = r->term,
		                            .reject = true,
		                            .index = m->index};
		raft_send(r, &resp);
	}
}

int raft_step(struct raft *r, const struct raft_message *m)
{
	if (m->to != r->id)
		return RAFT_EINVAL;
	if (r->diverged)
		return RAFT_EDIVERGED;
	if (!message_well_formed(r, m))
		return RAFT_OK;

	if (m->term > r->term) {
		bool vote_request = m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE;
		if (vote_request && !m->transfer && in_leader_lease(r))
			return RAFT_OK;
		if (m->type == RAFT_MSG_PREVOTE) {
			/* A pre-vote never changes our term (thesis 9.6). */
		} else if (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject) {
			/* A grant echoes the term we would campaign in. */
		} else {
			/* Figure 2, all servers: if an RPC carries term T > currentTerm,
			 * set currentTerm = T and convert to follower. */
			bool from_leader = m->type == RAFT_MSG_APPEND ||
			                   m->type == RAFT_MSG_HEARTBEAT ||
			                   m->type == RAFT_MSG_SNAPSHOT;
			election_become_follower(r, m->term, from_leader ? m->from : RAFT_NONE);
		}
	} else if (m->term < r->term) {
		answer_stale(r, m);
		return RAFT_OK;
	}

	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		election_recv_vote_request(r, m);
		break;
	case RAFT_MSG_PREVOTE_RESP:
		if (r->role == RAFT_PRECANDIDATE && m->term == r->term + 1)
			election_recv_vote_response(r, m);
		break;
	case RAFT_MSG_VOTE_RESP:
		if (r->role == RAFT_CANDIDATE && m->term == r->term)
			election_recv_vote_response(r, m);
		break;
	case RAFT_MSG_APPEND:
	case RAFT_MSG_HEARTBEAT:
	case RAFT_MSG_SNAPSHOT:
		if (r->role == RAFT_LEADER) {
			/* Two leaders in one term cannot both be legitimate (5.2); a
			 * correct peer never sends this, so ignore it. */
			break;
		}
		/* 5.2: a candidate that hears from the term's leader steps down. */
		if (r->role != RAFT_FOLLOWER || r->leader != m->from)
			election_become_follower(r, m->term, m->from);
		r->election_elapsed = 0;
		if (m->type != RAFT_MSG_SNAPSHOT)
			election_note_leader_commit(r, m->commit, m->type == RAFT_MSG_APPEND);
		if (m->type == RAFT_MSG_APPEND)
			replication_recv_append(r, m);
		else if (m->type == RAFT_MSG_HEARTBEAT)
			replication_recv_heartbeat(r, m);
		else
			snapshot_recv(r, m);
		break;
	case RAFT_MSG_SNAPSHOT_RESP:
		if (r->role == RAFT_LEADER)
			snapshot_recv_response(r, m);
		break;
	case RAFT_MSG_APPEND_RESP:
		if (r->role == RAFT_LEADER)
			replication_recv_append_response(r, m);
		break;
	case RAFT_MSG_HEARTBEAT_RESP:
		if (r->role == RAFT_LEADER)
			replication_recv_heartbeat_response(r, m);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		/* Thesis 3.10: the target of a transfer campaigns at once, skipping the
		 * pre-vote, and its requests override the voters' leader lease. */
		if (r->role != RAFT_LEADER && raft_is_voter(r) && !election_catching_up(r))
			election_start(r, false, true);
		break;
	case RAFT_MSG_TYPE_COUNT_:
		break;
	}
	return r->diverged ? RAFT_EDIVERGED : RAFT_OK;
}
