/* raft.c: the node's life cycle, its clock, client calls, and the ready/advance contract. */
#include "raft/impl.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------
 * Configuration and construction
 */

void raft_config_default(struct raft_config *cfg, raft_id id)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->id = id;
	cfg->election_ticks = 10;
	cfg->heartbeat_ticks = 1;
	cfg->seed = id;
	cfg->max_msg_entries = 64;
	cfg->max_msg_bytes = 1u << 20;
	cfg->max_inflight_msgs = 256;
	cfg->max_entry_bytes = 64u << 20;
	cfg->pre_vote = true;
	cfg->check_quorum = true;
	cfg->snapshot_chunk_bytes = 1u << 20;
	cfg->max_snapshot_chunks = 4;
	cfg->promote_max_lag = 1000;
}

static bool config_valid(const struct raft_config *cfg)
{
	return cfg->id != RAFT_NONE && cfg->heartbeat_ticks >= 1 &&
	       cfg->election_ticks > cfg->heartbeat_ticks && cfg->max_msg_entries >= 1 &&
	       cfg->max_inflight_msgs >= 1 && cfg->max_msg_bytes >= 1 &&
	       cfg->snapshot_chunk_bytes >= 1 && cfg->max_snapshot_chunks >= 1;
}

static bool conf_valid(const struct raft_conf *c)
{
	return c->n_voters <= RAFT_MAX_MEMBERS && c->n_voters_old <= RAFT_MAX_MEMBERS &&
	       c->n_learners <= RAFT_MAX_MEMBERS;
}

