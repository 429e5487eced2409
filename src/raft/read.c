/* read.c: linearizable reads through ReadIndex (thesis 6.4). A read is tagged with the
 * commit index when its confirmation round starts, and released once a quorum has
 * acknowledged a heartbeat of that round or a later one, which proves that no other
 * leader had been elected when the round began. */
#include "raft/impl.h"

#include <stdlib.h>
#include <string.h>

int raft_read_index(struct raft *r, uint64_t context)
{
	if (r->diverged)
		return RAFT_EDIVERGED;
	if (r->role != RAFT_LEADER)
		return RAFT_ENOTLEADER;
	struct read_queue *q = &r->reads;
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 16;
		q->v = raft_xrealloc(q->v, q->cap * sizeof(*q->v));
	}
	/* The round starts when the batch is taken, so reads arriving together share
	 * one round of heartbeats. */
	q->v[q->n++] = (struct pending_read){.context = context};
	return RAFT_OK;
}

bool read_flush_pending(const struct raft *r)
{
	/* Thesis 6.4 step 1: a new leader must first commit an entry of its term, or
	 * its commit index may lag behind what earlier leaders committed. */
	return r->committed_in_term && r->reads.n > 0 && r->reads.v[r->reads.n - 1].round == 0;
}

static void push_done(struct raft *r, const struct pending_read *p)
{
	struct done_reads *d = &r->reads_done;
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->v = raft_xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n++] = (struct raft_read){.context = p->context, .index = p->index};
}

static uint64_t ack_of(void *ctx, raft_id id)
{
	struct raft *r = ctx;
	if (id == r->id)
		return r->read_round;
	struct progress *p = raft_progress_of(r, id);
	return p != NULL ? p->read_ack : 0;
}

void read_on_ack(struct raft *r)
{
	assert(r->role == RAFT_LEADER);
	uint64_t confirmed = quorum_value(&r->conf, ack_of, r);
	uint32_t done = 0;
	/* Rounds grow along the queue; unstarted reads (round 0) sit at its end. */
	while (done < r->reads.n && r->reads.v[done].round != 0 &&
	       r->reads.v[done].round <= confirmed) {
		push_done(r, &r->reads.v[done]);
		done++;
	}
	if (done > 0) {
		memmove(r->reads.v, r->reads.v + done, (r->reads.n - done) * sizeof(*r->reads.v));
		r->reads.n -= done;
	}
}

void read_flush(struct raft *r)
{
	if (r->role != RAFT_LEADER || !read_flush_pending(r))
		return;
	r->read_round++;
	for (uint32_t i = 0; i < r->reads.n; i++) {
		struct pending_read *p = &r->reads.v[i];
		if (p->round != 0)
			continue;
		/* Step 2: the read index is the commit index as the round starts. */
		p->round = r->read_round;
		p->index = r->commit;
	}
	/* Step 3: confirm leadership with a round of heartbeats. */
	replication_broadcast_heartbeat(r, r->read_round);
	r->heartbeat_elapsed = 0;
	read_on_ack(r); /* a single voter confirms itself */
}

void read_drop_all(struct raft *r)
{
	r->reads.n = 0;
}
