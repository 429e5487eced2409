/* harness.c: a hand-driven cluster for the core's unit tests. */
#include "harness.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	assert(q != NULL);
	return q;
}

static struct h_node *node(struct h *h, raft_id id)
{
	assert(id >= 1);
	assert(id <= h->n);
	return &h->nodes[id - 1];
}

struct raft *h_raft(struct h *h, raft_id id)
{
	return node(h, id)->r;
}

static void start_with(struct h *h, raft_id id, bool catch_up, raft_index catch_up_to)
{
	struct h_node *nd = node(h, id);
	struct raft_config cfg = h->cfg;
	cfg.id = id;
	cfg.seed = id * 7919;
	struct raft_boot boot = {.hard_state = nd->hs, .entries = nd->log, .n_entries = nd->n_log};
	boot.conf = nd->boot_conf;
	boot.catch_up = catch_up;
	boot.catch_up_to = catch_up_to;
	if (nd->snap_data != NULL) {
		boot.snapshot_index = nd->snap_index;
		boot.snapshot_term = nd->snap_term;
		boot.snapshot_data = nd->snap_data;
		boot.conf = nd->snap_conf;
		boot.applied = nd->snap_index;
	}
	int rv = raft_new(&nd->r, &cfg, &boot);
	assert(rv == 0);
	(void)rv;
	nd->up = true;
	nd->error = 0;
	nd->applied = boot.applied;
	nd->n_reads = 0;
}

static void log_clear(struct h_node *nd);

static void start(struct h *h, raft_id id)
{
	start_with(h, id, false, 0);
}

void h_init_spares(struct h *h, uint32_t n_total, uint32_t n_voters, bool pre_vote,
                   bool check_quorum)
{
	assert(n_total <= H_MAX);
	assert(n_voters <= n_total);
	memset(h, 0, sizeof(*h));
	h->n = n_total;
	raft_config_default(&h->cfg, 1);
	h->cfg.pre_vote = pre_vote;
	h->cfg.check_quorum = check_quorum;
	for (uint32_t i = 0; i < n_voters; i++) {
		struct raft_conf *c = &h->nodes[i].boot_conf;
		c->n_voters = n_voters;
		for (uint32_t j = 0; j < n_voters; j++)
			c->voters[j] = j + 1;
	}
	for (uint32_t i = 0; i < n_total; i++)
		start(h, i + 1);
}

void h_init(struct h *h, uint32_t n, bool pre_vote, bool check_quorum)
{
	h_init_spares(h, n, n, pre_vote, check_quorum);
}

static struct raft_buf *snapshot_bytes(raft_index index, uint32_t size)
{
	unsigned char *p = malloc(size);
	assert(p != NULL);
	for (uint32_t i = 0; i < size; i++)
		p[i] = (unsigned char)(index * 131 + i);
	struct raft_buf *b = raft_buf_new(p, size);
	free(p);
	return b;
}

void h_snapshot(struct h *h, raft_id id, uint32_t size, raft_index trailing)
{
	struct h_node *nd = node(h, id);
	raft_term term;
	struct raft_conf conf;
	int rv = raft_snapshot_meta(nd->r, nd->applied, &term, &conf);
	assert(rv == 0);
	struct raft_buf *data = snapshot_bytes(nd->applied, size);
	raft_buf_unref(nd->snap_data);
	nd->snap_data = raft_buf_ref(data);
	nd->snap_index = nd->applied;
	nd->snap_term = term;
	nd->snap_conf = conf;
	/* The stored log keeps only what follows the snapshot. */
	uint32_t keep = 0;
	for (uint32_t i = 0; i < nd->n_log; i++) {
		if (nd->log[i].index <= nd->snap_index)
			raft_buf_unref(nd->log[i].buf);
		else
			nd->log[keep++] = nd->log[i];
	}
	nd->n_log = keep;
	rv = raft_snapshot_taken(nd->r, nd->snap_index, data, trailing);
	assert(rv == 0);
	raft_buf_unref(data);
}