static uint64_t prng_next(uint64_t *state)
{
	/* splitmix64: small, fast and good enough for election jitter. */
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void raft_reset_election_timer(struct raft *r)
{
	r->election_elapsed = 0;
	/* 5.2: randomized timeouts make split votes rare. */
	r->randomized_timeout =
	    r->cfg.election_ticks + (uint32_t)(prng_next(&r->prng) % r->cfg.election_ticks);
}

int raft_new(struct raft **out, const struct raft_config *cfg, const struct raft_boot *boot)
{
	/* A node need not be in its configuration: a new node waits, empty, for a leader
	 * to tell it one, and a removed node stays passive. */
	if (!config_valid(cfg) || !conf_valid(&boot->conf))
		return RAFT_EINVAL;
	if (boot->snapshot_index > 0 &&
	    (boot->snapshot_data == NULL || boot->snapshot_data->len == 0))
		return RAFT_EINVAL;

	/* The stored log must be contiguous from the snapshot, with terms that never go
	 * down and never pass the stored current term. */
	raft_index want = boot->snapshot_index + 1;
	raft_term prev_term = boot->snapshot_term;
	for (uint32_t i = 0; i < boot->n_entries; i++) {
		const struct raft_entry *e = &boot->entries[i];
		if (e->index != want || e->term < prev_term || e->term > boot->hard_state.term)
			return RAFT_ECORRUPT;
		want++;
		prev_term = e->term;
	}
	raft_index last = boot->snapshot_index + boot->n_entries;
	if (boot->applied < boot->snapshot_index || boot->applied > last)
		return RAFT_ECORRUPT;
	if (boot->snapshot_term > boot->hard_state.term)
		return RAFT_ECORRUPT;

	struct raft *r = raft_xcalloc(1, sizeof(*r));
	r->cfg = *cfg;
	r->id = cfg->id;
	r->term = boot->hard_state.term;
	r->vote = boot->hard_state.vote;
	log_init(&r->log, boot->snapshot_index, boot->snapshot_term);
	for (uint32_t i = 0; i < boot->n_entries; i++)
		log_append(&r->log, &boot->entries[i]);
	r->role = RAFT_FOLLOWER;
	r->leader = RAFT_NONE;
	r->commit = boot->applied;
	conf_init(r, boot->snapshot_index, &boot->conf);
	r->snap_index = boot->snapshot_index;
	r->snap_term = boot->snapshot_term;
	r->snap_conf = boot->conf;
	r->snap_data = raft_buf_ref(boot->snapshot_data);
	r->catch_up = boot->catch_up;
	r->catch_up_to = boot->catch_up_to;
	r->prng = cfg->seed ^ (cfg->id * 0x2545f4914f6cdd1dull);
	raft_reset_election_timer(r);

	r->handed_hs = boot->hard_state;
	r->handed = last;
	r->persisted = last;
	r->applied = boot->applied;
	*out = r;
	return RAFT_OK;
}

static void msg_queue_clear(struct msg_queue *q)
{
	for (uint32_t i = 0; i < q->n; i++)
		raft_message_release(&q->v[i]);
	free(q->v);
	memset(q, 0, sizeof(*q));
}

void raft_free(struct raft *r)
{
	if (r == NULL)
		return;
	assert(r->advanced_seq == r->ready_seq);
	log_free(&r->log);
	conf_free(r);
	raft_buf_unref(r->snap_data);
	snapshot_recv_reset(r);
	election_drop_leader_state(r);
	msg_queue_clear(&r->msgs);
	msg_queue_clear(&r->msgs_persisted);
	free(r->reads.v);
	free(r->reads_done.v);
	free(r);
}

/* ---------------------------------------------------------------------------------
 * Helpers shared by the other files
 */

void raft_diverge(struct raft *r, const struct raft_message *m, raft_index index, raft_term ours,
                  raft_term theirs)
{
	assert(index <= r->commit);
	assert(ours != theirs);
	if (r->diverged)
		return;
	r->diverged = true;
	r->divergence = (struct raft_divergence){
	    .index = index,
	    .term = ours,
	    .leader_term = theirs,
	    .commit = r->commit,
	    .from = m->from,
	    .msg_term = m->term,
	    .msg_type = m->type,
	};
	/* Nothing said before this is worth saying now: the node goes down. */
	msg_queue_clear(&r->msgs);
	msg_queue_clear(&r->msgs_persisted);
	r->reads_done.n = 0;
}

int raft_error(const struct raft *r, struct raft_divergence *d)
{
	if (!r->diverged)
		return RAFT_OK;
	if (d != NULL)
		*d = r->divergence;
	return RAFT_EDIVERGED;
}

bool raft_msg_needs_persistence(const struct raft_message *m)
{
	/* Figure 2: respond to RPCs only after updating stable storage. A vote request
	 * carries our own vote for ourselves, so it waits too, and so does the answer that
	 * reports a snapshot installed. */
	switch (m->type) {
	case RAFT_MSG_VOTE:
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_APPEND_RESP:
		return true;
	case RAFT_MSG_SNAPSHOT_RESP:
		return !m->reject && m->snap_offset == m->snap_size;
	default:
		return false;
	}
}

void raft_send(struct raft *r, struct raft_message *m)
{
	assert(m->to != r->id);
	assert(m->to != RAFT_NONE);
	m->from = r->id;
	struct msg_queue *q = raft_msg_needs_persistence(m) ? &r->msgs_persisted : &r->msgs;
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 16;
		q->v = raft_xrealloc(q->v, q->cap * sizeof(*q->v));
	}
	q->v[q->n++] = *m; /* the queue takes over the message's entries */
}

