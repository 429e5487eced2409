/* lease.c: the clients' commands with expiry beside their history: TTLs and leases on
 * the side keys x0..x3, outside the history, and leases on m0..m2 in it: a client grants
 * one, attaches puts to it, keeps it alive, then revokes it or lets it expire; lincheck.c
 * turns each attached put's end into operations the checker can judge. */
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------
 * Expiry on the side: commands on keys outside the checked keyspace (x0..x3) with short
 * TTLs and leases, outside the history. They make the leaders reap, stamp reads and
 * restart the clock across leader changes, under every fault; the state hash
 * (sim_state_hash) covers those keys and the log clock, so every node must expire the
 * same keys at the same entry.
 */

static void on_side_write(void *arg, int status, const struct kv_reply *reply)
{
	(void)arg;
	(void)status;
	(void)reply;
}

void expiry_side(struct sim *s, struct client *c)
{
	struct node *nd = &s->nodes[c->guess];
	if (!nd->up || raft_role(node_raft(nd)) != RAFT_LEADER)
		return;
	char key[3] = {'x', (char)('0' + sim_rand(s, SIM_SIDE_KEYS)), '\0'};
	uint64_t lease = 1 + sim_rand(s, 3);
	int64_t ms = 5 + (int64_t)sim_rand(s, 300);
	struct kv_cmd cmd = {.op = KV_OP_SET,
	                     .put = {.key = key, .key_len = 2, .value = "v", .value_len = 1}};
	switch (sim_rand(s, 6)) {
	case 0:
		cmd.put.expiry = (struct kv_expiry){.mode = KV_EXPIRY_IN, .ms = ms};
		break;
	case 1:
		cmd.put.expiry = (struct kv_expiry){.mode = KV_EXPIRY_LEASE, .lease = lease};
		break;
	case 2:
		cmd = (struct kv_cmd){
		    .op = KV_OP_EXPIRE,
		    .put = {.key = key, .key_len = 2, .expiry = {.mode = KV_EXPIRY_IN, .ms = ms}}};
		break;
	case 3:
		cmd = (struct kv_cmd){.op = KV_OP_LEASE_GRANT, .lease = lease, .lease_ttl_ms = ms};
		break;
	case 4:
		cmd = (struct kv_cmd){.op = KV_OP_LEASE_KEEPALIVE, .lease = lease};
		break;
	default:
		cmd = (struct kv_cmd){.op = KV_OP_LEASE_REVOKE, .lease = lease};
		break;
	}
	if (driver_write(nd->d, &cmd, on_side_write, NULL) == 0) {
		s->res->expiry_writes++;
		sim_node_input(s, nd);
	}
}

/* ---------------------------------------------------------------------------------
 * Leases on m0..m2. Their commands go to the node the client believes leads, beside its
 * connection, without a session, as expiry_side's do; their outcomes say when an attached
 * put may vanish (lincheck.c, lease_ops). Every draw comes from lease_rng: with --no-lease
 * the run's other draws stay what they were.
 */

#define LEASE_GRANT_PERCENT 4           /* of the operations a client without a lease starts */
#define LEASE_LIFE_US       (3000 * MS) /* a client uses its lease this long, at most */

enum lease_cmd {
	LEASE_GRANT = 1,
	LEASE_KEEPALIVE,
	LEASE_REVOKE,
};

struct lease_rq {
	struct sim *sim;
	uint32_t lease; /* its index in s->leases */
	enum lease_cmd cmd;
	uint64_t call;
	struct lease_rq *next; /* all of the run's, freed at its end */
};

static uint64_t lease_rand(struct sim *s, uint64_t below)
{
	return below == 0 ? 0 : rng_next(&s->lease_rng) % below;
}

