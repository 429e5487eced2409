/* clients.c: simulated clients. Each runs one operation at a time against the node it
 * believes leads: writes through raft_propose, reads through raft_read_index, with
 * timeouts and retries, and records every operation in a history for the
 * linearizability checker. */
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>


static void client_timer(struct sim *s, struct client *c, uint64_t at)
{
	c->gen++;
	struct event ev = {.time = at, .type = EV_CLIENT, .client = c->id, .epoch = c->gen};
	sim_schedule(s, ev);
}

static void client_next(struct sim *s, struct client *c)
{
	c->busy = false;
	c->proposed = false;
	client_timer(s, c, s->now + 1 * MS + sim_rand(s, 40 * MS));
}

static void op_finish(struct sim *s, struct client *c, int ok)
{
	struct hist_op *op = &s->hist[c->op];
	op->ok = ok;
	op->ret = s->now;
	client_next(s, c);
}

static void start_op(struct sim *s, struct client *c)
{
	struct hist_op op = {
	    .client = c->id,
	    .write = sim_rand(s, 10) < 6,
	    .key = (uint32_t)sim_rand(s, SIM_KEYS),
	    .ok = -2,
	    .call = s->now,
	};
	if (op.write)
		op.value = ++s->next_value;
	if (s->n_hist == s->cap_hist) {
		s->cap_hist = s->cap_hist ? s->cap_hist * 2 : 1024;
		s->hist = sim_xrealloc(s->hist, s->cap_hist * sizeof(*s->hist));
	}
	c->op = s->n_hist;
	s->hist[s->n_hist++] = op;
	s->res->history_ops = s->n_hist;
	c->busy = true;
	c->proposed = false;
}

static void try_submit(struct sim *s, struct client *c)
{
	struct hist_op *op = &s->hist[c->op];
	struct node *nd = &s->nodes[c->guess];
	if (!nd->up || raft_role(nd->r) != RAFT_LEADER) {
		/* Follow the node's hint if it has one, else try another node. */
		raft_id hint = nd->up ? raft_leader(nd->r) : RAFT_NONE;
		c->guess = hint != RAFT_NONE && hint != nd->idx + 1 ? (uint32_t)hint - 1
								      : (uint32_t)sim_rand(s, s->n);
		if (s->now - op->call >= SIM_CLIENT_TIMEOUT_US) {
			op_finish(s, c, 0); /* never submitted: it had no effect */
			return;
		}
		client_timer(s, c, s->now + 5 * MS + sim_rand(s, 25 * MS));
		return;
	}
	int rv;
	if (op->write) {
		struct sim_cmd cmd = {.client = c->id, .key = op->key, .op = c->op,
				      .value = op->value};
		rv = raft_propose(nd->r, &cmd, sizeof(cmd), &c->term, &c->index);
	} else {
		rv = raft_read_index(nd->r, c->op);
		if (rv == 0) {
			struct pending_read pr = {.client = c->id, .op = c->op, .index = 0};
			if (nd->n_reads == nd->cap_reads) {
				nd->cap_reads = nd->cap_reads ? nd->cap_reads * 2 : 8;
				nd->reads = sim_xrealloc(nd->reads, nd->cap_reads * sizeof(*nd->reads));
			}
			nd->reads[nd->n_reads++] = pr;
		}
	}
	if (rv != 0) {
		sim_log(s, "client %u: n%u refused: %s", c->id, nd->idx + 1, raft_strerror(rv));
		client_timer(s, c, s->now + 5 * MS + sim_rand(s, 25 * MS));
		return;
	}
	c->proposed = true;
	c->node = nd->idx;
	c->epoch = nd->epoch;
	c->deadline = s->now + SIM_CLIENT_TIMEOUT_US;
	if (op->write)
		sim_log(s, "client %u: put k%u=v%" PRIu64 " proposed to n%u at (term %" PRIu64
			", index %" PRIu64 ")", c->id, op->key, op->value, nd->idx + 1, c->term,
			c->index);
	else
		sim_log(s, "client %u: get k%u via read-index on n%u", c->id, op->key,
			nd->idx + 1);
	client_timer(s, c, c->deadline);
	sim_node_input(s, nd);
}