struct progress *raft_progress_of(struct raft *r, raft_id id)
{
	for (uint32_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

bool raft_is_voter(const struct raft *r)
{
	return raft_conf_is_voter(&r->conf, r->id);
}

/* ---------------------------------------------------------------------------------
 * The clock
 */

static void tick_leader(struct raft *r)
{
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->transferee != RAFT_NONE && ++r->transfer_elapsed >= r->cfg.election_ticks) {
		/* Thesis 3.10: abort a transfer that did not finish within an election
		 * timeout, so that the leader accepts proposals again. */
		r->transferee = RAFT_NONE;
	}
	if (r->election_elapsed >= r->cfg.election_ticks) {
		r->election_elapsed = 0;
		if (r->cfg.check_quorum) {
			/* Thesis 6.2: a leader that has not heard from a quorum within an
			 * election timeout steps down, so that clients can find the real
			 * leader and stale reads cannot be served. */
			struct vote active[2 * RAFT_MAX_MEMBERS];
			uint32_t n = 0;
			active[n++] = (struct vote){r->id, true};
			for (uint32_t i = 0; i < r->n_prs && n < 2 * RAFT_MAX_MEMBERS; i++)
				active[n++] = (struct vote){r->prs[i].id, r->prs[i].recent_active};
			if (quorum_vote_result(&r->conf, active, n) != VOTE_WON) {
				election_become_follower(r, r->term, RAFT_NONE);
				return;
			}
			for (uint32_t i = 0; i < r->n_prs; i++)
				r->prs[i].recent_active = false;
		}
	}
	/* Retransmission: appends that went unanswered for several heartbeats were
	 * probably lost; fall back to probing from the last known match. */
	for (uint32_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		bool waiting = (p->state == PROGRESS_REPLICATE && p->in_count > 0) ||
		               (p->state == PROGRESS_PROBE && p->probe_sent) ||
		               (p->state == PROGRESS_SNAPSHOT && p->snap_sent > p->snap_acked);
		if (!waiting) {
			p->idle_ticks = 0;
			continue;
		}
		if (++p->idle_ticks >= 3 * r->cfg.heartbeat_ticks + 1) {
			p->idle_ticks = 0;
			if (p->state == PROGRESS_SNAPSHOT) {
				snapshot_resend(r, p);
				continue;
			}
			progress_become_probe(p);
			p->next = p->match + 1;
			replication_send_append(r, p, true);
		}
	}
	if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		replication_broadcast_heartbeat(r, r->read_round);
	}
}

void raft_tick(struct raft *r)
{
	if (r->diverged)
		return;
	if (r->role == RAFT_LEADER) {
		tick_leader(r);
		return;
	}
	r->election_elapsed++;
	if (raft_is_voter(r) && r->election_elapsed >= r->randomized_timeout &&
	    !election_catching_up(r))
		election_start(r, r->cfg.pre_vote, false);
}

/* ---------------------------------------------------------------------------------
 * Client calls
 */

int raft_propose(struct raft *r, const void *data, size_t len, raft_term *term, raft_index *index)
{
	if (r->diverged)
		return RAFT_EDIVERGED;
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (r->transferee != RAFT_NONE)
		return RAFT_EBUSY;
	if (len > r->cfg.max_entry_bytes)
		return RAFT_ETOOBIG;
	struct raft_entry e = {
	    .term = r->term,
	    .index = log_last_index(&r->log) + 1,
	    .type = RAFT_ENTRY_NORMAL,
	    .buf = raft_buf_new(data, len),
	};
	log_append(&r->log, &e);
	raft_buf_unref(e.buf);
	/* Appends go out when the batch is taken, so that proposals arriving together
	 * share AppendEntries messages. */
	r->append_pending = true;
	if (term != NULL)
		*term = e.term;
	if (index != NULL)
		*index = e.index;
	return RAFT_OK;
}

int raft_transfer_leader(struct raft *r, raft_id to)
{
	if (r->diverged)
		return RAFT_EDIVERGED;
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (to == r->id)
		return RAFT_EINVAL;
	struct progress *p = raft_progress_of(r, to);
	if (p == NULL || !raft_conf_is_voter(&r->conf, to))
		return RAFT_ENOPEER;
	if (r->transferee == to)
		return RAFT_OK;
	r->transferee = to;
	r->transfer_elapsed = 0;
	/* Thesis 3.10: bring the target's log up to date, then let it time out now. */
	if (p->match == log_last_index(&r->log)) {
		struct raft_message m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = to, .term = r->term};
		raft_send(r, &m);
	} else {
		replication_send_append(r, p, true);
	}
	return RAFT_OK;
}

