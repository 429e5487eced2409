/* node_ready.c: the driver: the ready/advance loop, pending writes and reads, proposals. */
#include "server/node_impl.h"
#include "base/alloc.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/*
 * raft.h's contract, step by step, against the seam of node_impl.h: time comes from
 * node_now_ms(), messages leave by node_send(), batches go to the disk by
 * node_persist_batch() and come back by node_batch_persisted().
 */

/* ---------------------------------------------------------------------------------
 * Pending client operations
 */

void node_writes_fail_upto(struct node *n, raft_index upto, int status)
{
	uint32_t done = 0;
	while (done < n->n_writes && n->writes[done].index <= upto)
		done++;
	struct pending_write *taken = NULL;
	if (done > 0) {
		taken = xmalloc(done * sizeof(*taken));
		memcpy(taken, n->writes, done * sizeof(*taken));
		memmove(n->writes, n->writes + done, (n->n_writes - done) * sizeof(*n->writes));
		n->n_writes -= done;
	}
	for (uint32_t i = 0; i < done; i++) {
		if (status == NODE_ETIMEOUT)
			n->m.proposals_timeout++;
		taken[i].cb(taken[i].arg, status, NULL);
	}
	free(taken);
}

void node_reads_fail_all(struct node *n, int status)
{
	struct pending_read *taken = n->reads;
	uint32_t count = n->n_reads;
	n->reads = NULL;
	n->n_reads = n->cap_reads = 0;
	for (uint32_t i = 0; i < count; i++)
		taken[i].cb(taken[i].arg, status);
	free(taken);
}

/* Writes whose index was applied learn their outcome (raft.h: success only if the entry
 * applied at the index carries the proposal's term). */
static void writes_on_apply(struct node *n, const struct raft_entry *e, const struct kv_reply *r)
{
	while (n->n_writes > 0 && n->writes[0].index <= e->index) {
		struct pending_write w = n->writes[0];
		memmove(n->writes, n->writes + 1, (n->n_writes - 1) * sizeof(*n->writes));
		n->n_writes--;
		if (w.index == e->index && w.term == e->term) {
			n->m.proposals_ok++;
			n->m.commit_latency_us_sum += node_now_us() - w.start_us;
			n->m.commit_latency_count++;
			w.cb(w.arg, NODE_OK, r);
		} else if (w.index == e->index) {
			n->m.proposals_lost++;
			w.cb(w.arg, NODE_ELOST, NULL);
		} else {
			/* Covered by a snapshot: the outcome is not known here. */
			w.cb(w.arg, NODE_ETIMEOUT, NULL);
		}
	}
}

/* The pending read tagged `ctx`: the array is sorted by ctx, since reads are appended
 * with increasing contexts and removals keep the order. */
