/* replication.c: AppendEntries and heartbeats (5.3), fast log backup with
 * XTerm/XIndex/XLen, pipelining within an inflight window, and commitment (5.4.2). */
#include "raft/impl.h"

#include <stdlib.h>

raft_index replication_self_match(const struct raft *r)
{
	/* Thesis 10.2.1: the leader counts itself only for what is on its own disk. */
	return r->persisted;
}

/* ---------------------------------------------------------------------------------
 * Leader: sending
 */

void replication_send_append(struct raft *r, struct progress *p, bool send_empty)
{
	assert(r->role == RAFT_LEADER);
	if (progress_paused(p))
		return;
	raft_index last = log_last_index(&r->log);
	raft_index prev = p->next - 1;
	assert(p->next >= 1);
	assert(prev <= last);
	if (prev < r->log.offset) {
		/* The entries it needs were compacted away (thesis 5.1). */
		if (r->snap_data != NULL)
			snapshot_send(r, p);
		return;
	}

	/* Batch by count and bytes; the first entry always goes, whatever its size. */
	uint32_t n = 0;
	uint64_t bytes = 0;
	while (prev + n < last && n < r->cfg.max_msg_entries) {
		uint64_t len = raft_entry_len(log_get(&r->log, prev + n + 1));
		if (n > 0 && bytes + len > r->cfg.max_msg_bytes)
			break;
		bytes += len;
		n++;
	}
	if (n == 0 && !send_empty)
		return;

	struct raft_message m = {
	    .type = RAFT_MSG_APPEND,
	    .to = p->id,
	    .term = r->term,
	    .index = prev,
	    .log_term = log_term_at(&r->log, prev),
	    .commit = r->commit,
	    .n_entries = n,
	};
	if (n > 0) {
		m.entries = raft_xmalloc(sizeof(*m.entries) * n);
		for (uint32_t i = 0; i < n; i++)
			raft_entry_copy(&m.entries[i], log_get(&r->log, prev + 1 + i));
	}
	raft_send(r, &m);

	switch (p->state) {
	case PROGRESS_REPLICATE:
		if (n > 0) {
			/* Pipelining: assume success and move on (thesis 10.2.2). */
			p->next = prev + n + 1;
			progress_inflight_add(p, prev + n);
		}
		break;
	case PROGRESS_PROBE:
		p->probe_sent = true;
		break;
	case PROGRESS_SNAPSHOT:
		assert(!"appends are not sent while a snapshot is");
		break;
	}
}

void replication_broadcast_append(struct raft *r)
{
	for (uint32_t i = 0; i < r->n_prs; i++)
		replication_send_append(r, &r->prs[i], false);
}

void replication_broadcast_commit(struct raft *r)
{
	for (uint32_t i = 0; i < r->n_prs; i++)
		replication_send_append(r, &r->prs[i], true);
}

void replication_broadcast_heartbeat(struct raft *r, uint64_t context)
{
	for (uint32_t i = 0; i < r->n_prs; i++) {
		const struct progress *p = &r->prs[i];
		/* Figure 2 heartbeats carry the commit index; never more than the
		 * follower is known to hold, so it cannot commit an entry it holds a
		 * different version of. */
		struct raft_message m = {
		    .type = RAFT_MSG_HEARTBEAT,
		    .to = p->id,
		    .term = r->term,
		    .commit = p->match < r->commit ? p->match : r->commit,
		    .context = context,
		};
		raft_send(r, &m);
	}
}

/* ---------------------------------------------------------------------------------
 * Commitment
 */

void replication_commit_to(struct raft *r, raft_index index)
{
	if (index <= r->commit)
		return;
	assert(index <= log_last_index(&r->log));
	r->commit = index;
}

static uint64_t match_of(void *ctx, raft_id id)
{
	struct raft *r = ctx;
	if (id == r->id)
		return replication_self_match(r);
	struct progress *p = raft_progress_of(r, id);
	return p != NULL ? p->match : 0;
}