int raft_step_down(struct raft *r)
{
	if (r->diverged)
		return RAFT_EDIVERGED;
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	struct progress *best = NULL;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		if (!raft_conf_is_voter(&r->conf, p->id))
			continue;
		if (best == NULL || p->match > best->match ||
		    (p->match == best->match && p->id < best->id))
			best = p;
	}
	if (best == NULL)
		return RAFT_ENOPEER;
	return raft_transfer_leader(r, best->id);
}

int raft_resign(struct raft *r)
{
	if (r->diverged)
		return RAFT_EDIVERGED;
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	election_become_follower(r, r->term, RAFT_NONE);
	return RAFT_OK;
}

int raft_campaign(struct raft *r)
{
	if (r->diverged)
		return RAFT_EDIVERGED;
	if (!raft_is_voter(r) || election_catching_up(r))
		return RAFT_ENOVOTER;
	if (r->role == RAFT_LEADER)
		return RAFT_OK;
	election_start(r, r->cfg.pre_vote, false);
	return RAFT_OK;
}

/* ---------------------------------------------------------------------------------
 * Ready and advance
 */

/* Sends what was deferred so that it could be batched. */
static void flush(struct raft *r)
{
	if (r->role != RAFT_LEADER)
		return;
	conf_on_commit(r);
	if (r->role != RAFT_LEADER)
		return;
	if (r->append_pending) {
		r->append_pending = false;
		replication_broadcast_append(r);
	}
	read_flush(r);
}

static raft_index apply_limit(const struct raft *r)
{
	/* Only what is durable here is handed out for applying, so a node never applies
	 * an entry that it could lose in a crash and then be asked to unapply. */
	return r->commit < r->persisted ? r->commit : r->persisted;
}

static bool hard_state_changed(const struct raft *r)
{
	return r->term != r->handed_hs.term || r->vote != r->handed_hs.vote;
}

bool raft_has_ready(const struct raft *r)
{
	if (r->diverged)
		return !r->diverged_reported;
	return r->msgs.n > 0 || r->msgs_persisted.n > 0 || r->reads_done.n > 0 ||
	       hard_state_changed(r) || log_last_index(&r->log) > r->handed ||
	       apply_limit(r) > r->applied || r->role != r->reported_role ||
	       r->leader != r->reported_leader || r->term != r->reported_term ||
	       r->install_pending || conf_transition_pending(r) ||
	       (r->role == RAFT_LEADER && (r->append_pending || read_flush_pending(r)));
}

static struct raft_entry *copy_entries(const struct raft_log *l, raft_index from, raft_index to,
                                       uint32_t *n_out)
{
	*n_out = 0;
	if (to < from)
		return NULL;
	uint64_t n = to - from + 1;
	assert(n <= UINT32_MAX);
	struct raft_entry *v = raft_xmalloc(sizeof(*v) * n);
	for (raft_index i = from; i <= to; i++) {
		const struct raft_entry *e = log_get(l, i);
		assert(e != NULL);
		raft_entry_copy(&v[i - from], e);
	}
	*n_out = (uint32_t)n;
	return v;
}