void client_event(struct sim *s, uint32_t id, uint32_t gen)
{
	struct client *c = &s->clients[id];
	if (gen != c->gen)
		return; /* superseded */
	if (!c->busy) {
		if (s->fresh_acked)
			return; /* the run is converging: no new operations */
		start_op(s, c);
		try_submit(s, c);
		return;
	}
	if (!c->proposed) {
		try_submit(s, c);
		return;
	}
	if (s->now >= c->deadline) {
		struct hist_op *op = &s->hist[c->op];
		sim_log(s, "client %u: %s timed out; outcome unknown", c->id,
			op->write ? "put" : "get");
		op_finish(s, c, op->write ? -1 : 0);
	}
}

static struct client *waiting_on(struct sim *s, struct node *nd, uint64_t op)
{
	for (uint32_t i = 0; i < s->n_clients; i++) {
		struct client *c = &s->clients[i];
		if (c->busy && c->proposed && c->op == op && c->node == nd->idx &&
		    c->epoch == nd->epoch)
			return c;
	}
	return NULL;
}

void client_on_apply(struct sim *s, struct node *nd, const struct raft_entry *e)
{
	for (uint32_t i = 0; i < s->n_clients; i++) {
		struct client *c = &s->clients[i];
		if (!c->busy || !c->proposed || c->node != nd->idx || c->epoch != nd->epoch)
			continue;
		struct hist_op *op = &s->hist[c->op];
		if (!op->write || c->index != e->index)
			continue;
		/* The proposer succeeded only if the entry applied at its index carries
		 * the term it was proposed in; otherwise another leader's entry took the
		 * slot and ours can never commit. */
		if (e->term != c->term) {
			sim_log(s, "client %u: index %" PRIu64 " went to term %" PRIu64
				", not %" PRIu64 ": put failed", c->id, e->index, e->term, c->term);
			op_finish(s, c, 0);
			continue;
		}
		struct sim_cmd cmd;
		memcpy(&cmd, raft_entry_data(e), sizeof(cmd));
		if (cmd.op != c->op) {
			sim_fail(s, "proposal-identity",
				 "entry (index %" PRIu64 ", term %" PRIu64
				 ") carries op %" PRIu64 ", client %u proposed op %" PRIu64,
				 e->index, e->term, cmd.op, c->id, c->op);
			return;
		}
		op->index = e->index;
		op->term = e->term;
		s->res->acked++;
		if (e->index > s->max_acked_index)
			s->max_acked_index = e->index;
		sim_log(s, "client %u: put k%u=v%" PRIu64 " acknowledged at index %" PRIu64,
			c->id, op->key, op->value, e->index);
		if (s->healed && op->call >= s->heal_time && !s->fresh_acked) {
			s->fresh_acked = true;
			s->fresh_index = e->index;
			sim_narrate(s, "fresh write k%u=v%" PRIu64 " committed at index %" PRIu64
				    " after healing", op->key, op->value, e->index);
		} else if (s->now >= s->narrated_commit + 1000 * MS) {
			s->narrated_commit = s->now;
			sim_narrate(s, "client %u: put k%u=v%" PRIu64 " committed at index %" PRIu64
				    " (term %" PRIu64 "); %" PRIu64 " writes acknowledged so far",
				    c->id, op->key, op->value, e->index, e->term, s->res->acked);
		}
		op_finish(s, c, 1);
	}
}

void client_on_read_index(struct sim *s, struct node *nd, const struct raft_read *rd)
{
	(void)s;
	for (uint32_t i = 0; i < nd->n_reads; i++) {
		if (nd->reads[i].op == rd->context && !nd->reads[i].confirmed) {
			nd->reads[i].index = rd->index;
			nd->reads[i].confirmed = true;
		}
	}
}