int h_change(struct h *h, raft_id id, const raft_id *voters, uint32_t n_voters,
             const raft_id *learners, uint32_t n_learners)
{
	struct raft_conf c;
	memset(&c, 0, sizeof(c));
	c.n_voters = n_voters;
	memcpy(c.voters, voters, n_voters * sizeof(raft_id));
	c.n_learners = n_learners;
	if (n_learners > 0)
		memcpy(c.learners, learners, n_learners * sizeof(raft_id));
	int rv = raft_change_config(node(h, id)->r, &c, NULL);
	h_ready(h, id);
	return rv;
}

static void log_clear(struct h_node *nd)
{
	for (uint32_t i = 0; i < nd->n_log; i++)
		raft_buf_unref(nd->log[i].buf);
	nd->n_log = 0;
}

void h_boot(struct h *h, raft_id id, const raft_term *terms, uint32_t n_terms, raft_term term)
{
	struct h_node *nd = node(h, id);
	raft_free(nd->r);
	log_clear(nd);
	nd->log = xrealloc(nd->log, sizeof(*nd->log) * (n_terms + 1));
	for (uint32_t i = 0; i < n_terms; i++) {
		char text[32];
		int len = snprintf(text, sizeof(text), "boot-%u-%u", i + 1, (unsigned)terms[i]);
		nd->log[i] = (struct raft_entry){.term = terms[i],
		                                 .index = i + 1,
		                                 .type = RAFT_ENTRY_NORMAL,
		                                 .buf = raft_buf_new(text, (size_t)len)};
	}
	nd->n_log = n_terms;
	nd->hs = (struct raft_hard_state){.term = term};
	start(h, id);
}

void h_free(struct h *h)
{
	for (uint32_t i = 0; i < h->n; i++) {
		struct h_node *nd = &h->nodes[i];
		if (nd->up) {
			h_ready(h, i + 1);
			raft_free(nd->r);
		}
		log_clear(nd);
		free(nd->log);
		raft_buf_unref(nd->snap_data);
	}
	for (uint32_t i = 0; i < h->n_q; i++)
		raft_message_release(&h->q[i]);
	free(h->q);
}

static void enqueue(struct h *h, const struct raft_message *m)
{
	if (h->n_q == h->cap_q) {
		h->cap_q = h->cap_q ? h->cap_q * 2 : 64;
		h->q = xrealloc(h->q, h->cap_q * sizeof(*h->q));
	}
	raft_message_copy(&h->q[h->n_q++], m);
}

static void persist(struct h_node *nd, const struct raft_ready *rd)
{
	/* Step 2 for one batch: the snapshot (dropping the stored log it covers, or all of
	 * it), the hard state, then the entries, each replacing the stored suffix. */
	if (rd->has_snapshot) {
		raft_buf_unref(nd->snap_data);
		nd->snap_data = raft_buf_ref(rd->snapshot_data);
		nd->snap_index = rd->snapshot_index;
		nd->snap_term = rd->snapshot_term;
		nd->snap_conf = rd->snapshot_conf;
		uint32_t keep = 0;
		for (uint32_t i = 0; i < nd->n_log; i++) {
			if (rd->snapshot_discard_log || nd->log[i].index <= rd->snapshot_index)
				raft_buf_unref(nd->log[i].buf);
			else
				nd->log[keep++] = nd->log[i];
		}
		nd->n_log = keep;
		/* The state machine is replaced by the snapshot. */
		nd->applied = rd->snapshot_index;
		nd->installs++;
	}
	if (rd->has_hard_state)
		nd->hs = rd->hard_state;
	if (rd->n_entries == 0)
		return;
	raft_index first = rd->entries[0].index;
	while (nd->n_log > 0 && nd->log[nd->n_log - 1].index >= first)
		raft_buf_unref(nd->log[--nd->n_log].buf);
	nd->log = xrealloc(nd->log, sizeof(*nd->log) * (nd->n_log + rd->n_entries));
	for (uint32_t i = 0; i < rd->n_entries; i++) {
		nd->log[nd->n_log] = rd->entries[i];
		raft_buf_ref(rd->entries[i].buf);
		nd->n_log++;
	}
}

