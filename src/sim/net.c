/* net.c: the simulator's event queue (a 4-ary heap ordered by time, then sequence) and its
 * network: per-link FIFO delivery with drops, duplicates, delays and jitter. */
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------
 * The event queue: a 4-ary heap ordered by (time, sequence), so that ties break in the
 * order events were scheduled and runs are reproducible. The order is total (sequence
 * numbers are unique), so the pops come out the same whatever the heap's shape: a 4-ary
 * heap (half as deep as a binary one, its children on one cache line) pops the same
 * events in the same order as the binary heap it replaced.
 */

#define EV_ARITY 4

static bool ev_before(const struct ev_key *a, const struct ev_key *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

/* A slot for an event's body: the heap moves small keys, not whole events. */
static uint32_t ev_slot(struct sim *s)
{
	if (s->n_ev_free == 0) {
		size_t cap = s->cap_evs ? s->cap_evs * 2 : 256;
		s->evs = sim_xrealloc(s->evs, cap * sizeof(*s->evs));
		s->ev_free = sim_xrealloc(s->ev_free, cap * sizeof(*s->ev_free));
		for (size_t i = cap; i > s->cap_evs; i--)
			s->ev_free[s->n_ev_free++] = (uint32_t)(i - 1);
		s->cap_evs = cap;
	}
	return s->ev_free[--s->n_ev_free];
}

void ev_push(struct sim *s, struct event ev)
{
	assert(s->ev_seq < UINT32_MAX); /* the key's 32-bit sequence number stays unique */
	ev.seq = s->ev_seq++;
	if (s->n_heap == s->cap_heap) {
		s->cap_heap = s->cap_heap ? s->cap_heap * 2 : 256;
		s->heap = sim_xrealloc(s->heap, s->cap_heap * sizeof(*s->heap));
	}
	struct ev_key key = {.time = ev.time, .seq = (uint32_t)ev.seq, .slot = ev_slot(s)};
	s->evs[key.slot] = ev;
	size_t i = s->n_heap++;
	while (i > 0) {
		size_t parent = (i - 1) / EV_ARITY;
		if (!ev_before(&key, &s->heap[parent]))
			break;
		s->heap[i] = s->heap[parent];
		i = parent;
	}
	s->heap[i] = key;
}

struct event ev_pop(struct sim *s)
{
	assert(s->n_heap > 0);
	uint32_t slot = s->heap[0].slot;
	struct ev_key last = s->heap[--s->n_heap];
	size_t n = s->n_heap, i = 0;
	for (;;) {
		size_t first = EV_ARITY * i + 1;
		if (first >= n)
			break;
		size_t end = first + EV_ARITY < n ? first + EV_ARITY : n, m = first;
		for (size_t c = first + 1; c < end; c++)
			if (ev_before(&s->heap[c], &s->heap[m]))
				m = c;
		if (!ev_before(&s->heap[m], &last))
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (n > 0)
		s->heap[i] = last;
	s->ev_free[s->n_ev_free++] = slot;
	return s->evs[slot];
}

/* ---------------------------------------------------------------------------------
 * The network
 */

static bool is_response(enum raft_msg_type t)
{
	return t == RAFT_MSG_PREVOTE_RESP || t == RAFT_MSG_VOTE_RESP || t == RAFT_MSG_APPEND_RESP ||
	       t == RAFT_MSG_HEARTBEAT_RESP;
}

static bool link_cut(const struct sim *s, uint32_t from, uint32_t to)
{
	return s->cut[from][to];
}

void net_send(struct sim *s, const struct raft_message *m)
{
	uint32_t from = (uint32_t)m->from - 1;
	uint32_t to = (uint32_t)m->to - 1;
	assert(from < s->n);
	assert(to < s->n);
	s->msgs_sent++;
	if (link_cut(s, from, to) || rng_chance(s, s->p_drop)) {
		sim_log(s, "n%u -> n%u %s dropped", from + 1, to + 1, raft_msg_type_name(m->type));
		return;
	}
	if (m->type == RAFT_MSG_APPEND && (s->opts.faults & SIM_FAULT_DIVERGE)) {
		if (s->last_append == NULL) {
			s->last_append =
			    calloc(SIM_MAX_NODES * SIM_MAX_NODES, sizeof(*s->last_append));
			if (s->last_append == NULL)
				abort();
		}
		struct raft_message *keep = &s->last_append[from * SIM_MAX_NODES + to];
		raft_message_release(keep);
		raft_message_copy(keep, m);
	}
	int copies = rng_chance(s, s->p_dup) ? 2 : 1;
	for (int c = 0; c < copies; c++) {
		/* A link is FIFO, as TCP is, unless a fault says otherwise: reordering
		 * jitter and delays hold single messages back while later ones pass. */
		uint64_t at = s->now + 500 + rng_below(s, 2500); /* 0.5 to 3 ms */
		if (at <= s->link_last[from][to])
			at = s->link_last[from][to] + 1;
		s->link_last[from][to] = at;
		if (s->jitter_us > 0)
			at += rng_below(s, s->jitter_us);
		bool resp = is_response(m->type);
		if (!resp && rng_chance(s, s->p_delay_req))
			at += rng_below(s, s->delay_us);
		if (resp && rng_chance(s, s->p_delay_resp))
			at += rng_below(s, s->delay_us);
		struct event ev = {.time = at, .type = EV_DELIVER, .node = to};
		raft_message_copy(&ev.msg, m);
		ev_push(s, ev);
	}
}

void net_replay_after_snapshot(struct sim *s, uint32_t from, uint32_t to)
{
	if (s->last_append == NULL || s->healed || !rng_chance(s, 0.5))
		return;
	const struct raft_message *m = &s->last_append[from * SIM_MAX_NODES + to];
	if (m->type != RAFT_MSG_APPEND)
		return;
	sim_log(s, "n%u -> n%u %s (index %" PRIu64 ") delivered again behind the snapshot",
	        from + 1, to + 1, raft_msg_type_name(m->type), m->index);
	struct event ev = {.time = s->now + 1 + rng_below(s, 3000), .type = EV_DELIVER, .node = to};
	raft_message_copy(&ev.msg, m);
	ev_push(s, ev);
}

void net_free(struct sim *s)
{
	if (s->last_append == NULL)
		return;
	for (size_t i = 0; i < SIM_MAX_NODES * SIM_MAX_NODES; i++)
		raft_message_release(&s->last_append[i]);
	free(s->last_append);
	s->last_append = NULL;
}
