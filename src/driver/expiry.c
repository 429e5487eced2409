/* expiry.c: the leader's side of expiry: the reaper's proposals and the log clock for reads. */
#include "driver/impl.h"

#include <stdlib.h>

/*
 * Only the leader decides that a key expired: it proposes KV_OP_EXPIRE_DUE, and every
 * node deletes at the entry where that command applies (docs/kv.md). A proposal lists
 * at most REAP_KEYS keys and REAP_LEASES leases, and one is in flight at a time; the
 * next tick goes on where it stopped.
 */

#define REAP_KEYS   256u
#define REAP_LEASES 64u

uint64_t driver_mono_stamp(struct driver *d)
{
	return d->seam.now_ms(d->seam.ctx) + 1;
}

static void reap_done(void *arg, int status, const struct kv_reply *reply)
{
	(void)status;
	(void)reply;
	struct driver *d = arg;
	d->reaping = false;
}

static void read_stamp_done(void *arg, int status, const struct kv_reply *reply)
{
	(void)arg;
	(void)status;
	(void)reply;
}

/* Proposes what is due at `clock` (possibly nothing: a bare stamp) at *index. */
static int reap_propose(struct driver *d, uint64_t clock, driver_write_cb cb, raft_index *index)
{
	struct kv_key keys[REAP_KEYS];
	uint64_t leases[REAP_LEASES];
	size_t max_keys = d->cfg.kv.limits.keys_per_cmd_max;
	if (max_keys > REAP_KEYS)
		max_keys = REAP_KEYS;
	size_t n_leases = 0;
	size_t n = kv_due(d->kv, clock, keys, max_keys, leases, REAP_LEASES, &n_leases);
	struct kv_cmd c = {
	    .op = KV_OP_EXPIRE_DUE, .n = n, .keys = keys, .n_leases = n_leases, .leases = leases};
	return driver_propose_index(d, &c, cb, d, index);
}

void driver_expiry_tick(struct driver *d)
{
	if (d->reaping || d->failed || raft_role(d->r) != RAFT_LEADER || !kv_has_timers(d->kv))
		return;
	raft_term term = raft_term_current(d->r);
	uint64_t clock = kv_clock_at(d->kv, term, driver_mono_stamp(d));
	/* Until a stamp of this term is applied the clock stands still: one starts it. */
	bool start = !kv_clock_running(d->kv, term);
	if (!start && kv_next_deadline(d->kv) > clock)
		return;
	raft_index index;
	if (reap_propose(d, clock, reap_done, &index) == DRIVER_OK)
		d->reaping = true;
}

int driver_expiry_read(struct driver *d, raft_index *after)
{
	*after = 0;
	if (raft_role(d->r) != RAFT_LEADER || !kv_has_timers(d->kv))
		return DRIVER_OK;
	raft_term term = raft_term_current(d->r);
	uint64_t now = driver_mono_stamp(d);
	uint64_t clock = kv_clock_at(d->kv, term, now);
	/* Nothing can have expired between the log clock and the leader's: the log's view
	 * is the leader's. */
	if (clock <= kv_clock_ms(d->kv) || kv_next_deadline(d->kv) > clock)
		return DRIVER_OK;
	/* A stamp taken no earlier than this read started brings the log clock to `clock`
	 * once applied; reads of one loop iteration share one. */
	if (d->clock_index != 0 && d->clock_term == term && d->clock_mono >= now) {
		*after = d->clock_index;
		return DRIVER_OK;
	}
	raft_index index;
	int rv = reap_propose(d, clock, read_stamp_done, &index);
	if (rv != DRIVER_OK)
		return rv;
	d->clock_index = index;
	d->clock_mono = now;
	d->clock_term = term;
	*after = d->clock_index;
	return DRIVER_OK;
}