bool replication_maybe_commit(struct raft *r)
{
	assert(r->role == RAFT_LEADER);
	raft_index index = quorum_value(&r->conf, match_of, r);
	if (index <= r->commit)
		return false;
	/* 5.4.2 (Figure 8): only an entry of the current term is committed by counting
	 * replicas; earlier entries are committed indirectly, by the Log Matching
	 * Property. */
	if (log_term_at(&r->log, index) != r->term)
		return false;
	replication_commit_to(r, index);
	if (!r->committed_in_term) {
		r->committed_in_term = true;
		read_flush(r);
	}
	return true;
}

/* ---------------------------------------------------------------------------------
 * Leader: receiving answers
 */

static raft_index next_after_rejection(const struct raft *r, const struct raft_message *m)
{
	raft_index next;
	if (m->xterm == 0) {
		/* Case 3: the follower's log is too short; resume after its end. */
		next = m->xlen + 1;
	} else {
		raft_index last_of_term = log_last_index_of_term(&r->log, m->xterm);
		if (last_of_term > 0) {
			/* Case 2: we hold entries of XTerm; everything up to our last one
			 * matches the follower's, so resume right after it. */
			next = last_of_term + 1;
		} else {
			/* Case 1: we never had XTerm; skip all of the follower's entries of
			 * that term. */
			next = m->xindex;
		}
	}
	/* The rejected index itself did not match, so we must back up at least to it. */
	if (next > m->index)
		next = m->index;
	if (next < 1)
		next = 1;
	return next;
}

void replication_recv_append_response(struct raft *r, const struct raft_message *m)
{
	struct progress *p = raft_progress_of(r, m->from);
	if (p == NULL)
		return;
	p->recent_active = true;
	if (p->state == PROGRESS_SNAPSHOT)
		return; /* the snapshot transfer decides where this member stands */
	p->idle_ticks = 0;

	if (m->reject) {
		/* Stale rejections (an answer to an append we already moved past) must
		 * not move nextIndex backwards again. */
		if (p->state == PROGRESS_REPLICATE && m->index <= p->match)
			return;
		if (p->state == PROGRESS_PROBE && m->index != p->next - 1)
			return;
		raft_index next = next_after_rejection(r, m);
		if (p->state == PROGRESS_PROBE && m->index <= p->match && next <= p->match) {
			/* A probe at the match itself was refused: the follower lost entries it
			 * had acknowledged (damage its recovery cut off; it boots catching up,
			 * raft_boot.catch_up). Believe its log, or it never gets them back. */
			p->match = next - 1;
		}
		if (next <= p->match)
			next = p->match + 1;
		progress_become_probe(p);
		p->next = next;
		replication_send_append(r, p, true);
		return;
	}

	if (m->index > log_last_index(&r->log))
		return; /* acknowledges entries we never had: not from a correct peer */
	bool updated = false;
	if (m->index > p->match) {
		p->match = m->index;
		updated = true;
	}
	if (p->next <= m->index)
		p->next = m->index + 1;
	progress_inflight_free_to(p, m->index);
	if (updated && p->state == PROGRESS_PROBE)
		progress_become_replicate(p);

	if (updated && replication_maybe_commit(r))
		replication_broadcast_commit(r);

	if (r->transferee == p->id && p->match == log_last_index(&r->log)) {
		struct raft_message tn = {
		    .type = RAFT_MSG_TIMEOUT_NOW, .to = p->id, .term = r->term};
		raft_send(r, &tn);
	}

	/* Keep the pipeline full while there is more to send. */
	while (!progress_paused(p) && p->next <= log_last_index(&r->log)) {
		raft_index before = p->next;
		bool was_probe = p->state == PROGRESS_PROBE;
		replication_send_append(r, p, false);
		if (was_probe || p->next == before)
			break;
	}
}

void replication_recv_heartbeat_response(struct raft *r, const struct raft_message *m)
{
	struct progress *p = raft_progress_of(r, m->from);
	if (p == NULL)
		return;
	p->recent_active = true;
	/* A probe whose answer was lost is resent after the next heartbeat answer. */
	p->probe_sent = false;
	if (p->match < log_last_index(&r->log))
		replication_send_append(r, p, false);
	if (m->context > p->read_ack) {
		p->read_ack = m->context;
		read_on_ack(r);
	}
}

