/* conf.c: cluster membership: the configuration history of the log (thesis 4.1),
 * joint consensus (thesis 4.3), learners, and the leader's progress set. */
#include "raft/impl.h"

#include <stdlib.h>
#include <string.h>

static void push(struct raft *r, raft_index index, const struct raft_conf *c)
{
	if (r->n_confs == r->cap_confs) {
		r->cap_confs = r->cap_confs ? r->cap_confs * 2 : 4;
		r->confs = raft_xrealloc(r->confs, r->cap_confs * sizeof(*r->confs));
	}
	assert(r->n_confs == 0 || r->confs[r->n_confs - 1].index < index);
	r->confs[r->n_confs++] = (struct conf_at){index, *c};
	r->conf = *c;
}

void conf_init(struct raft *r, raft_index index, const struct raft_conf *base)
{
	r->n_confs = 0;
	push(r, index, base);
	/* Configurations already in the log apply on top of the base. */
	for (raft_index i = r->log.offset + 1; i <= log_last_index(&r->log); i++) {
		const struct raft_entry *e = log_get(&r->log, i);
		struct raft_conf c;
		if (i > index && e->type == RAFT_ENTRY_CONFIG &&
		    raft_conf_decode(raft_entry_data(e), raft_entry_len(e), &c) == 0)
			push(r, i, &c);
	}
}

void conf_free(struct raft *r)
{
	free(r->confs);
	r->confs = NULL;
	r->n_confs = 0;
	r->cap_confs = 0;
}

void conf_log_append(struct raft *r, const struct raft_entry *e)
{
	log_append(&r->log, e);
	if (e->type != RAFT_ENTRY_CONFIG)
		return;
	/* Thesis 4.1: a configuration takes effect as soon as it is in the log. Bytes that
	 * do not decode change nothing, identically on every node. */
	struct raft_conf c;
	if (raft_conf_decode(raft_entry_data(e), raft_entry_len(e), &c) != 0)
		return;
	push(r, e->index, &c);
	if (r->role == RAFT_LEADER)
		conf_sync_progress(r);
}

void conf_log_truncate(struct raft *r, raft_index index)
{
	log_truncate_from(&r->log, index);
	/* A configuration removed from the log no longer applies (thesis 4.1). */
	while (r->n_confs > 1 && r->confs[r->n_confs - 1].index >= index)
		r->n_confs--;
	r->conf = r->confs[r->n_confs - 1].conf;
}

const struct raft_conf *conf_at_index(const struct raft *r, raft_index index)
{
	assert(r->n_confs > 0);
	for (uint32_t i = r->n_confs; i > 0; i--)
		if (r->confs[i - 1].index <= index)
			return &r->confs[i - 1].conf;
	return &r->confs[0].conf;
}

raft_index raft_conf_index(const struct raft *r)
{
	return conf_index(r);
}

raft_index conf_index(const struct raft *r)
{
	assert(r->n_confs > 0);
	return r->confs[r->n_confs - 1].index;
}

void conf_compact(struct raft *r, raft_index index)
{
	uint32_t keep = 0;
	for (uint32_t i = 0; i < r->n_confs; i++)
		if (r->confs[i].index <= index)
			keep = i;
	if (keep == 0)
		return;
	memmove(r->confs, r->confs + keep, (r->n_confs - keep) * sizeof(*r->confs));
	r->n_confs -= keep;
}

void conf_sync_progress(struct raft *r)
{
	assert(r->role == RAFT_LEADER);
	raft_id ids[3 * RAFT_MAX_MEMBERS];
	uint32_t n = conf_member_ids(&r->conf, ids);
	/* Forget members that left. */
	for (uint32_t i = 0; i < r->n_prs;) {
		bool member = false;
		for (uint32_t j = 0; j < n && !member; j++)
			member = ids[j] == r->prs[i].id;
		if (member) {
			i++;
			continue;
		}
		if (r->transferee == r->prs[i].id)
			r->transferee = RAFT_NONE;
		progress_free(&r->prs[i]);
		r->prs[i] = r->prs[--r->n_prs];
	}
	/* Track new ones, starting from a probe just past our log. */
	r->prs = raft_xrealloc(r->prs, (n ? n : 1) * sizeof(*r->prs));
	for (uint32_t j = 0; j < n; j++) {
		if (ids[j] == r->id || raft_progress_of(r, ids[j]) != NULL)
			continue;
		progress_init(&r->prs[r->n_prs++], ids[j], log_last_index(&r->log) + 1,
		              r->cfg.max_inflight_msgs);
	}
}