void h_persist(struct h *h, raft_id id, const struct raft_ready *rd)
{
	persist(node(h, id), rd);
}

/* Whether the disk holds (index, term): in the stored log, or under the snapshot. */
static bool stored(const struct h_node *nd, raft_index index, raft_term term)
{
	if (nd->snap_data != NULL && index <= nd->snap_index)
		return index < nd->snap_index || term == nd->snap_term;
	for (uint32_t i = 0; i < nd->n_log; i++)
		if (nd->log[i].index == index)
			return nd->log[i].term == term;
	return false;
}

bool h_disk_consistent(struct h *h, raft_id id, char *why, size_t len)
{
	struct h_node *nd = node(h, id);
	raft_index want = nd->snap_data != NULL ? nd->snap_index + 1 : 1;
	raft_term prev = nd->snap_data != NULL ? nd->snap_term : 0;
	for (uint32_t i = 0; i < nd->n_log; i++) {
		const struct raft_entry *e = &nd->log[i];
		if (e->index != want) {
			snprintf(why, len, "stored entry %u is index %llu, expected %llu", i,
			         (unsigned long long)e->index, (unsigned long long)want);
			return false;
		}
		if (e->term < prev) {
			snprintf(why, len, "stored index %llu has term %llu after term %llu",
			         (unsigned long long)e->index, (unsigned long long)e->term,
			         (unsigned long long)prev);
			return false;
		}
		if (raft_term_at(nd->r, e->index) != e->term) {
			snprintf(why, len, "stored (index %llu, term %llu), the core has term %llu",
			         (unsigned long long)e->index, (unsigned long long)e->term,
			         (unsigned long long)raft_term_at(nd->r, e->index));
			return false;
		}
		want++;
		prev = e->term;
	}
	if (want - 1 != raft_last_index(nd->r)) {
		snprintf(why, len, "the disk ends at %llu, the core's log at %llu",
		         (unsigned long long)(want - 1),
		         (unsigned long long)raft_last_index(nd->r));
		return false;
	}
	return true;
}

void h_ready(struct h *h, raft_id id)
{
	struct h_node *nd = node(h, id);
	while (nd->up && raft_has_ready(nd->r)) {
		struct raft_ready rd;
		raft_ready(nd->r, &rd);
		if (rd.error != 0) {
			/* The driver's part of a fail-stop: nothing in the batch to act on. */
			assert(rd.n_messages == 0 && rd.n_persisted_messages == 0);
			assert(rd.n_entries == 0 && rd.n_committed == 0 && !rd.has_snapshot);
			nd->error = rd.error;
		}
		for (uint32_t i = 0; i < rd.n_messages; i++)
			enqueue(h, &rd.messages[i]);
		h->n_sent_now += rd.n_messages;
		persist(nd, &rd);
		for (uint32_t i = 0; i < rd.n_persisted_messages; i++)
			enqueue(h, &rd.persisted_messages[i]);
		h->n_sent_persisted += rd.n_persisted_messages;
		for (uint32_t i = 0; i < rd.n_committed; i++) {
			const struct raft_entry *e = &rd.committed[i];
			assert(e->index == nd->applied + 1);
			/* The core hands out for applying only what is durable. */
			if (!stored(nd, e->index, e->term))
				nd->applied_unstored++;
			if (e->index < 1024)
				nd->applied_terms[e->index] = e->term;
			nd->applied = e->index;
		}
		for (uint32_t i = 0; i < rd.n_reads && nd->n_reads < 64; i++)
			nd->reads[nd->n_reads++] = rd.reads[i];
		raft_advance(nd->r, &rd);
	}
}

static bool matches(const struct raft_message *m, raft_id from, raft_id to, enum raft_msg_type type)
{
	return (from == 0 || m->from == from) && (to == 0 || m->to == to) &&
	       (type == 0 || m->type == type);
}

static void take(struct h *h, uint32_t i, struct raft_message *out)
{
	*out = h->q[i];
	memmove(&h->q[i], &h->q[i + 1], (h->n_q - i - 1) * sizeof(*h->q));
	h->n_q--;
}