void raft_ready(struct raft *r, struct raft_ready *rd)
{
	if (r->diverged) {
		/* Fail-stopped: the error, and nothing to persist, send or apply. */
		memset(rd, 0, sizeof(*rd));
		rd->seq = ++r->ready_seq;
		rd->error = RAFT_EDIVERGED;
		rd->divergence = r->divergence;
		r->diverged_reported = true;
		rd->soft_state_changed = r->role != r->reported_role ||
		                         r->leader != r->reported_leader ||
		                         r->term != r->reported_term;
		r->reported_role = r->role;
		r->reported_leader = r->leader;
		r->reported_term = r->term;
		rd->role = r->role;
		rd->leader = r->leader;
		rd->term = r->term;
		return;
	}
	flush(r);
	memset(rd, 0, sizeof(*rd));
	rd->seq = ++r->ready_seq;

	if (hard_state_changed(r)) {
		/* Figure 2: currentTerm only grows, and a vote is cast once per term. */
		assert(r->term >= r->handed_hs.term);
		assert(r->term > r->handed_hs.term || r->handed_hs.vote == RAFT_NONE ||
		       r->vote == r->handed_hs.vote);
		rd->has_hard_state = true;
		rd->hard_state.term = r->term;
		rd->hard_state.vote = r->vote;
		r->handed_hs = rd->hard_state;
	}

	if (r->install_pending) {
		r->install_pending = false;
		rd->has_snapshot = true;
		rd->snapshot_index = r->snap_index;
		rd->snapshot_term = r->snap_term;
		rd->snapshot_conf = r->snap_conf;
		rd->snapshot_data = raft_buf_ref(r->snap_data);
		rd->snapshot_discard_log = r->install_discard_log;
	}

	/* Whatever was stepped since the last batch, the disk (once every batch taken is
	 * persisted) holds exactly the log up to `handed`, plus stale entries past it
	 * that this batch's entries replace; nothing durable is past what was handed, and
	 * nothing applied is outside the log. */
	raft_index last = log_last_index(&r->log);
	assert(r->handed >= r->log.offset);
	assert(r->handed <= last);
	assert(r->persisted <= r->handed);
	assert(r->applied >= r->log.offset);
	assert(r->applied <= r->commit);
	assert(!r->install_pending || r->snap_index == r->log.offset);
	rd->entries = copy_entries(&r->log, r->handed + 1, last, &rd->n_entries);
	r->handed = last;

	raft_index limit = apply_limit(r);
	rd->committed = copy_entries(&r->log, r->applied + 1, limit, &rd->n_committed);
	if (limit > r->applied)
		r->applied = limit;

	rd->messages = r->msgs.v;
	rd->n_messages = r->msgs.n;
	memset(&r->msgs, 0, sizeof(r->msgs));
	rd->persisted_messages = r->msgs_persisted.v;
	rd->n_persisted_messages = r->msgs_persisted.n;
	memset(&r->msgs_persisted, 0, sizeof(r->msgs_persisted));

	/* If nothing is waiting to become durable, neither in this batch nor in an
	 * earlier one, the held messages depend on nothing and can go at once. */
	bool nothing_pending = !rd->has_hard_state && rd->n_entries == 0 && !rd->has_snapshot &&
	                       r->advanced_seq + 1 == rd->seq;
	if (nothing_pending && rd->n_persisted_messages > 0) {
		uint32_t n = rd->n_messages + rd->n_persisted_messages;
		rd->messages = raft_xrealloc(rd->messages, n * sizeof(*rd->messages));
		memcpy(rd->messages + rd->n_messages, rd->persisted_messages,
		       rd->n_persisted_messages * sizeof(*rd->messages));
		free(rd->persisted_messages);
		rd->persisted_messages = NULL;
		rd->n_messages = n;
		rd->n_persisted_messages = 0;
	}
#ifndef NDEBUG
	for (uint32_t i = 0; i < rd->n_messages; i++)
		assert(nothing_pending || !raft_msg_needs_persistence(&rd->messages[i]));
	for (uint32_t i = 0; i < rd->n_persisted_messages; i++)
		assert(raft_msg_needs_persistence(&rd->persisted_messages[i]));
#endif

	rd->reads = r->reads_done.v;
	rd->n_reads = r->reads_done.n;
	memset(&r->reads_done, 0, sizeof(r->reads_done));

	if (r->role != r->reported_role || r->leader != r->reported_leader ||
	    r->term != r->reported_term) {
		rd->soft_state_changed = true;
		r->reported_role = r->role;
		r->reported_leader = r->leader;
		r->reported_term = r->term;
	}
	rd->role = r->role;
	rd->leader = r->leader;
	rd->term = r->term;
}