static void append_conf(struct raft *r, const struct raft_conf *c)
{
	size_t len = raft_conf_encoded_size(c);
	struct raft_buf *b = raft_buf_alloc(len);
	raft_conf_encode(c, b->data);
	struct raft_entry e = {.term = r->term,
	                       .index = log_last_index(&r->log) + 1,
	                       .type = RAFT_ENTRY_CONFIG,
	                       .buf = b};
	conf_log_append(r, &e);
	raft_buf_unref(b);
	r->append_pending = true;
}

bool conf_transition_pending(const struct raft *r)
{
	if (r->role != RAFT_LEADER || conf_index(r) > r->commit)
		return false;
	return r->conf.n_voters_old > 0 || !raft_conf_is_voter(&r->conf, r->id);
}

void conf_on_commit(struct raft *r)
{
	if (!conf_transition_pending(r))
		return;
	if (r->conf.n_voters_old > 0) {
		/* Thesis 4.3: once C_old,new is committed, the leader moves on to C_new. */
		struct raft_conf next = r->conf;
		next.n_voters_old = 0;
		append_conf(r, &next);
		return;
	}
	/* Thesis 4.2.2: a leader that is not part of C_new steps down once C_new is
	 * committed. It hands over to the most up-to-date voter first, so that the
	 * cluster does not wait out an election timeout. */
	struct progress *best = NULL;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		struct progress *p = &r->prs[i];
		if (raft_conf_is_voter(&r->conf, p->id) && (best == NULL || p->match > best->match))
			best = p;
	}
	if (best != NULL && best->match == log_last_index(&r->log)) {
		struct raft_message m = {
		    .type = RAFT_MSG_TIMEOUT_NOW, .to = best->id, .term = r->term};
		raft_send(r, &m);
	}
	election_become_follower(r, r->term, RAFT_NONE);
}

static bool conf_target_valid(const struct raft_conf *t)
{
	if (t->n_voters < 1 || t->n_voters > RAFT_MAX_MEMBERS || t->n_voters_old != 0 ||
	    t->n_learners > RAFT_MAX_MEMBERS)
		return false;
	raft_id ids[2 * RAFT_MAX_MEMBERS];
	uint32_t n = 0;
	for (uint32_t i = 0; i < t->n_voters; i++)
		ids[n++] = t->voters[i];
	for (uint32_t i = 0; i < t->n_learners; i++)
		ids[n++] = t->learners[i];
	for (uint32_t i = 0; i < n; i++) {
		if (ids[i] == RAFT_NONE)
			return false;
		for (uint32_t j = i + 1; j < n; j++)
			if (ids[i] == ids[j])
				return false;
	}
	return true;
}

static bool same_voters(const struct raft_conf *a, const struct raft_conf *b)
{
	if (a->n_voters != b->n_voters)
		return false;
	for (uint32_t i = 0; i < a->n_voters; i++) {
		bool found = false;
		for (uint32_t j = 0; j < b->n_voters && !found; j++)
			found = a->voters[i] == b->voters[j];
		if (!found)
			return false;
	}
	return true;
}

int raft_change_config(struct raft *r, const struct raft_conf *target, raft_index *index)
{
	if (r->diverged)
		return RAFT_EDIVERGED;
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	if (!conf_target_valid(target))
		return RAFT_EINVAL;
	/* One change at a time, and only once this leader committed an entry of its own
	 * term, so that no configuration from an earlier term is still pending. */
	if (!r->committed_in_term || conf_index(r) > r->commit || r->conf.n_voters_old > 0)
		return RAFT_ECHANGING;
	if (r->transferee != RAFT_NONE)
		return RAFT_EBUSY;
	raft_index last = log_last_index(&r->log);
	for (uint32_t i = 0; i < target->n_voters; i++) {
		raft_id v = target->voters[i];
		if (v == r->id || raft_conf_is_voter(&r->conf, v))
			continue;
		/* A new voter must have caught up, or it would stall commitment. */
		struct progress *p = raft_progress_of(r, v);
		if (p == NULL || p->match + r->cfg.promote_max_lag < last)
			return RAFT_ELAGGING;
	}
	struct raft_conf next;
	if (same_voters(&r->conf, target)) {
		next = *target;
	} else {
		next = *target;
		next.n_voters_old = r->conf.n_voters;
		memcpy(next.voters_old, r->conf.voters, sizeof(next.voters_old));
	}
	append_conf(r, &next);
	if (index != NULL)
		*index = log_last_index(&r->log);
	return RAFT_OK;
}
