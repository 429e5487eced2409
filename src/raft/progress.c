/* progress.c: the leader's record of each member's log: match, next, and the window of
 * appends in flight. */
#include "raft/impl.h"

#include <stdlib.h>

void progress_init(struct progress *p, raft_id id, raft_index next, uint32_t inflight_cap)
{
	assert(next >= 1);
	assert(inflight_cap >= 1);
	p->id = id;
	p->match = 0;
	p->next = next;
	p->state = PROGRESS_PROBE;
	p->probe_sent = false;
	p->recent_active = false;
	p->read_ack = 0;
	p->idle_ticks = 0;
	p->inflight = raft_xmalloc(sizeof(*p->inflight) * inflight_cap);
	p->in_start = 0;
	p->in_count = 0;
	p->in_cap = inflight_cap;
	p->snap_data = NULL;
	p->snap_index = 0;
	p->snap_term = 0;
	p->snap_sent = 0;
	p->snap_acked = 0;
}

void progress_free(struct progress *p)
{
	free(p->inflight);
	p->inflight = NULL;
	raft_buf_unref(p->snap_data);
	p->snap_data = NULL;
}

void progress_become_probe(struct progress *p)
{
	p->state = PROGRESS_PROBE;
	p->probe_sent = false;
	p->in_start = 0;
	p->in_count = 0;
	/* In probe mode the next append starts right after what is known to match
	 * unless a rejection hint placed it elsewhere. */
	if (p->next <= p->match)
		p->next = p->match + 1;
}

void progress_become_replicate(struct progress *p)
{
	p->state = PROGRESS_REPLICATE;
	p->probe_sent = false;
	p->in_start = 0;
	p->in_count = 0;
	p->next = p->match + 1;
}

bool progress_inflight_full(const struct progress *p)
{
	return p->in_count == p->in_cap;
}

void progress_inflight_add(struct progress *p, raft_index last)
{
	assert(!progress_inflight_full(p));
	if (p->in_count > 0) {
		uint32_t prev = (p->in_start + p->in_count - 1) % p->in_cap;
		assert(p->inflight[prev] < last);
	}
	p->inflight[(p->in_start + p->in_count) % p->in_cap] = last;
	p->in_count++;
}

void progress_inflight_free_to(struct progress *p, raft_index index)
{
	while (p->in_count > 0 && p->inflight[p->in_start] <= index) {
		p->in_start = (p->in_start + 1) % p->in_cap;
		p->in_count--;
	}
}

bool progress_paused(const struct progress *p)
{
	switch (p->state) {
	case PROGRESS_PROBE:
		return p->probe_sent;
	case PROGRESS_REPLICATE:
		return progress_inflight_full(p);
	case PROGRESS_SNAPSHOT:
		return true; /* the snapshot transfer drives this member */
	}
	return true;
}