static void deliver(struct h *h, struct raft_message *m)
{
	struct h_node *nd = node(h, m->to);
	if (nd->up && !h->cut[m->from][m->to]) {
		raft_step(nd->r, m);
		h_ready(h, m->to);
	}
	raft_message_release(m);
}

bool h_deliver_one(struct h *h, raft_id from, raft_id to, enum raft_msg_type type)
{
	for (uint32_t i = 0; i < h->n_q; i++) {
		if (!matches(&h->q[i], from, to, type))
			continue;
		struct raft_message m;
		take(h, i, &m);
		deliver(h, &m);
		return true;
	}
	return false;
}

uint32_t h_stabilize(struct h *h)
{
	uint32_t n = 0;
	for (uint32_t i = 1; i <= h->n; i++)
		h_ready(h, i);
	while (h->n_q > 0 && n < 100000) {
		struct raft_message m;
		take(h, 0, &m);
		deliver(h, &m);
		n++;
	}
	return n;
}

uint32_t h_drop(struct h *h, raft_id from, raft_id to, enum raft_msg_type type)
{
	uint32_t dropped = 0;
	for (uint32_t i = 0; i < h->n_q;) {
		if (matches(&h->q[i], from, to, type)) {
			struct raft_message m;
			take(h, i, &m);
			raft_message_release(&m);
			dropped++;
		} else {
			i++;
		}
	}
	return dropped;
}

struct raft_message *h_find(struct h *h, raft_id from, raft_id to, enum raft_msg_type type)
{
	for (uint32_t i = 0; i < h->n_q; i++)
		if (matches(&h->q[i], from, to, type))
			return &h->q[i];
	return NULL;
}

void h_isolate(struct h *h, raft_id id)
{
	for (uint32_t i = 1; i <= h->n; i++) {
		h->cut[id][i] = true;
		h->cut[i][id] = true;
	}
}

void h_heal(struct h *h)
{
	memset(h->cut, 0, sizeof(h->cut));
}

void h_tick(struct h *h, raft_id id, uint32_t ticks)
{
	for (uint32_t t = 0; t < ticks; t++) {
		raft_tick(node(h, id)->r);
		h_ready(h, id);
	}
}

void h_tick_all(struct h *h, uint32_t ticks)
{
	for (uint32_t t = 0; t < ticks; t++) {
		for (uint32_t i = 1; i <= h->n; i++)
			if (node(h, i)->up)
				h_tick(h, i, 1);
		h_stabilize(h);
	}
}

void h_elect(struct h *h, raft_id id)
{
	int rv = raft_campaign(node(h, id)->r);
	assert(rv == 0);
	(void)rv;
	h_stabilize(h);
}

raft_id h_leader(struct h *h)
{
	raft_id leader = RAFT_NONE;
	raft_term best = 0;
	for (uint32_t i = 1; i <= h->n; i++) {
		struct h_node *nd = node(h, i);
		if (nd->up && raft_role(nd->r) == RAFT_LEADER && raft_term_current(nd->r) >= best) {
			best = raft_term_current(nd->r);
			leader = i;
		}
	}
	return leader;
}

int h_propose(struct h *h, raft_id id, const char *text, raft_term *term, raft_index *index)
{
	int rv = raft_propose(node(h, id)->r, text, strlen(text), term, index);
	h_ready(h, id);
	return rv;
}

void h_propose_n(struct h *h, raft_id id, int n)
{
	for (int i = 0; i < n; i++) {
		char text[32];
		snprintf(text, sizeof(text), "entry-%d", i);
		int rv = h_propose(h, id, text, NULL, NULL);
		assert(rv == 0);
		(void)rv;
		h_stabilize(h);
	}
}

void h_restart(struct h *h, raft_id id)
{
	struct h_node *nd = node(h, id);
	raft_free(nd->r);
	start(h, id);
}

void h_restart_damaged(struct h *h, raft_id id, uint32_t keep, raft_index catch_up_to)
{
	struct h_node *nd = node(h, id);
	raft_free(nd->r);
	while (nd->n_log > keep)
		raft_buf_unref(nd->log[--nd->n_log].buf);
	start_with(h, id, true, catch_up_to);
}