void client_serve_reads(struct sim *s, struct node *nd)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < nd->n_reads; i++) {
		struct pending_read *pr = &nd->reads[i];
		struct client *c = waiting_on(s, nd, pr->op);
		if (c == NULL)
			continue; /* the client gave up; forget it */
		if (!pr->confirmed || nd->applied < pr->index) {
			nd->reads[kept++] = *pr;
			continue;
		}
		/* ReadIndex: serve from the local state once applied >= read index. */
		struct hist_op *op = &s->hist[c->op];
		op->value = nd->kv[op->key];
		s->res->reads++;
		sim_log(s, "client %u: get k%u = v%" PRIu64 " (read index %" PRIu64 ")", c->id,
			op->key, op->value, pr->index);
		op_finish(s, c, 1);
	}
	nd->n_reads = kept;
}

void client_on_crash(struct sim *s, struct node *nd)
{
	(void)s;
	nd->n_reads = 0;
}

void clients_init(struct sim *s, uint32_t n)
{
	if (n > SIM_MAX_CLIENTS)
		n = SIM_MAX_CLIENTS;
	s->n_clients = n;
	for (uint32_t i = 0; i < n; i++) {
		struct client *c = &s->clients[i];
		memset(c, 0, sizeof(*c));
		c->id = i;
		c->guess = (uint32_t)sim_rand(s, s->n);
		client_timer(s, c, 50 * MS + sim_rand(s, 100 * MS));
	}
}

void clients_free(struct sim *s)
{
	free(s->hist);
	for (uint32_t i = 0; i < s->n; i++)
		free(s->nodes[i].reads);
}

bool liveness_done(struct sim *s)
{
	/* After a fresh write is acknowledged no new operations start; the run ends
	 * once every node applied everything any client was told succeeded. */
	if (!s->fresh_acked)
		return false;
	const struct raft_conf *members = sim_current_conf(s);
	if (members == NULL)
		return false;
	for (uint32_t i = 0; i < s->n; i++) {
		if (!raft_conf_is_member(members, i + 1))
			continue;
		if (!s->nodes[i].up || s->nodes[i].applied < s->max_acked_index)
			return false;
	}
	return true;
}

void history_write(const struct sim *s, const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "concord-sim: cannot write history to %s\n", path);
		return;
	}
	for (uint64_t i = 0; i < s->n_hist; i++) {
		const struct hist_op *op = &s->hist[i];
		if (!op->write && op->ok != 1)
			continue; /* a read that failed or never returned observed nothing */
		if (op->write) {
			if (op->ok == 1 || op->ok == 0)
				fprintf(f, "{\"client\":%u,\"op\":\"put\",\"key\":\"k%u\",\"value\":"
					   "\"v%" PRIu64 "\",\"ok\":%s,\"call\":%" PRIu64
					   ",\"return\":%" PRIu64 "}\n",
					op->client, op->key, op->value, op->ok ? "true" : "false",
					op->call, op->ret);
			else
				fprintf(f, "{\"client\":%u,\"op\":\"put\",\"key\":\"k%u\",\"value\":"
					   "\"v%" PRIu64 "\",\"ok\":\"unknown\",\"call\":%" PRIu64
					   ",\"return\":null}\n",
					op->client, op->key, op->value, op->call);
		} else if (op->value == 0) {
			fprintf(f, "{\"client\":%u,\"op\":\"get\",\"key\":\"k%u\",\"result\":null,"
				   "\"ok\":true,\"call\":%" PRIu64 ",\"return\":%" PRIu64 "}\n",
				op->client, op->key, op->call, op->ret);
		} else {
			fprintf(f, "{\"client\":%u,\"op\":\"get\",\"key\":\"k%u\",\"result\":\"v%" PRIu64
				   "\",\"ok\":true,\"call\":%" PRIu64 ",\"return\":%" PRIu64 "}\n",
				op->client, op->key, op->value, op->call, op->ret);
		}
	}
	fclose(f);
}