/* ---------------------------------------------------------------------------------
 * Follower
 */

/* Entries of an append must continue from its prev index, one by one, with terms that
 * never go down and never pass the leader's term, and no entry has term 0. */
static bool entries_well_formed(const struct raft_message *m)
{
	raft_term prev_term = m->log_term;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		if (e->index != m->index + 1 + i || e->term == 0 || e->term < prev_term ||
		    e->term > m->term)
			return false;
		if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONFIG)
			return false;
		prev_term = e->term;
	}
	return true;
}

/* Whether the append contradicts an entry this node committed: its prevLogIndex, or one
 * of its entries, at a committed index whose term here is known (in the log, or the
 * snapshot's last entry) and differs. If so the node diverges (raft.h, "Divergence"):
 * no answer is true then, neither the match the leader would record nor a rejection
 * that backs it up into committed entries. */
static bool contradicts_commit(struct raft *r, const struct raft_message *m)
{
	if (m->index > 0 && m->index <= r->commit && m->index >= r->log.offset) {
		raft_term ours = log_term_at(&r->log, m->index);
		if (ours != m->log_term) {
			raft_diverge(r, m, m->index, ours, m->log_term);
			return true;
		}
	}
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		if (e->index > r->commit)
			break;
		if (e->index < r->log.offset)
			continue;
		raft_term ours = log_term_at(&r->log, e->index);
		if (ours != e->term) {
			raft_diverge(r, m, e->index, ours, e->term);
			return true;
		}
	}
	return false;
}

void replication_recv_append(struct raft *r, const struct raft_message *m)
{
	assert(r->role == RAFT_FOLLOWER);
	if (!entries_well_formed(m))
		return;
	if (contradicts_commit(r, m))
		return;
	struct raft_message resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from, .term = r->term};

	if (m->index < r->commit) {
		/* Everything up to our commit index matches the leader already. */
		resp.index = r->commit;
		raft_send(r, &resp);
		return;
	}

	raft_index last = log_last_index(&r->log);
	if (m->index > last || log_term_at(&r->log, m->index) != m->log_term) {
		/* 5.3: reply false if the log has no entry at prevLogIndex whose term
		 * matches prevLogTerm, with the hint for the leader's fast backup. */
		resp.reject = true;
		resp.index = m->index;
		resp.xlen = last;
		/* No hint at or below the snapshot: that entry is committed, so a
		 * leader naming another term there is damaged or forged. */
		if (m->index <= last && m->index > r->log.offset) {
			resp.xterm = log_term_at(&r->log, m->index);
			resp.xindex = log_first_index_of_term(&r->log, m->index);
		}
		raft_send(r, &resp);
		return;
	}

	/* 5.3: if an existing entry conflicts with a new one (same index, different
	 * term), delete it and all that follow; append any new entries. */
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		raft_term have = log_term_at(&r->log, e->index);
		if (e->index <= log_last_index(&r->log)) {
			if (have == e->term)
				continue;
			/* Leader Completeness: committed entries are never replaced, and
			 * contradicts_commit() stopped any append that would. */
			assert(e->index > r->commit);
			conf_log_truncate(r, e->index);
			if (r->persisted >= e->index)
				r->persisted = e->index - 1;
			if (r->handed >= e->index)
				r->handed = e->index - 1;
		}
		conf_log_append(r, e);
	}

	raft_index last_new = m->index + m->n_entries;
	/* 5.3: commitIndex = min(leaderCommit, index of last new entry). */
	replication_commit_to(r, m->commit < last_new ? m->commit : last_new);
	resp.index = last_new;
	raft_send(r, &resp);
}

void replication_recv_heartbeat(struct raft *r, const struct raft_message *m)
{
	raft_index last = log_last_index(&r->log);
	replication_commit_to(r, m->commit < last ? m->commit : last);
	struct raft_message resp = {
	    .type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .term = r->term, .context = m->context};
	raft_send(r, &resp);
}
