/* clients.c: simulated clients. Each runs one operation at a time against the node it
 * believes leads, as the server's frontends do: real kv commands (put, append, incr,
 * cas, delete) through driver_write and linearizable gets through driver_read, with
 * timeouts and retries; every operation goes into a history for the checker. */
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SIM_VALUE 32 /* room for a value's text */

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

static const char *kind_name(enum check_kind k)
{
	static const char *const names[] = {"get", "put", "delete", "append", "cas", "incr"};
	return (unsigned)k < 6 ? names[k] : "?";
}

/* The text a write puts into the store: unique per operation, so that the entry that
 * carries it can be recognised. Puts and cas write decimal numbers (incr works on them),
 * appends a tagged suffix. */
static size_t value_text(const struct hist_op *op, char buf[SIM_VALUE])
{
	if (op->kind == CHECK_KIND_APPEND)
		return (size_t)snprintf(buf, SIM_VALUE, "a%" PRIu64 ",", op->value);
	return (size_t)snprintf(buf, SIM_VALUE, "%" PRIu64, op->value);
}

static enum check_kind draw_kind(struct sim *s)
{
	uint64_t r = sim_rand(s, 100);
	if (r < 40)
		return CHECK_KIND_GET;
	if (r < 65)
		return CHECK_KIND_PUT;
	if (r < 75)
		return CHECK_KIND_APPEND;
	if (r < 85)
		return CHECK_KIND_INCR;
	if (r < 95)
		return CHECK_KIND_CAS;
	return CHECK_KIND_DELETE;
}

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

static void expiry_side(struct sim *s, struct client *c)
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

static void start_op(struct sim *s, struct client *c)
{
	if (sim_rand(s, 100) < SIM_SIDE_PERCENT)
		expiry_side(s, c);
	struct hist_op op = {
	    .client = c->id,
	    .kind = draw_kind(s),
	    .key = (uint32_t)sim_rand(s, SIM_KEYS),
	    .ok = -2,
	    .call = s->now,
	};
	op.write = op.kind != CHECK_KIND_GET;
	if (op.kind == CHECK_KIND_PUT || op.kind == CHECK_KIND_APPEND || op.kind == CHECK_KIND_CAS)
		op.value = ++s->next_value;
	if (op.kind == CHECK_KIND_INCR)
		op.value = 1 + sim_rand(s, 5);
	if (op.kind == CHECK_KIND_CAS)
		op.expect = c->seen[op.key]; /* 0: expect the key absent */
	if (s->n_hist == s->cap_hist) {
		s->cap_hist = s->cap_hist ? s->cap_hist * 2 : 1024;
		s->hist = sim_xrealloc(s->hist, s->cap_hist * sizeof(*s->hist));
	}
	if (op.write)
		op.seq = ++c->seq;
	c->op = s->n_hist;
	s->hist[s->n_hist++] = op;
	s->res->history_ops = s->n_hist;
	c->busy = true;
	c->proposed = false;
	c->sent = false;
}

/* ---------------------------------------------------------------------------------
 * Outcomes, as the driver reports them
 */

/* The client still waits for this request (not timed out, not superseded). */
static struct client *request_client(const struct request *rq)
{
	struct sim *s = rq->sim;
	struct client *c = &s->clients[rq->client];
	if (!c->busy || !c->proposed || c->op != rq->op || c->node != rq->node ||
	    c->epoch != rq->epoch)
		return NULL;
	return c;
}

static char *text_dup(const void *p, size_t len)
{
	char *t = malloc(len + 1);
	if (t == NULL)
		abort();
	memcpy(t, p, len);
	t[len] = '\0';
	return t;
}

