/* ready.c: the ready/advance loop, apply, pending writes and reads, timeouts, proposals. */
#include "driver/impl.h"
#include "base/alloc.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/*
 * raft.h's contract, step by step, against the seam of driver.h: time comes from
 * now_ms(), messages leave by send(), batches go to the disk by persist() and come back
 * by driver_persisted().
 */

/* ---------------------------------------------------------------------------------
 * Pending client operations
 */

void driver_writes_fail_upto(struct driver *d, raft_index upto, int status)
{
	uint32_t done = 0;
	while (done < d->n_writes && d->writes[done].index <= upto)
		done++;
	if (done == 0)
		return;
	/* Callbacks run after the list is consistent: they may propose again. */
	struct pending_write *taken = xmalloc(done * sizeof(*taken));
	memcpy(taken, d->writes, done * sizeof(*taken));
	memmove(d->writes, d->writes + done, (d->n_writes - done) * sizeof(*d->writes));
	d->n_writes -= done;
	for (uint32_t i = 0; i < done; i++) {
		if (status == DRIVER_ETIMEOUT)
			d->m.proposals_timeout++;
		taken[i].cb(taken[i].arg, status, NULL);
	}
	free(taken);
}

void driver_reads_fail_all(struct driver *d, int status)
{
	struct pending_read *taken = d->reads;
	uint32_t count = d->n_reads;
	d->reads = NULL;
	d->n_reads = d->cap_reads = 0;
	for (uint32_t i = 0; i < count; i++)
		taken[i].cb(taken[i].arg, status);
	free(taken);
}

/* Writes whose index was applied learn their outcome (raft.h: success only if the entry
 * applied at the index carries the proposal's term). */
static void writes_on_apply(struct driver *d, const struct raft_entry *e, const struct kv_reply *r)
{
	while (d->n_writes > 0 && d->writes[0].index <= e->index) {
		struct pending_write w = d->writes[0];
		memmove(d->writes, d->writes + 1, (d->n_writes - 1) * sizeof(*d->writes));
		d->n_writes--;
		if (w.index == e->index && w.term == e->term) {
			d->m.proposals_ok++;
			uint64_t us = driver_now_us(d) - w.start_us;
			d->m.commit_latency_us_sum += us;
			d->m.commit_latency_count++;
			histogram_observe_us(&d->m.commit_seconds, us);
			w.cb(w.arg, DRIVER_OK, r);
		} else if (w.index == e->index) {
			d->m.proposals_lost++;
			w.cb(w.arg, DRIVER_ELOST, NULL);
		} else {
			/* Covered by a snapshot: the outcome is not known here. */
			w.cb(w.arg, DRIVER_ETIMEOUT, NULL);
		}
	}
}

/* The pending read tagged `ctx`: the array is sorted by ctx, since reads are appended
 * with increasing contexts and removals keep the order. */
