/* checks.c: Raft's safety properties, checked from outside the nodes after every event
 * (Raft paper, Figure 3): election safety, log matching, leader completeness, state
 * machine safety; plus commit monotonicity and durability of acknowledged writes. */
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- Election safety: at most one leader per term. */

static void check_one_leader(struct sim *s, struct node *nd)
{
	raft_term t = raft_term_current(node_raft(nd));
	raft_id id = nd->idx + 1;
	if (t >= s->n_leader_of_term) {
		uint64_t n = (t + 1) * 2;
		s->leader_of_term = sim_xrealloc(s->leader_of_term, n * sizeof(raft_id));
		memset(s->leader_of_term + s->n_leader_of_term, 0,
		       (n - s->n_leader_of_term) * sizeof(raft_id));
		s->n_leader_of_term = n;
	}
	raft_id have = s->leader_of_term[t];
	if (have != RAFT_NONE && have != id) {
		sim_fail(s, "election-safety",
		         "n%" PRIu64 " and n%" PRIu64 " both led term %" PRIu64, have, id, t);
		return;
	}
	s->leader_of_term[t] = id;
}

/* ---- Log matching: an (index, term) pair names one entry, with one predecessor. */

static uint64_t key_hash(raft_index index, raft_term term)
{
	uint64_t h = index * 0x9e3779b97f4a7c15ull ^ term * 0xc2b2ae3d27d4eb4full;
	return h ^ (h >> 29);
}

static struct entry_key *entry_slot(struct sim *s, raft_index index, raft_term term)
{
	uint64_t mask = s->cap_entries - 1;
	for (uint64_t i = key_hash(index, term) & mask;; i = (i + 1) & mask) {
		struct entry_key *k = &s->entries[i];
		if (!k->used || (k->index == index && k->term == term))
			return k;
	}
}

static void entries_grow(struct sim *s)
{
	struct entry_key *old = s->entries;
	uint64_t old_cap = s->cap_entries;
	s->cap_entries = old_cap ? old_cap * 2 : 1024;
	s->entries = calloc(s->cap_entries, sizeof(*s->entries));
	if (s->entries == NULL)
		abort();
	for (uint64_t i = 0; i < old_cap; i++)
		if (old[i].used)
			*entry_slot(s, old[i].index, old[i].term) = old[i];
	free(old);
}

static void check_entry(struct sim *s, struct node *nd, const struct raft_entry *e,
                        raft_term prev_term)
{
	if (2 * (s->n_entries + 1) > s->cap_entries)
		entries_grow(s);
	struct entry_key *k = entry_slot(s, e->index, e->term);
	uint64_t h = sim_payload_hash(e);
	if (!k->used) {
		*k = (struct entry_key){e->index, e->term, h, prev_term, true};
		s->n_entries++;
		return;
	}
	if (k->hash != h)
		sim_fail(s, "log-matching",
		         "n%u holds a different entry at index %" PRIu64 " term %" PRIu64,
		         nd->idx + 1, e->index, e->term);
	else if (k->prev_term != prev_term)
		sim_fail(s, "log-matching",
		         "n%u holds (index %" PRIu64 ", term %" PRIu64 ") after term %" PRIu64
		         ", another log after term %" PRIu64,
		         nd->idx + 1, e->index, e->term, prev_term, k->prev_term);
}

void check_new_entries(struct sim *s, struct node *nd, const struct raft_ready *rd)
{
	for (uint32_t i = 0; i < rd->n_entries && !s->failed; i++) {
		const struct raft_entry *e = &rd->entries[i];
		raft_term prev =
		    i > 0 ? rd->entries[i - 1].term : raft_term_at(node_raft(nd), e->index - 1);
		check_entry(s, nd, e, prev);
	}
}

/* ---- State machine safety: one entry committed per index, ever. */

static void register_committed(struct sim *s, struct node *nd, const struct raft_entry *e)
{
	if (e->index >= s->n_committed) {
		uint64_t n = (e->index + 1) * 2;
		s->committed = sim_xrealloc(s->committed, n * sizeof(*s->committed));
		memset(s->committed + s->n_committed, 0,
		       (n - s->n_committed) * sizeof(*s->committed));
		s->n_committed = n;
	}
	struct committed *c = &s->committed[e->index];
	uint64_t h = sim_payload_hash(e);
	if (c->term == 0) {
		c->term = e->term;
		c->hash = h;
		c->observed_in = raft_term_current(node_raft(nd));
		if (e->index > s->res->committed)
			s->res->committed = e->index;
		return;
	}
	if (c->term != e->term || c->hash != h)
		sim_fail(s, "state-machine-safety",
		         "n%u commits (index %" PRIu64 ", term %" PRIu64 ") where (term %" PRIu64
		         ") was committed before",
		         nd->idx + 1, e->index, e->term, c->term);
}