void raft_advance(struct raft *r, struct raft_ready *rd)
{
	/* Batches are made durable in the order they were taken. */
	assert(rd->seq == r->advanced_seq + 1);
	assert(rd->seq <= r->ready_seq);
	r->advanced_seq = rd->seq;

	if (rd->has_snapshot) {
		/* Everything the snapshot covers is durable now. */
		if (rd->snapshot_index == r->snap_index && r->persisted < rd->snapshot_index)
			r->persisted = rd->snapshot_index;
		raft_buf_unref(rd->snapshot_data);
	}

	if (rd->n_entries > 0) {
		const struct raft_entry *e = &rd->entries[rd->n_entries - 1];
		/* A later truncation may have replaced these entries; then the batch that
		 * carries the replacements will advance `persisted`. */
		if (log_term_at(&r->log, e->index) == e->term && e->index > r->persisted)
			r->persisted = e->index;
		if (r->role == RAFT_LEADER && replication_maybe_commit(r))
			replication_broadcast_commit(r);
	}

	for (uint32_t i = 0; i < rd->n_entries; i++)
		raft_entry_release(&rd->entries[i]);
	free(rd->entries);
	for (uint32_t i = 0; i < rd->n_committed; i++)
		raft_entry_release(&rd->committed[i]);
	free(rd->committed);
	for (uint32_t i = 0; i < rd->n_messages; i++)
		raft_message_release(&rd->messages[i]);
	free(rd->messages);
	for (uint32_t i = 0; i < rd->n_persisted_messages; i++)
		raft_message_release(&rd->persisted_messages[i]);
	free(rd->persisted_messages);
	free(rd->reads);
	memset(rd, 0, sizeof(*rd));
}

/* ---------------------------------------------------------------------------------
 * Introspection
 */

raft_id raft_self(const struct raft *r)
{
	return r->id;
}

bool raft_catching_up(const struct raft *r, raft_index *target)
{
	if (target != NULL)
		*target = r->catch_up_heard ? r->catch_up_to : 0;
	return r->catch_up && !election_catch_up_done(r);
}

enum raft_role raft_role(const struct raft *r)
{
	return r->role;
}

raft_term raft_term_current(const struct raft *r)
{
	return r->term;
}

raft_id raft_vote(const struct raft *r)
{
	return r->vote;
}

raft_id raft_leader(const struct raft *r)
{
	return r->leader;
}

raft_index raft_commit_index(const struct raft *r)
{
	return r->commit;
}

raft_index raft_last_index(const struct raft *r)
{
	return log_last_index(&r->log);
}

raft_term raft_last_term(const struct raft *r)
{
	return log_last_term(&r->log);
}

raft_index raft_persisted_index(const struct raft *r)
{
	return r->persisted;
}

raft_index raft_applied_index(const struct raft *r)
{
	return r->applied;
}

raft_term raft_term_at(const struct raft *r, raft_index index)
{
	return log_term_at(&r->log, index);
}

const struct raft_entry *raft_entry_at(const struct raft *r, raft_index index)
{
	return log_get(&r->log, index);
}

raft_index raft_first_index(const struct raft *r)
{
	return r->log.offset + 1;
}

const struct raft_conf *raft_conf_current(const struct raft *r)
{
	return &r->conf;
}

bool raft_progress(const struct raft *r, raft_id id, raft_index *match, raft_index *next)
{
	if (r->role != RAFT_LEADER)
		return false;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		if (r->prs[i].id != id)
			continue;
		if (match != NULL)
			*match = r->prs[i].match;
		if (next != NULL)
			*next = r->prs[i].next;
		return true;
	}
	return false;
}

raft_id raft_transferee(const struct raft *r)
{
	return r->transferee;
}