static void on_read(void *arg, int status)
{
	struct request *rq = arg;
	struct sim *s = rq->sim;
	struct client *c = request_client(rq);
	if (c == NULL)
		return;
	struct hist_op *op = &s->hist[c->op];
	if (status != DRIVER_OK) {
		sim_log(s, "client %u: get k%u failed: %s", c->id, op->key,
		        sim_driver_error(status));
		op_finish(s, c, 0); /* a failed read observed nothing */
		return;
	}
	/* ReadIndex: the driver calls back once the state machine applied the read index. */
	char name[8];
	size_t len = sim_key_name(op->key, name);
	struct kv_value v;
	if (kv_get(driver_kv(s->nodes[rq->node].d), name, len, 0, &v) == 0) {
		op->result = text_dup(v.value, v.value_len);
		c->seen[op->key] = strtoull(op->result, NULL, 10);
	} else {
		c->seen[op->key] = 0;
	}
	s->res->reads++;
	sim_log(s, "client %u: get k%u = %s", c->id, op->key, op->result ? op->result : "(absent)");
	op_finish(s, c, 1);
}

/* A write whose outcome is unknown is proposed again with the same sequence number (the
 * session makes the retry apply at most once), a few times; then it stays unknown. */
static void write_unknown(struct sim *s, struct client *c)
{
	struct hist_op *op = &s->hist[c->op];
	if (op->tries >= SIM_WRITE_TRIES) {
		op_finish(s, c, -1);
		return;
	}
	s->res->retries++;
	c->proposed = false;
	client_timer(s, c, s->now + 5 * MS + sim_rand(s, 25 * MS));
}

/* Whether the entry just applied carries this write (its unique value). */
static bool entry_carries(const struct raft_entry *e, const struct hist_op *op)
{
	if (op->kind == CHECK_KIND_INCR || op->kind == CHECK_KIND_DELETE)
		return true; /* no unique bytes: the driver's term rule is what is checked */
	char text[SIM_VALUE];
	size_t len = value_text(op, text);
	return memmem(raft_entry_data(e), raft_entry_len(e), text, len) != NULL;
}

/* A committed write's effect as the store replied: 1 took effect, 0 did not. */
static int reply_outcome(struct sim *s, struct client *c, struct hist_op *op,
                         const struct kv_reply *r)
{
	switch (op->kind) {
	case CHECK_KIND_INCR:
		if (r->code != KV_OK)
			return 0; /* not an integer, or overflow: no effect */
		char num[24];
		snprintf(num, sizeof(num), "%" PRId64, r->integer);
		op->result = text_dup(num, strlen(num));
		return 1;
	case CHECK_KIND_CAS:
		if (r->code != KV_OK || !r->succeeded)
			return 0;
		c->seen[op->key] = op->value;
		return 1;
	case CHECK_KIND_DELETE:
		op->existed = r->integer > 0 ? CHECK_EXISTED_YES : CHECK_EXISTED_NO;
		c->seen[op->key] = 0;
		break;
	default:
		if (op->kind == CHECK_KIND_PUT)
			c->seen[op->key] = op->value;
		break;
	}
	if (r->code != KV_OK)
		sim_fail(s, "kv-reply", "client %u's %s of k%u was answered %s", c->id,
		         kind_name(op->kind), op->key, kv_strerror(r->code));
	return 1;
}

static void write_acked(struct sim *s, struct client *c, struct hist_op *op,
                        const struct raft_entry *e)
{
	op->index = e->index;
	op->term = e->term;
	s->res->acked++;
	if (e->index > s->max_acked_index)
		s->max_acked_index = e->index;
	sim_log(s, "client %u: %s k%u acknowledged at index %" PRIu64, c->id, kind_name(op->kind),
	        op->key, e->index);
	if (s->healed && op->call >= s->heal_time && !s->fresh_acked) {
		s->fresh_acked = true;
		s->fresh_index = e->index;
		sim_narrate(s, "fresh %s of k%u committed at index %" PRIu64 " after healing",
		            kind_name(op->kind), op->key, e->index);
	} else if (s->now >= s->narrated_commit + 1000 * MS) {
		s->narrated_commit = s->now;
		sim_narrate(s,
		            "client %u: %s k%u committed at index %" PRIu64 " (term %" PRIu64
		            "); %" PRIu64 " writes acknowledged so far",
		            c->id, kind_name(op->kind), op->key, e->index, e->term, s->res->acked);
	}
}