static void on_lease(void *arg, int status, const struct kv_reply *reply)
{
	struct lease_rq *rq = arg;
	struct sim *s = rq->sim;
	struct sim_lease *l = &s->leases[rq->lease];
	bool ok = status == DRIVER_OK && reply->code == KV_OK;
	/* Applied with an error (the lease was gone), or lost with its index: no effect. */
	bool none = (status == DRIVER_OK && !ok) || status == DRIVER_ELOST;
	switch (rq->cmd) {
	case LEASE_GRANT:
		l->granted = ok;
		s->res->lease_grants += ok;
		break;
	case LEASE_KEEPALIVE:
		/* Alive when it applied, so alive for the TTL after its call at least. */
		if (ok && rq->call > l->alive_from)
			l->alive_from = rq->call;
		break;
	case LEASE_REVOKE:
		l->revoke_ok = ok ? 1 : none ? 0 : -1;
		l->revoke_ret = s->now;
		s->res->lease_revokes += ok;
		break;
	}
	sim_log(s, "lease %" PRIu64 ": %s %s", l->id,
	        rq->cmd == LEASE_GRANT       ? "grant"
	        : rq->cmd == LEASE_KEEPALIVE ? "keepalive"
	                                     : "revoke",
	        ok                    ? "ok"
	        : status != DRIVER_OK ? sim_driver_error(status)
	                              : kv_strerror(reply->code));
}

static bool lease_send(struct sim *s, struct client *c, uint32_t li, enum lease_cmd what)
{
	struct node *nd = &s->nodes[c->guess];
	if (!nd->up || raft_role(node_raft(nd)) != RAFT_LEADER)
		return false;
	const struct sim_lease *l = &s->leases[li];
	struct kv_cmd cmd = {.op = what == LEASE_GRANT       ? KV_OP_LEASE_GRANT
	                           : what == LEASE_KEEPALIVE ? KV_OP_LEASE_KEEPALIVE
	                                                     : KV_OP_LEASE_REVOKE,
	                     .lease = l->id,
	                     .lease_ttl_ms = what == LEASE_GRANT ? l->ttl_ms : 0};
	struct lease_rq *rq = malloc(sizeof(*rq));
	if (rq == NULL)
		abort();
	*rq = (struct lease_rq){s, li, what, s->now, s->lease_rqs};
	if (driver_write(nd->d, &cmd, on_lease, rq) != 0) {
		free(rq);
		return false;
	}
	s->lease_rqs = rq;
	s->res->expiry_writes++;
	sim_node_input(s, nd);
	return true;
}

void lease_step(struct sim *s, struct client *c)
{
	if (s->opts.no_lease)
		return;
	uint64_t r = lease_rand(s, 100);
	if (c->lease != 0) {
		struct sim_lease *l = &s->leases[c->lease - 1];
		if (s->now - l->grant_call > LEASE_LIFE_US) {
			c->lease = 0; /* left to expire */
		} else if (r < 5) {
			lease_send(s, c, c->lease - 1, LEASE_KEEPALIVE);
		} else if (r < 8 && lease_send(s, c, c->lease - 1, LEASE_REVOKE)) {
			l->revoke_call = s->now;
			c->lease = 0;
		}
		return;
	}
	if (r >= LEASE_GRANT_PERCENT)
		return;
	if (s->n_leases == s->cap_leases) {
		s->cap_leases = s->cap_leases ? 2 * s->cap_leases : 64;
		s->leases = sim_xrealloc(s->leases, s->cap_leases * sizeof(*s->leases));
	}
	uint32_t li = s->n_leases;
	s->leases[li] = (struct sim_lease){.id = SIM_LEASE_ID_BASE + li,
	                                   .client = c->id,
	                                   .ttl_ms = 40 + (uint32_t)lease_rand(s, 400),
	                                   .grant_call = s->now,
	                                   .alive_from = s->now,
	                                   .revoke_ok = -2};
	if (lease_send(s, c, li, LEASE_GRANT)) {
		s->n_leases++;
		c->lease = li + 1;
	}
}

void lease_attach(struct sim *s, const struct client *c, struct hist_op *op)
{
	if (s->opts.no_lease || op->kind == CHECK_KIND_TXN || c->lease == 0 ||
	    !s->leases[c->lease - 1].granted)
		return;
	/* Most of its puts, and a quarter of its other operations made puts. */
	bool put = op->kind == CHECK_KIND_PUT;
	uint64_t r = lease_rand(s, 4);
	if (put ? r == 0 : r != 0)
		return;
	op->kind = CHECK_KIND_PUT;
	op->nkeys = 1;
	op->lease = c->lease;
	op->ttl_ms = 0; /* the lease's TTL instead of its own */
}

void lease_free(struct sim *s)
{
	while (s->lease_rqs != NULL) {
		struct lease_rq *rq = s->lease_rqs;
		s->lease_rqs = rq->next;
		free(rq);
	}
	free(s->leases);
	s->leases = NULL;
}