void check_applied(struct sim *s, struct node *nd, const struct raft_entry *e)
{
	register_committed(s, nd, e);
}

void check_state_after_apply(struct sim *s, struct node *nd, raft_index index)
{
	/* Applying the same entries gives the same state everywhere. */
	if (index >= s->n_committed)
		return;
	struct committed *c = &s->committed[index];
	uint64_t h = sim_state_hash(nd);
	if (c->state == 0)
		c->state = h;
	else if (c->state != h)
		sim_fail(s, "state-machine-safety",
		         "n%u's state after applying index %" PRIu64 " differs from another node's",
		         nd->idx + 1, index);
}

void check_installed(struct sim *s, struct node *nd, raft_index index, raft_term term, bool state)
{
	/* A snapshot holds exactly the committed prefix it is labelled with. */
	if (index >= s->n_committed || s->committed[index].term == 0) {
		sim_fail(s, "snapshot-safety",
		         "n%u installed a snapshot at %" PRIu64 " that is not known committed",
		         nd->idx + 1, index);
		return;
	}
	if (s->committed[index].term != term)
		sim_fail(s, "snapshot-safety",
		         "n%u installed a snapshot at (index %" PRIu64 ", term %" PRIu64
		         ") where term %" PRIu64 " was committed",
		         nd->idx + 1, index, term, s->committed[index].term);
	else if (state)
		check_state_after_apply(s, nd, index);
}

/* Every committed entry is durable on a majority of each half of the leader's
 * configuration: the quorum rules of joint consensus, seen from the disks. A voter that
 * lost it to damage and catches up counts while it cannot vote (disk_had). */
static void check_commit_quorum(struct sim *s, struct node *nd, raft_index index)
{
	raft_term t = raft_term_at(node_raft(nd), index);
	const struct raft_conf *c = raft_conf_current(node_raft(nd));
	const raft_id *halves[2] = {c->voters, c->voters_old};
	uint32_t sizes[2] = {c->n_voters, c->n_voters_old};
	for (int h = 0; h < 2; h++) {
		if (sizes[h] == 0)
			continue;
		uint32_t durable = 0;
		for (uint32_t i = 0; i < sizes[h]; i++) {
			raft_id id = halves[h][i];
			if (id >= 1 && id <= s->n &&
			    (disk_has(&s->nodes[id - 1], index, t) ||
			     disk_had(&s->nodes[id - 1], index, t)))
				durable++;
		}
		if (durable < sizes[h] / 2 + 1)
			sim_fail(s, "commit-quorum",
			         "n%u committed (index %" PRIu64 ", term %" PRIu64
			         ") durable on %u of "
			         "%u %s voters",
			         nd->idx + 1, index, t, durable, sizes[h], h ? "old" : "new");
	}
}

struct node *sim_newest_leader(struct sim *s)
{
	/* Run after every event (reap_removed): each node's core is looked up once. */
	struct node *leader = NULL;
	raft_term leader_term = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		if (!s->nodes[i].up)
			continue;
		const struct raft *r = node_raft(&s->nodes[i]);
		if (raft_role(r) != RAFT_LEADER)
			continue;
		raft_term t = raft_term_current(r);
		if (leader == NULL || t > leader_term) {
			leader = &s->nodes[i];
			leader_term = t;
		}
	}
	return leader;
}

const struct raft_conf *sim_current_conf(struct sim *s)
{
	struct node *leader = sim_newest_leader(s);
	return leader != NULL ? raft_conf_current(node_raft(leader)) : NULL;
}

/* ---- Leader completeness: a leader holds every entry committed in earlier terms. */

static void check_leader_complete(struct sim *s, struct node *nd)
{
	raft_term t = raft_term_current(node_raft(nd));
	raft_index first = raft_first_index(node_raft(nd));
	for (raft_index i = first; i < s->n_committed && !s->failed; i++) {
		const struct committed *c = &s->committed[i];
		if (c->term == 0 || c->observed_in >= t)
			continue;
		if (raft_term_at(node_raft(nd), i) != c->term)
			sim_fail(s, "leader-completeness",
			         "n%u leads term %" PRIu64 " without (index %" PRIu64
			         ", term %" PRIu64 "), committed in term %" PRIu64,
			         nd->idx + 1, t, i, c->term, c->observed_in);
	}
}