static struct pending_read *read_find(struct driver *d, uint64_t ctx)
{
	uint32_t lo = 0, hi = d->n_reads;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (d->reads[mid].ctx < ctx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->n_reads && d->reads[lo].ctx == ctx ? &d->reads[lo] : NULL;
}

/* ReadIndex, last step: a confirmed read is served once its index is applied. */
static void reads_serve(struct driver *d)
{
	raft_index applied = kv_applied_index(d->kv);
	struct pending_read *ready = NULL;
	uint32_t n_ready = 0, kept = 0;
	/* In the order they came (src/driver/order.h): a read that waits (for its round, its
	 * index or a stamp of the log clock) holds back the reads after it, which would
	 * otherwise see an older store than it will. Two reads pipelined on one connection
	 * then take effect in the order sent. */
	bool blocked = false;
	for (uint32_t i = 0; i < d->n_reads; i++) {
		struct pending_read r = d->reads[i];
		if (blocked || !r.confirmed || r.index > applied || r.after > applied) {
			blocked = true;
			d->reads[kept++] = r;
			continue;
		}
		if (ready == NULL)
			ready = xmalloc(d->n_reads * sizeof(*ready));
		ready[n_ready++] = r;
	}
	d->n_reads = kept;
	/* Callbacks run after the list is consistent: they may queue new reads. */
	for (uint32_t i = 0; i < n_ready; i++) {
		d->m.reads_ok++;
		ready[i].cb(ready[i].arg, DRIVER_OK);
	}
	free(ready);
}

static void sweep_timeouts(struct driver *d)
{
	uint64_t now = driver_now_ms(d);
	/* Writes time out in index order (they were proposed in order, with one timeout). */
	raft_index upto = 0;
	for (uint32_t i = 0; i < d->n_writes && d->writes[i].deadline_ms <= now; i++)
		upto = d->writes[i].index;
	if (upto > 0)
		driver_writes_fail_upto(d, upto, DRIVER_ETIMEOUT);
	uint32_t kept = 0;
	struct pending_read expired[64];
	uint32_t n_expired = 0;
	for (uint32_t i = 0; i < d->n_reads; i++) {
		if (d->reads[i].deadline_ms <= now && n_expired < 64)
			expired[n_expired++] = d->reads[i];
		else
			d->reads[kept++] = d->reads[i];
	}
	d->n_reads = kept;
	for (uint32_t i = 0; i < n_expired; i++)
		expired[i].cb(expired[i].arg, DRIVER_ETIMEOUT);
}

/* ---------------------------------------------------------------------------------
 * The ready/advance loop (raft.h's contract, step by step)
 */

static void batch_done(struct driver *d, struct driver_batch *b)
{
	/* 3. Durable: speak. 5. Advance. */
	for (uint32_t i = 0; i < b->rd.n_persisted_messages; i++)
		d->seam.send(d->seam.ctx, &b->rd.persisted_messages[i]);
	raft_index installed = b->rd.has_snapshot ? b->rd.snapshot_index : 0;
	raft_advance(d->r, &b->rd);
	free(b);
	if (installed != 0)
		driver_snapshot_map(d, installed); /* the leader's snapshot is on disk now */
}

void driver_persisted(struct driver *d, struct driver_batch *b, int status)
{
	if (d->failed)
		return; /* a dead driver's batches are released by driver_free */
	/* Batches complete in the order they were given: the core advances them so. */
	assert(b != NULL && b == d->head && d->inflight > 0);
	if (status != 0) {
		driver_fail(d, "a ready batch did not persist");
		return;
	}
	d->head = b->next;
	if (d->head == NULL)
		d->tail = NULL;
	d->inflight--;
	batch_done(d, b);
	d->dirty = true;
}

void driver_batches_release(struct driver *d)
{
	/* The core frees only advanced batches; a dead driver's core is never used again. */
	while (d->head != NULL) {
		struct driver_batch *b = d->head;
		d->head = b->next;
		d->inflight--;
		raft_advance(d->r, &b->rd);
		free(b);
	}
	d->tail = NULL;
}

static void apply_entry(struct driver *d, const struct raft_entry *e)
{
	struct kv_reply reply;
	uint64_t t0 = driver_now_us(d);
	kv_apply_entry(d->kv, e, &reply);
	histogram_observe_us(&d->m.apply_seconds, driver_now_us(d) - t0);
	d->bytes_since_snapshot += raft_entry_len(e);
	if (d->seam.observe_applied != NULL)
		d->seam.observe_applied(d->seam.ctx, e, &reply);
	/* The address book (keys under KV_MEMBER_PREFIX) is the store's: the store says
	 * when a command wrote it. */
	if (reply.members_written && d->seam.members_changed != NULL)
		d->seam.members_changed(d->seam.ctx, true);
	if (e->type == RAFT_ENTRY_CONFIG && d->seam.members_changed != NULL)
		d->seam.members_changed(d->seam.ctx, false);
	writes_on_apply(d, e, &reply);
}

static void on_soft_state(struct driver *d, const struct raft_ready *rd)
{
	if (rd->role == RAFT_LEADER && d->role != RAFT_LEADER) {
		d->m.elections_won++;
		driver_logf(d, DRIVER_LOG_INFO, "leader of term %" PRIu64, rd->term);
	} else if (rd->role != RAFT_LEADER && d->role == RAFT_LEADER) {
		driver_logf(d, DRIVER_LOG_INFO, "no longer leader (term %" PRIu64 ")", rd->term);
		/* Reads pending here will never be confirmed by this node. */
		driver_reads_fail_all(d, DRIVER_ENOTLEADER);
	}
	d->role = rd->role;
	if (rd->leader != RAFT_NONE && rd->leader != d->leader)
		d->m.leader_changes++;
	d->leader = rd->leader;
}

/* Appends `b` to the batches at the host. */
static void batch_queue(struct driver *d, struct driver_batch *b)
{
	b->next = NULL;
	if (d->tail != NULL)
		d->tail->next = b;
	else
		d->head = b;
	d->tail = b;
	d->inflight++;
	b->handed_ms = driver_now_ms(d);
}

/* 4. A snapshot from the leader replaces the state. False if the driver failed. */
static bool install_snapshot(struct driver *d, const struct raft_ready *rd)
{
	const struct raft_buf *s = rd->snapshot_data;
	if (kv_snapshot_read_buf(d->kv, s->data, s->len) != 0) {
		driver_fail(d, "the leader's snapshot does not load into the state machine");
		return false;
	}
	driver_snapshot_installed(d, rd->snapshot_index);
	driver_writes_fail_upto(d, rd->snapshot_index, DRIVER_ETIMEOUT);
	if (d->seam.members_changed != NULL)
		d->seam.members_changed(d->seam.ctx, true);
	driver_logf(d, DRIVER_LOG_INFO, "installed the leader's snapshot at index %" PRIu64,
	            rd->snapshot_index);
	return true;
}

/* 2. Persist. A batch with nothing to write and nothing ahead of it completes now. */
static void batch_persist(struct driver *d, struct driver_batch *b)
{
	const struct raft_ready *rd = &b->rd;
	bool empty = !rd->has_hard_state && rd->n_entries == 0 && !rd->has_snapshot;
	if (empty && d->inflight == 0) {
		batch_done(d, b);
		return;
	}
	batch_queue(d, b);
	d->m.storage_writes++;
	d->seam.persist(d->seam.ctx, b, rd);
}

/* The core found a committed entry contradicted (raft.h, "Divergence"): this node's
 * durable state disagrees with what a quorum committed, so it must not speak again. The
 * data directory stays as it is for an operator; restarting would only diverge again. */
static void diverged(struct driver *d, const struct raft_ready *rd)
{
	const struct raft_divergence *v = &rd->divergence;
	driver_logf(d, DRIVER_LOG_ERROR,
	            "DIVERGED: committed index %" PRIu64 " has term %" PRIu64
	            " here but term %" PRIu64 " in a %s from node %" PRIu64 " (term %" PRIu64
	            "); commit index %" PRIu64,
	            v->index, v->term, v->leader_term, raft_msg_type_name(v->msg_type), v->from,
	            v->msg_term, v->commit);
	driver_fail(d, "this node's log contradicts a committed entry: a safety violation or "
	               "damaged storage; the data directory is left for inspection, and the node "
	               "must not be restarted before an operator has looked at it");
}

static void process_batch(struct driver *d, struct driver_batch *b)
{
	struct raft_ready *rd = &b->rd;
	d->m.ready_batches++;
	if (rd->error != 0) {
		diverged(d, rd);
		batch_queue(d, b); /* dead: driver_free releases it after those ahead of it */
		return;
	}
	if (d->seam.observe_ready != NULL)
		d->seam.observe_ready(d->seam.ctx, rd);
	if (rd->soft_state_changed)
		on_soft_state(d, rd);
	/* 1. Messages that depend on nothing unpersisted. */
	for (uint32_t i = 0; i < rd->n_messages; i++)
		d->seam.send(d->seam.ctx, &rd->messages[i]);
	if (rd->has_snapshot && !install_snapshot(d, rd)) {
		batch_queue(d, b); /* dead: driver_free releases it after those ahead of it */
		return;
	}
	for (uint32_t i = 0; i < rd->n_committed; i++)
		apply_entry(d, &rd->committed[i]);
	for (uint32_t i = 0; i < rd->n_reads; i++) {
		struct pending_read *p = read_find(d, rd->reads[i].context);
		if (p != NULL) {
			p->index = rd->reads[i].index;
			p->confirmed = true;
		}
	}
	reads_serve(d);
	batch_persist(d, b);
}

bool driver_dirty(const struct driver *d)
{
	return d->dirty && !d->stopping;
}

void driver_drain(struct driver *d)
{
	if (d->draining || d->stopping)
		return;
	d->draining = true;
	d->dirty = false;
	while (!d->stopping && raft_has_ready(d->r)) {
		struct driver_batch *b = xcalloc(1, sizeof(*b));
		raft_ready(d->r, &b->rd);
		process_batch(d, b);
	}
	driver_snapshot_maybe(d);
	d->draining = false;
}

/* Hung-disk detection: the oldest batch at the host has waited too long. A leader steps
 * down, so that a leader with a working disk takes over; every node says so, once per
 * stall. (Acknowledgements need this disk: a stalled node sends none meanwhile.) */
static void check_disk(struct driver *d)
{
	if (d->cfg.disk_stall_ms == 0)
		return;
	uint64_t now = driver_now_ms(d);
	bool stalled = d->head != NULL && now - d->head->handed_ms > d->cfg.disk_stall_ms;
	if (stalled && !d->disk_stalled) {
		d->m.disk_stalls++;
		driver_logf(d, DRIVER_LOG_ERROR,
		            "disk stalled: a write or fsync has not completed for %" PRIu64
		            " ms (bound %u ms, %u batches waiting); %s",
		            now - d->head->handed_ms, d->cfg.disk_stall_ms, d->inflight,
		            raft_role(d->r) == RAFT_LEADER
		                ? "stepping down; acknowledging nothing until it completes"
		                : "acknowledging nothing until it completes");
	} else if (!stalled && d->disk_stalled) {
		driver_logf(d, DRIVER_LOG_WARN, "disk no longer stalled");
	}
	d->stall_ticks = stalled && d->disk_stalled ? d->stall_ticks + 1 : 0;
	d->disk_stalled = stalled;
	d->m.disk_stalled = stalled;
	if (!stalled || raft_role(d->r) != RAFT_LEADER)
		return;
	/* First hand leadership to the most caught-up voter (quick); if that has not
	 * happened within an election timeout (a partition, a lagging peer), resign. */
	int rv = d->stall_ticks <= d->cfg.raft.election_ticks ? raft_step_down(d->r) : RAFT_ENOPEER;
	if (rv != RAFT_OK && rv != RAFT_EBUSY)
		rv = raft_resign(d->r);
	d->dirty = true;
}

bool driver_disk_stalled(const struct driver *d)
{
	return d->disk_stalled;
}

void driver_tick(struct driver *d)
{
	if (d->stopping)
		return;
	raft_tick(d->r);
	sweep_timeouts(d);
	check_disk(d);
	driver_expiry_tick(d);
	driver_drain(d);
}

void driver_step(struct driver *d, const struct raft_message *m)
{
	if (d->stopping)
		return;
	raft_step(d->r, m);
	d->dirty = true;
}

/* ---------------------------------------------------------------------------------
 * Client operations
 */

/* Whether a client command names a key of the reserved keyspace (kv.h), which only
 * Concord itself writes. */
static bool touches_reserved(const struct kv_cmd *c)
{
	if (c->op == KV_OP_PUBLISH)
		return false; /* its put.key is a channel, not a key */
	if (kv_key_reserved(c->put.key, c->put.key_len))
		return true;
	for (size_t i = 0; i < c->n && c->puts != NULL; i++)
		if (kv_key_reserved(c->puts[i].key, c->puts[i].key_len))
			return true;
	for (size_t i = 0; i < c->n && c->keys != NULL; i++)
		if (kv_key_reserved(c->keys[i].data, c->keys[i].len))
			return true;
	/* A transaction's guards and sub-commands (which never nest) name keys too. */
	for (size_t i = 0; i < c->n_guards; i++)
		if (kv_key_reserved(c->guards[i].key, c->guards[i].key_len))
			return true;
	for (size_t i = 0; i < c->n_ops; i++)
		if (touches_reserved(&c->ops[i]))
			return true;
	for (size_t i = 0; i < c->n_else; i++)
		if (touches_reserved(&c->else_ops[i]))
			return true;
	for (size_t i = 0; i < c->n_compares; i++)
		if (kv_key_reserved(c->compares[i].key, c->compares[i].key_len))
			return true;
	return false;
}

static int refusal(const struct driver *d)
{
	if (d->failed)
		return DRIVER_ESTORAGE;
	return d->stopping ? DRIVER_ESTOPPING : DRIVER_OK;
}

static void write_push(struct driver *d, const struct pending_write *w)
{
	if (d->n_writes == d->cap_writes) {
		d->cap_writes = d->cap_writes ? d->cap_writes * 2 : 64;
		d->writes = xrealloc(d->writes, d->cap_writes * sizeof(*d->writes));
	}
	assert(d->n_writes == 0 || d->writes[d->n_writes - 1].index < w->index);
	d->writes[d->n_writes++] = *w;
}

int driver_propose(struct driver *d, const struct kv_cmd *cmd, driver_write_cb cb, void *arg)
{
	raft_index index;
	return driver_propose_index(d, cmd, cb, arg, &index);
}

int driver_propose_index(struct driver *d, const struct kv_cmd *cmd, driver_write_cb cb, void *arg,
                         raft_index *out)
{
	if (refusal(d) != DRIVER_OK)
		return refusal(d);
	if (raft_role(d->r) != RAFT_LEADER)
		return DRIVER_ENOTLEADER;
	struct kv_cmd c = *cmd;
	c.time_ms = d->seam.wall_ms(d->seam.ctx); /* the log time that expires sessions */
	c.mono_ms = driver_mono_stamp(d);         /* the log clock of expiry (expiry.c) */
	void *buf = NULL;
	size_t len = 0;
	int rv = kv_cmd_encode(&c, &d->cfg.kv.limits, &buf, &len);
	if (rv != 0)
		return rv == KV_EKEYTOOBIG || rv == KV_EVALUETOOBIG || rv == KV_ETOOMANY
		           ? DRIVER_ETOOBIG
		           : DRIVER_EINVAL;
	raft_term term;
	raft_index index;
	rv = raft_propose(d->r, buf, len, &term, &index);
	free(buf);
	if (rv != 0)
		return driver_raft_error(rv);
	*out = index;
	/* Writes this node proposed in an earlier term at `index` or above were cut from its
	 * log (another leader's entries replaced them) before it led again: taken out here,
	 * answered below, once the list holds the new write in order. */
	uint32_t keep = d->n_writes;
	while (keep > 0 && d->writes[keep - 1].index >= index)
		keep--;
	uint32_t n_cut = d->n_writes - keep;
	struct pending_write *cut = NULL;
	if (n_cut > 0) {
		cut = xmalloc(n_cut * sizeof(*cut));
		memcpy(cut, d->writes + keep, n_cut * sizeof(*cut));
		d->n_writes = keep;
	}
	write_push(d, &(struct pending_write){
	                  .index = index,
	                  .term = term,
	                  .cb = cb,
	                  .arg = arg,
	                  .deadline_ms = driver_now_ms(d) + d->cfg.request_timeout_ms,
	                  .start_us = driver_now_us(d),
	              });
	d->m.proposals++;
	d->dirty = true;
	/* Their outcome is unknown: a later leader may still commit one of them. */
	for (uint32_t i = 0; i < n_cut; i++) {
		assert(cut[i].term < term);
		d->m.proposals_timeout++;
		cut[i].cb(cut[i].arg, DRIVER_ETIMEOUT, NULL);
	}
	free(cut);
	return DRIVER_OK;
}

int driver_write(struct driver *d, const struct kv_cmd *cmd, driver_write_cb cb, void *arg)
{
	if (touches_reserved(cmd))
		return DRIVER_EINVAL;
	return driver_propose(d, cmd, cb, arg);
}

int driver_read(struct driver *d, bool stale, driver_read_cb cb, void *arg)
{
	if (refusal(d) != DRIVER_OK)
		return refusal(d);
	d->m.reads++;
	if (stale) {
		d->m.reads_ok++;
		cb(arg, DRIVER_OK);
		return DRIVER_OK;
	}
	raft_index after;
	int rv = driver_expiry_read(d, &after);
	if (rv != DRIVER_OK)
		return rv;
	uint64_t ctx = ++d->read_ctx;
	rv = raft_read_index(d->r, ctx);
	if (rv != 0)
		return driver_raft_error(rv);
	if (d->n_reads == d->cap_reads) {
		d->cap_reads = d->cap_reads ? d->cap_reads * 2 : 64;
		d->reads = xrealloc(d->reads, d->cap_reads * sizeof(*d->reads));
	}
	assert(d->n_reads == 0 || d->reads[d->n_reads - 1].ctx < ctx);
	d->reads[d->n_reads++] =
	    (struct pending_read){.ctx = ctx,
	                          .after = after,
	                          .cb = cb,
	                          .arg = arg,
	                          .deadline_ms = driver_now_ms(d) + d->cfg.request_timeout_ms};
	d->dirty = true;
	return DRIVER_OK;
}