static void on_write(void *arg, int status, const struct kv_reply *reply)
{
	struct request *rq = arg;
	struct sim *s = rq->sim;
	struct client *c = request_client(rq);
	if (c == NULL)
		return;
	struct hist_op *op = &s->hist[c->op];
	if (status == DRIVER_ELOST) {
		sim_log(s, "client %u: %s k%u lost its index to another leader", c->id,
		        kind_name(op->kind), op->key);
		/* This proposal had no effect; an earlier try of the same write may have. */
		if (op->tries > 1)
			write_unknown(s, c);
		else
			op_finish(s, c, -3);
		return;
	}
	if (status != DRIVER_OK) {
		sim_log(s, "client %u: %s k%u: %s; outcome unknown", c->id, kind_name(op->kind),
		        op->key, sim_driver_error(status));
		write_unknown(s, c);
		return;
	}
	const struct raft_entry *e = s->nodes[rq->node].applying;
	assert(reply != NULL);
	if (e == NULL || !entry_carries(e, op)) {
		sim_fail(s, "proposal-identity",
		         "client %u's %s of k%u was acknowledged at an "
		         "entry that does not carry it",
		         c->id, kind_name(op->kind), op->key);
		return;
	}
	if (reply->duplicate)
		s->res->duplicates++;
	write_acked(s, c, op, e);
	op_finish(s, c, reply_outcome(s, c, op, reply));
}

/* ---------------------------------------------------------------------------------
 * Submission
 */

static struct request *request_new(struct sim *s, struct client *c, struct node *nd)
{
	struct request *rq = calloc(1, sizeof(*rq));
	if (rq == NULL)
		abort();
	*rq = (struct request){.sim = s,
	                       .client = c->id,
	                       .op = c->op,
	                       .node = nd->idx,
	                       .epoch = nd->epoch,
	                       .next = s->requests};
	s->requests = rq;
	return rq;
}

/* Builds the command of a write, as the server's RESP frontend does. */
static int submit_write(const struct client *c, struct node *nd, const struct hist_op *op,
                        struct request *rq)
{
	char name[8], text[SIM_VALUE], expect[SIM_VALUE];
	size_t key_len = sim_key_name(op->key, name);
	size_t len = value_text(op, text);
	struct kv_cmd cmd = {
	    .put = {.key = name, .key_len = key_len, .value = text, .value_len = len}};
	struct kv_key del = {name, key_len};
	switch (op->kind) {
	case CHECK_KIND_PUT:
		cmd.op = KV_OP_SET;
		/* Every third put with an hour's TTL: it never expires within a run, and the
		 * history checks that such a key reads like any other. */
		if (op->seq % 3 == 0)
			cmd.put.expiry =
			    (struct kv_expiry){.mode = KV_EXPIRY_IN, .ms = 3600 * 1000};
		break;
	case CHECK_KIND_APPEND:
		cmd.op = KV_OP_APPEND;
		break;
	case CHECK_KIND_INCR:
		cmd = (struct kv_cmd){.op = KV_OP_INCRBY,
		                      .put = {.key = name, .key_len = key_len},
		                      .delta = (int64_t)op->value};
		break;
	case CHECK_KIND_CAS:
		cmd.op = KV_OP_CAS;
		if (op->expect == 0) {
			cmd.put.cond.kind = KV_COND_ABSENT;
		} else {
			cmd.put.cond.kind = KV_COND_VALUE;
			cmd.put.cond.value = expect;
			cmd.put.cond.value_len =
			    (size_t)snprintf(expect, sizeof(expect), "%" PRIu64, op->expect);
		}
		break;
	case CHECK_KIND_DELETE:
		/* Half of the deletes as EXPIRE with a deadline passed: Redis's other way to
		 * delete, answering 1 if the key existed, as DEL does. */
		if (op->seq % 2 == 0)
			cmd = (struct kv_cmd){.op = KV_OP_EXPIRE,
			                      .put = {.key = name,
			                              .key_len = key_len,
			                              .expiry = {.mode = KV_EXPIRY_IN, .ms = -1}}};
		else
			cmd = (struct kv_cmd){.op = KV_OP_DEL, .n = 1, .keys = &del};
		break;
	default:
		assert(false);
		return DRIVER_EINVAL;
	}
	assert(c->session != 0 && op->seq != 0);
	cmd.client_id = c->session;
	cmd.seq = op->seq;
	return driver_write(nd->d, &cmd, on_write, rq);
}