void observe_soft_state(struct sim *s, struct node *nd, const struct raft_ready *rd)
{
	sim_log(s, "n%u is %s of term %" PRIu64 " (leader n%" PRIu64 ")", nd->idx + 1,
	        raft_role_name(rd->role), rd->term, rd->leader);
}

void check_node(struct sim *s, struct node *nd)
{
	const struct raft *r = node_raft(nd);
	raft_index c = raft_commit_index(r);
	if (c < nd->last_commit) {
		sim_fail(s, "commit-monotonic",
		         "n%u commit index went from %" PRIu64 " to %" PRIu64, nd->idx + 1,
		         nd->last_commit, c);
		return;
	}
	if (c > nd->last_commit && raft_role(r) == RAFT_LEADER)
		check_commit_quorum(s, nd, c);
	raft_index from = nd->last_commit + 1;
	if (from < raft_first_index(r))
		from = raft_first_index(r); /* installed from a snapshot, checked there */
	for (raft_index i = from; i <= c && !s->failed; i++) {
		const struct raft_entry *e = raft_entry_at(r, i);
		if (e == NULL) {
			sim_fail(s, "commit-range",
			         "n%u committed index %" PRIu64 " beyond its log (last %" PRIu64
			         ")",
			         nd->idx + 1, i, raft_last_index(r));
			return;
		}
		register_committed(s, nd, e);
	}
	nd->last_commit = c;

	enum raft_role role = raft_role(r);
	if (role == RAFT_LEADER) {
		check_one_leader(s, nd);
		if (nd->role != RAFT_LEADER) {
			s->res->elections++;
			check_leader_complete(s, nd);
			sim_narrate(s,
			            "n%u wins the election for term %" PRIu64
			            " (log ends at %" PRIu64 ", commit %" PRIu64 ")",
			            nd->idx + 1, raft_term_current(r), raft_last_index(r), c);
		}
	}
	if (role != RAFT_LEADER && nd->role == RAFT_LEADER)
		sim_narrate(s, "n%u is no longer leader (%s, term %" PRIu64 ")", nd->idx + 1,
		            raft_role_name(role), raft_term_current(r));
	nd->role = role;
	if (raft_term_current(r) > s->res->max_term)
		s->res->max_term = raft_term_current(r);
}

/* The address book is replicated state: every node added during the run has its record
 * in the kv of every member that is up. */
static void check_address_book(struct sim *s)
{
	const struct raft_conf *members = sim_current_conf(s);
	for (uint32_t j = s->n_initial; j < s->n && !s->failed && members != NULL; j++) {
		if (!s->nodes[j].exists)
			continue;
		char key[40];
		size_t len = sim_member_key(j + 1, key);
		for (uint32_t i = 0; i < s->n && !s->failed; i++) {
			const struct node *nd = &s->nodes[i];
			if (!nd->up || !raft_conf_is_member(members, i + 1))
				continue;
			struct kv_value v;
			if (kv_get(driver_kv(nd->d), key, len, 0, &v) != 0)
				sim_fail(s, "address-book",
				         "n%u's kv has no record of n%u, "
				         "added during the run",
				         i + 1, j + 1);
		}
	}
}

void final_checks(struct sim *s)
{
	/* Every acknowledged write is in every node's log at the index it was acked
	 * at: once the cluster converged nothing acknowledged may be missing. */
	for (uint64_t h = 0; h < s->n_hist && !s->failed; h++) {
		const struct hist_op *op = &s->hist[h];
		if (!op->write || op->index == 0)
			continue; /* not acknowledged committed */
		const struct raft_conf *members = sim_current_conf(s);
		for (uint32_t i = 0; i < s->n && !s->failed; i++) {
			struct node *nd = &s->nodes[i];
			if (!nd->up || members == NULL || !raft_conf_is_member(members, i + 1))
				continue;
			if (op->index <= raft_snapshot_index(node_raft(nd)))
				continue; /* under its snapshot, which matched the commits */
			if (raft_term_at(node_raft(nd), op->index) != op->term)
				sim_fail(s, "acknowledged-write-lost",
				         "client %u's write of key %u (index %" PRIu64
				         ", term %" PRIu64 ") is missing on n%u",
				         op->client, op->key, op->index, op->term, i + 1);
		}
	}
	check_address_book(s);
}

void checks_free(struct sim *s)
{
	free(s->leader_of_term);
	free(s->committed);
	free(s->entries);
}
