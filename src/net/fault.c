/* fault.c: seeded fault decisions per link, and the delayed frames they create. */
#include "net/internal.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

/* ----------------------------------------------------------------------------------
 * PRNG
 */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Independent streams for the same seed: one per (peer, purpose). */
void net_rng_seed(struct net_rng *r, uint64_t seed, uint64_t stream)
{
	r->state = mix64(seed ^ mix64(stream + 0x9e3779b97f4a7c15ull));
}

uint64_t net_rng_next(struct net_rng *r)
{
	r->state += 0x9e3779b97f4a7c15ull;
	return mix64(r->state);
}

/* Uniform in [0, 1): a probability p hits when the draw is below p, so 0 never hits and
 * 1 always does. */
double net_rng_unit(struct net_rng *r)
{
	return (double)(net_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ----------------------------------------------------------------------------------
 * Fault settings
 */

static bool probability_ok(double p)
{
	return isfinite(p) && p >= 0.0 && p <= 1.0;
}

static bool fault_valid(const struct net_fault *f)
{
	if (!probability_ok(f->drop_probability))
		return false;
	if (!probability_ok(f->request_delay_probability))
		return false;
	if (!probability_ok(f->response_delay_probability))
		return false;
	if (!probability_ok(f->duplicate_probability))
		return false;
	if (f->request_delay_ms > NET_DELAY_MAX_MS)
		return false;
	if (f->response_delay_ms > NET_DELAY_MAX_MS)
		return false;
	return f->reorder_jitter_ms <= NET_DELAY_MAX_MS;
}

static bool fault_any(const struct net_fault *f)
{
	if (f->drop_probability > 0.0 || f->duplicate_probability > 0.0)
		return true;
	if (f->request_delay_ms > 0 && f->request_delay_probability > 0.0)
		return true;
	if (f->response_delay_ms > 0 && f->response_delay_probability > 0.0)
		return true;
	if (f->reorder_jitter_ms > 0)
		return true;
	return f->block_outbound || f->block_inbound;
}

int net_fault_set(struct net *n, raft_id peer, const struct net_fault *f)
{
	struct net_peer *p = net_peer_find(n, peer);
	if (p == NULL)
		return net_errmsg_set(n, NET_ENOPEER, "fault: no peer %llu",
		                      (unsigned long long)peer);
	if (!fault_valid(f))
		return net_errmsg_set(n, NET_EINVAL,
		                      "fault: probabilities must lie in [0, 1] and delays be at "
		                      "most %u ms",
		                      NET_DELAY_MAX_MS);
	p->fault = *f;
	p->fault_active = fault_any(f);
	net_logf(n, NET_LOG_INFO,
	         "faults on link to %llu: drop %.3f, request delay %u ms (p %.3f), response "
	         "delay %u ms (p %.3f), duplicate %.3f, jitter %u ms, block out %s, block in %s",
	         (unsigned long long)peer, f->drop_probability, f->request_delay_ms,
	         f->request_delay_probability, f->response_delay_ms, f->response_delay_probability,
	         f->duplicate_probability, f->reorder_jitter_ms, f->block_outbound ? "yes" : "no",
	         f->block_inbound ? "yes" : "no");
	return NET_OK;
}

int net_fault_get(const struct net *n, raft_id peer, struct net_fault *f)
{
	struct net_peer *p = net_peer_find(n, peer);
	if (p == NULL)
		return NET_ENOPEER;
	*f = p->fault;
	return NET_OK;
}

int net_fault_clear(struct net *n, raft_id peer)
{
	struct net_fault none = {0};
	return net_fault_set(n, peer, &none);
}

void net_fault_clear_all(struct net *n)
{
	for (uint32_t i = 0; i < n->n_peers; i++) {
		int rv = net_fault_clear(n, n->peers[i]->id);
		assert(rv == NET_OK);
		(void)rv;
	}
}

/* ----------------------------------------------------------------------------------
 * Decisions
 */

/* Every send on a link with an active fault draws exactly five values, whatever the
 * fault's settings, so changing one setting does not shift the decisions of the others
 * and a seed replays the same decisions for the same sequence of sends. */
void net_fault_decide(struct net_peer *p, enum raft_msg_type type, struct net_fault_decision *d)
{
	d->drop = false;
	d->copies = 1;
	d->delay_ms[0] = 0;
	d->delay_ms[1] = 0;
	if (!p->fault_active)
		return;
	const struct net_fault *f = &p->fault;
	double u_drop = net_rng_unit(&p->fault_rng);
	double u_dup = net_rng_unit(&p->fault_rng);
	double u_delay = net_rng_unit(&p->fault_rng);
	uint64_t r_jitter[2] = {net_rng_next(&p->fault_rng), net_rng_next(&p->fault_rng)};

	if (f->block_outbound || u_drop < f->drop_probability) {
		d->drop = true;
		return;
	}
	if (u_dup < f->duplicate_probability)
		d->copies = 2;
	uint32_t base_ms = 0;
	if (net_msg_is_response(type)) {
		if (u_delay < f->response_delay_probability)
			base_ms = f->response_delay_ms;
	} else {
		if (u_delay < f->request_delay_probability)
			base_ms = f->request_delay_ms;
	}
	for (uint32_t i = 0; i < d->copies; i++) {
		uint32_t jitter_ms = 0;
		if (f->reorder_jitter_ms > 0)
			jitter_ms = (uint32_t)(r_jitter[i] % ((uint64_t)f->reorder_jitter_ms + 1));
		d->delay_ms[i] = base_ms + jitter_ms;
		assert(d->delay_ms[i] <= 2 * NET_DELAY_MAX_MS);
	}
}

/* ----------------------------------------------------------------------------------
 * Delayed frames: a list sorted by (due_ms, seq) and one timer per link for its head.
 */

static bool frame_before(const struct net_frame *a, const struct net_frame *b)
{
	if (a->due_ms != b->due_ms)
		return a->due_ms < b->due_ms;
	return a->seq < b->seq;
}

static void delay_timer_arm(struct net_peer *p)
{
	struct net_frame *head = p->delayed.head;
	if (head == NULL) {
		uv_timer_stop(&p->delay_timer);
		return;
	}
	uint64_t now = uv_now(p->n->loop);
	uint64_t wait_ms = head->due_ms > now ? head->due_ms - now : 0;
	uv_timer_start(&p->delay_timer, net_delay_timer_cb, wait_ms, 0);
}

/* Holds `f` (already counted by net_peer_hold) until `delay_ms` from now. */
void net_peer_delay(struct net_peer *p, struct net_frame *f, uint32_t delay_ms)
{
	assert(delay_ms > 0);
	f->due_ms = uv_now(p->n->loop) + delay_ms;
	f->seq = p->delay_seq++;
	f->next = NULL;
	struct net_frame_list *l = &p->delayed;
	bool new_head = false;
	/* Equal delays arrive in order, so the tail is the usual place. */
	if (l->tail == NULL || !frame_before(f, l->tail)) {
		new_head = l->head == NULL;
		net_frame_list_push(l, f);
	} else if (frame_before(f, l->head)) {
		f->next = l->head;
		l->head = f;
		l->n++;
		new_head = true;
	} else {
		struct net_frame *at = l->head;
		while (at->next != NULL && !frame_before(f, at->next))
			at = at->next;
		assert(at->next != NULL); /* f sorts before the tail */
		f->next = at->next;
		at->next = f;
		l->n++;
	}
	if (new_head)
		delay_timer_arm(p);
}

void net_delay_timer_cb(uv_timer_t *t)
{
	struct net_peer *p = t->data;
	struct net *n = p->n;
	assert(!p->removed);
	uint64_t now = uv_now(n->loop);
	bool released = false;
	while (p->delayed.head != NULL && p->delayed.head->due_ms <= now) {
		struct net_frame *f = net_frame_list_pop(&p->delayed);
		/* A partition set meanwhile also cuts what was in flight. */
		if (p->fault.block_outbound) {
			NET_COUNT(n, p, dropped_fault, 1);
			net_peer_release(p, f);
			continue;
		}
		net_frame_list_push(&p->queue, f);
		released = true;
	}
	delay_timer_arm(p);
	if (released)
		net_flush_schedule(n);
}