static struct pending_read *read_find(struct node *n, uint64_t ctx)
{
	uint32_t lo = 0, hi = n->n_reads;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (n->reads[mid].ctx < ctx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n->n_reads && n->reads[lo].ctx == ctx ? &n->reads[lo] : NULL;
}

/* ReadIndex, last step: a confirmed read is served once its index is applied. */
static void reads_serve(struct node *n)
{
	raft_index applied = kv_applied_index(n->kv);
	struct pending_read *ready = NULL;
	uint32_t n_ready = 0, kept = 0;
	for (uint32_t i = 0; i < n->n_reads; i++) {
		struct pending_read r = n->reads[i];
		if (!r.confirmed || r.index > applied) {
			n->reads[kept++] = r;
			continue;
		}
		if (ready == NULL) {
			ready = xmalloc(n->n_reads * sizeof(*ready));
		}
		ready[n_ready++] = r;
	}
	n->n_reads = kept;
	/* Callbacks run after the list is consistent: they may queue new reads. */
	for (uint32_t i = 0; i < n_ready; i++) {
		n->m.reads_ok++;
		ready[i].cb(ready[i].arg, NODE_OK);
	}
	free(ready);
}

static void sweep_timeouts(struct node *n)
{
	uint64_t now = node_now_ms(n);
	/* Writes time out in index order (they were proposed in order, with one timeout). */
	raft_index upto = 0;
	for (uint32_t i = 0; i < n->n_writes && n->writes[i].deadline_ms <= now; i++)
		upto = n->writes[i].index;
	if (upto > 0)
		node_writes_fail_upto(n, upto, NODE_ETIMEOUT);
	uint32_t kept = 0;
	struct pending_read expired[64];
	uint32_t n_expired = 0;
	for (uint32_t i = 0; i < n->n_reads; i++) {
		if (n->reads[i].deadline_ms <= now && n_expired < 64)
			expired[n_expired++] = n->reads[i];
		else
			n->reads[kept++] = n->reads[i];
	}
	n->n_reads = kept;
	for (uint32_t i = 0; i < n_expired; i++)
		expired[i].cb(expired[i].arg, NODE_ETIMEOUT);
}

/* ---------------------------------------------------------------------------------
 * The ready/advance loop (raft.h's contract, step by step)
 */

static void batch_done(struct node *n, struct batch *b)
{
	/* 3. Durable: speak. 5. Advance. */
	for (uint32_t i = 0; i < b->rd.n_persisted_messages; i++)
		node_send(n, &b->rd.persisted_messages[i]);
	raft_advance(n->r, &b->rd);
	free(b);
}

void node_batch_persisted(struct node *n, struct batch *b)
{
	n->inflight--;
	batch_done(n, b);
	n->dirty = true;
}

static void apply_entry(struct node *n, const struct raft_entry *e)
{
	struct kv_reply reply;
	kv_apply_entry(n->kv, e, &reply);
	n->bytes_since_snapshot += raft_entry_len(e);
	/* The address book (keys under KV_MEMBER_PREFIX) is the store's: the store says
	 * when a command wrote it. */
	if (reply.members_written) {
		node_members_reload(n);
		node_peers_sync(n);
	}
	if (e->type == RAFT_ENTRY_CONFIG)
		node_peers_sync(n);
	writes_on_apply(n, e, &reply);
}

static void on_soft_state(struct node *n, const struct raft_ready *rd)
{
	if (rd->role == RAFT_LEADER && n->role != RAFT_LEADER) {
		n->m.elections_won++;
		node_logf(n, LOG_INFO, "leader of term %" PRIu64, rd->term);
	} else if (rd->role != RAFT_LEADER && n->role == RAFT_LEADER) {
		node_logf(n, LOG_INFO, "no longer leader (term %" PRIu64 ")", rd->term);
		/* Reads pending here will never be confirmed by this node. */
		node_reads_fail_all(n, NODE_ENOTLEADER);
	}
	n->role = rd->role;
}

static void process_batch(struct node *n, struct batch *b)
{
	struct raft_ready *rd = &b->rd;
	n->m.ready_batches++;
	if (rd->soft_state_changed)
		on_soft_state(n, rd);
	/* 1. Messages that depend on nothing unpersisted. */
	for (uint32_t i = 0; i < rd->n_messages; i++)
		node_send(n, &rd->messages[i]);
	/* 4. A snapshot from the leader replaces the state; then apply in order. */
	if (rd->has_snapshot) {
		int rv = kv_snapshot_read_buf(n->kv, rd->snapshot_data->data, rd->snapshot_data->len);
		if (rv != 0)
			node_fail_stop(n, "the leader's snapshot does not load into the state machine");
		n->last_snapshot = rd->snapshot_index;
		node_writes_fail_upto(n, rd->snapshot_index, NODE_ETIMEOUT);
		node_members_reload(n);
		node_peers_sync(n);
		node_logf(n, LOG_INFO, "installed the leader's snapshot at index %" PRIu64,
		          rd->snapshot_index);
	}
	for (uint32_t i = 0; i < rd->n_committed; i++)
		apply_entry(n, &rd->committed[i]);
	for (uint32_t i = 0; i < rd->n_reads; i++) {
		struct pending_read *p = read_find(n, rd->reads[i].context);
		if (p != NULL) {
			p->index = rd->reads[i].index;
			p->confirmed = true;
		}
	}
	reads_serve(n);
	/* 2. Persist. A batch with nothing to write and nothing ahead of it completes now. */
	bool empty = !rd->has_hard_state && rd->n_entries == 0 && !rd->has_snapshot;
	if (empty && n->inflight == 0) {
		batch_done(n, b);
		return;
	}
	n->inflight++;
	n->m.storage_writes++;
	node_persist_batch(n, b);
}

void node_drain(struct node *n)
{
	if (n->draining || n->stopping)
		return;
	n->draining = true;
	n->dirty = false;
	while (raft_has_ready(n->r)) {
		struct batch *b = xcalloc(1, sizeof(*b));
		b->n = n;
		raft_ready(n->r, &b->rd);
		process_batch(n, b);
	}
	node_snapshot_maybe(n);
	n->draining = false;
}

void node_on_tick(struct node *n)
{
	raft_tick(n->r);
	sweep_timeouts(n);
	node_drain(n);
}

void node_on_message(struct node *n, const struct raft_message *m)
{
	if (n->stopping)
		return;
	raft_step(n->r, m);
	n->dirty = true;
}

/* ---------------------------------------------------------------------------------
 * Client operations
 */

/* Whether a client command names a key of the reserved keyspace (kv.h), which only
 * Concord itself writes. */
static bool touches_reserved(const struct kv_cmd *c)
{
	if (kv_key_reserved(c->put.key, c->put.key_len))
		return true;
	for (size_t i = 0; i < c->n && c->puts != NULL; i++)
		if (kv_key_reserved(c->puts[i].key, c->puts[i].key_len))
			return true;
	for (size_t i = 0; i < c->n && c->keys != NULL; i++)
		if (kv_key_reserved(c->keys[i].data, c->keys[i].len))
			return true;
	return false;
}

int node_propose(struct node *n, const struct kv_cmd *cmd, node_write_cb cb, void *arg)
{
	if (n->stopping)
		return NODE_ESTOPPING;
	if (raft_role(n->r) != RAFT_LEADER)
		return NODE_ENOTLEADER;
	struct kv_cmd c = *cmd;
	c.time_ms = node_wall_ms(); /* the log time that expires sessions, the same everywhere */
	void *buf = NULL;
	size_t len = 0;
	int rv = kv_cmd_encode(&c, &n->cfg.kv.limits, &buf, &len);
	if (rv != 0)
		return rv == KV_EKEYTOOBIG || rv == KV_EVALUETOOBIG || rv == KV_ETOOMANY
			   ? NODE_ETOOBIG
			   : NODE_EINVAL;
	raft_term term;
	raft_index index;
	rv = raft_propose(n->r, buf, len, &term, &index);
	free(buf);
	if (rv != 0)
		return node_raft_error(rv);
	if (n->n_writes == n->cap_writes) {
		n->cap_writes = n->cap_writes ? n->cap_writes * 2 : 64;
		n->writes = xrealloc(n->writes, n->cap_writes * sizeof(*n->writes));
	}
	assert(n->n_writes == 0 || n->writes[n->n_writes - 1].index < index);
	n->writes[n->n_writes++] = (struct pending_write){
	    .index = index,
	    .term = term,
	    .cb = cb,
	    .arg = arg,
	    .deadline_ms = node_now_ms(n) + n->cfg.request_timeout_ms,
	    .start_us = node_now_us(),
	};
	n->m.proposals++;
	n->dirty = true;
	return NODE_OK;
}

int node_write(struct node *n, const struct kv_cmd *cmd, node_write_cb cb, void *arg)
{
	if (touches_reserved(cmd))
		return NODE_EINVAL;
	return node_propose(n, cmd, cb, arg);
}

int node_read(struct node *n, bool stale, node_read_cb cb, void *arg)
{
	if (n->stopping)
		return NODE_ESTOPPING;
	n->m.reads++;
	if (stale) {
		n->m.reads_ok++;
		cb(arg, NODE_OK);
		return NODE_OK;
	}
	uint64_t ctx = ++n->read_ctx;
	int rv = raft_read_index(n->r, ctx);
	if (rv != 0)
		return node_raft_error(rv);
	if (n->n_reads == n->cap_reads) {
		n->cap_reads = n->cap_reads ? n->cap_reads * 2 : 64;
		n->reads = xrealloc(n->reads, n->cap_reads * sizeof(*n->reads));
	}
	n->reads[n->n_reads++] = (struct pending_read){
	    .ctx = ctx, .cb = cb, .arg = arg,
	    .deadline_ms = node_now_ms(n) + n->cfg.request_timeout_ms};
	n->dirty = true;
	return NODE_OK;
}