/* The node the client believes leads, or NULL (with the guess moved on: the node's
 * hint if it has one, else another node). */
static struct node *leader_guess(struct sim *s, struct client *c)
{
	struct node *nd = &s->nodes[c->guess];
	if (nd->up && raft_role(node_raft(nd)) == RAFT_LEADER)
		return nd;
	raft_id hint = nd->up ? raft_leader(node_raft(nd)) : RAFT_NONE;
	c->guess = hint != RAFT_NONE && hint != nd->idx + 1 ? (uint32_t)hint - 1
	                                                    : (uint32_t)sim_rand(s, s->n);
	return NULL;
}

static void on_open(void *arg, int status, const struct kv_reply *reply)
{
	struct request *rq = arg;
	struct sim *s = rq->sim;
	struct client *c = &s->clients[rq->client];
	if (c->session != 0 || !c->opening || c->node != rq->node || c->epoch != rq->epoch)
		return; /* an older attempt, or already open */
	if (status != DRIVER_OK || reply->code != KV_OK)
		return; /* the client's timer tries again */
	assert(reply->client_id != 0);
	c->session = reply->client_id;
	c->opening = false;
	sim_log(s, "client %u: session %" PRIu64 " open", c->id, c->session);
	client_next(s, c);
}

/* Opens the client's session, as the server's clients do before writing: a command of
 * its own, outside the history. */
static void open_session(struct sim *s, struct client *c)
{
	struct node *nd = leader_guess(s, c);
	int rv = DRIVER_ENOTLEADER;
	if (nd != NULL) {
		struct request *rq = request_new(s, c, nd);
		rq->op = SIM_OP_OPEN;
		struct kv_cmd cmd = {.op = KV_OP_SESSION_OPEN};
		rv = driver_write(nd->d, &cmd, on_open, rq);
	}
	if (rv != 0) {
		client_timer(s, c, s->now + 5 * MS + sim_rand(s, 25 * MS));
		return;
	}
	c->opening = true;
	c->node = nd->idx;
	c->epoch = nd->epoch;
	client_timer(s, c, s->now + SIM_CLIENT_TIMEOUT_US);
	sim_node_input(s, nd);
}

static void try_submit(struct sim *s, struct client *c)
{
	struct hist_op *op = &s->hist[c->op];
	struct node *nd = leader_guess(s, c);
	if (nd == NULL) {
		if (s->now - op->call >= (uint64_t)SIM_WRITE_TRIES * SIM_CLIENT_TIMEOUT_US) {
			/* Given up: with no proposal it had no effect. */
			op_finish(s, c, c->sent ? -1 : -3);
			return;
		}
		client_timer(s, c, s->now + 5 * MS + sim_rand(s, 25 * MS));
		return;
	}
	struct request *rq = request_new(s, c, nd);
	int rv = op->write ? submit_write(c, nd, op, rq) : driver_read(nd->d, false, on_read, rq);
	if (rv != 0) {
		sim_log(s, "client %u: n%u refused: %s", c->id, nd->idx + 1, sim_driver_error(rv));
		client_timer(s, c, s->now + 5 * MS + sim_rand(s, 25 * MS));
		return;
	}
	c->proposed = true;
	c->sent = true;
	op->tries++;
	c->node = nd->idx;
	c->epoch = nd->epoch;
	c->deadline = s->now + SIM_CLIENT_TIMEOUT_US;
	sim_log(s, "client %u: %s k%u (value %" PRIu64 ", seq %" PRIu64 ", try %u) sent to n%u",
	        c->id, kind_name(op->kind), op->key, op->value, op->seq, op->tries, nd->idx + 1);
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
		if (c->session == 0) {
			open_session(s, c);
			return;
		}
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
		sim_log(s, "client %u: %s timed out; outcome unknown", c->id, kind_name(op->kind));
		if (op->write)
			write_unknown(s, c);
		else
			op_finish(s, c, 0);
	}
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
	for (uint64_t i = 0; i < s->n_hist; i++)
		free(s->hist[i].result);
	free(s->hist);
	while (s->requests != NULL) {
		struct request *rq = s->requests;
		s->requests = rq->next;
		free(rq);
	}
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
