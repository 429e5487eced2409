/* clients.c: simulated clients. Each talks to the node it believes leads over a
 * connection (conn.c), as the server's clients do: real kv commands (put, append, incr,
 * cas, delete on k0..k4; put, delete, mset and delrange over several keys on m0..m2,
 * transactions there (txn.c) and puts attached to leases (lease.c)) through driver_write
 * and linearizable gets through driver_read, with timeouts; some run one operation at a
 * time under a session and resend writes whose outcome is unknown, some pipeline several.
 * Every operation goes into a history for the checker, which holds each client to the
 * order it called its operations in. */
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SIM_VALUE 32 /* room for a value's text */

#define THINK_US (1 * MS) /* a client's pause between operations: this plus up to 40 ms */

/* Arms the client's timer for `at`, unless it fires then already. */
static void client_timer(struct sim *s, struct client *c, uint64_t at)
{
	if (at == c->timer_at)
		return;
	c->gen++;
	c->timer_at = at;
	struct event ev = {.time = at, .type = EV_CLIENT, .client = c->id, .epoch = c->gen};
	sim_schedule(s, ev);
}

/* Whether the client may start operations (once its next_at comes). */
static bool may_issue(const struct sim *s, const struct client *c)
{
	return c->resend == SIM_NO_OP && !s->fresh_acked && c->conn.n < c->depth && !c->conn.broken;
}

/* The client's next wake-up: a resend, its next operation, or the deadline of the oldest
 * outstanding one, whichever comes first. */
static void client_rearm(struct sim *s, struct client *c)
{
	if (c->conn.open && c->conn.broken && c->conn.n == 0)
		conn_close(s, c); /* the next operation goes to the node it now believes leads */
	uint64_t at = UINT64_MAX;
	if (c->conn.n > 0)
		at = c->conn.ops[0].sent + SIM_CLIENT_TIMEOUT_US;
	if (c->resend != SIM_NO_OP && c->resend_at < at)
		at = c->resend_at;
	else if (may_issue(s, c) && c->next_at < at)
		at = c->next_at;
	if (at < s->now)
		at = s->now;
	if (at != UINT64_MAX)
		client_timer(s, c, at);
}

static void op_finish(struct sim *s, struct client *c, uint64_t opi, int ok)
{
	struct hist_op *op = &s->hist[opi];
	op->ok = ok;
	op->ret = s->now;
	if (c->depth == 1)
		c->next_at = s->now + THINK_US + sim_rand(s, 40 * MS);
}

static const char *kind_name(enum check_kind k)
{
	static const char *const names[] = {"get",  "put",  "delete",   "append", "cas",
	                                    "incr", "mset", "delrange", "expire", "txn"};
	return (unsigned)k < 10 ? names[k] : "?";
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

/* An operation on m0..m2: registers read and written one at a time or several at once. */
static void draw_multi(struct sim *s, struct hist_op *op)
{
	uint64_t r = sim_rand(s, 100);
	op->kind = r < 35   ? CHECK_KIND_GET
	           : r < 55 ? CHECK_KIND_PUT
	           : r < 65 ? CHECK_KIND_DELETE
	           : r < 85 ? CHECK_KIND_MSET
	                    : CHECK_KIND_DELRANGE;
	uint32_t first = (uint32_t)sim_rand(s, SIM_MULTI_KEYS);
	op->key = SIM_KEYS + first;
	op->nkeys = 1;
	if (op->kind == CHECK_KIND_MSET || op->kind == CHECK_KIND_DELRANGE)
		op->nkeys = 1 + (uint32_t)sim_rand(s, SIM_MULTI_KEYS - first);
	if (op->kind == CHECK_KIND_PUT && sim_rand(s, 3) == 0)
		op->ttl_ms = SIM_TTL_MIN_MS + (uint32_t)sim_rand(s, 400);
}

/* A new operation in the history; `key_hint` (or SIM_KEYS: none) is the key of the
 * operation pipelined just before it, which it shares more often than not. */
static uint64_t start_op(struct sim *s, struct client *c, uint32_t key_hint)
{
	if (sim_rand(s, 100) < SIM_SIDE_PERCENT)
		expiry_side(s, c);
	lease_step(s, c); /* from a stream of its own, as txn_draw's */
	struct hist_op op = {.client = c->id, .ok = -2, .call = s->now};
	if (sim_rand(s, 100) < SIM_MULTI_PERCENT) {
		draw_multi(s, &op);
		txn_draw(s, c, &op); /* from a stream of its own: the draws above stay */
		lease_attach(s, c, &op);
	} else {
		op.kind = draw_kind(s);
		op.key = (uint32_t)sim_rand(s, SIM_KEYS);
		if (key_hint < SIM_KEYS && sim_rand(s, 100) < 60)
			op.key = key_hint;
	}
	op.write = op.kind != CHECK_KIND_GET;
	if (op.kind == CHECK_KIND_PUT || op.kind == CHECK_KIND_APPEND || op.kind == CHECK_KIND_CAS)
		op.value = ++s->next_value;
	if (op.kind == CHECK_KIND_MSET) {
		op.value = s->next_value + 1;
		s->next_value += op.nkeys;
	}
	if (op.kind == CHECK_KIND_INCR)
		op.value = 1 + sim_rand(s, 5);
	if (op.kind == CHECK_KIND_CAS)
		op.expect = c->seen[op.key]; /* 0: expect the key absent */
	if (s->n_hist == s->cap_hist) {
		s->cap_hist = s->cap_hist ? s->cap_hist * 2 : 1024;
		s->hist = sim_xrealloc(s->hist, s->cap_hist * sizeof(*s->hist));
	}
	if (op.write)
		op.seq = ++c->seq; /* sent only by a client of depth 1 (its session's) */
	/* Operations called at the same instant keep their order for the checker. */
	c->n_same_call = c->last_call == s->now && s->n_hist > 0 ? c->n_same_call + 1 : 0;
	c->last_call = s->now;
	assert(c->n_same_call < SIM_PIPE_MAX);
	op.call_sub = c->n_same_call;
	s->hist[s->n_hist++] = op;
	s->res->history_ops = s->n_hist;
	return s->n_hist - 1;
}

/* ---------------------------------------------------------------------------------
 * Outcomes, as the driver reports them
 */

/* The client still waits for this request (same connection, not timed out): it is
 * taken off the connection. */
struct client *client_of(const struct request *rq)
{
	struct sim *s = rq->sim;
	struct client *c = &s->clients[rq->client];
	if (!conn_take(s, c, rq->conn, rq->op))
		return NULL;
	return c;
}

/* After an answer: the node starts what its connection held back, and the client may
 * send more. */
void client_answered(struct sim *s, struct client *c)
{
	conn_process(s, c, false);
	client_rearm(s, c);
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
	struct client *c = client_of(rq);
	if (c == NULL)
		return;
	struct hist_op *op = &s->hist[rq->op];
	if (status != DRIVER_OK) {
		sim_log(s, "client %u: get k%u failed: %s", c->id, op->key,
		        sim_driver_error(status));
		op_finish(s, c, rq->op, 0); /* a failed read observed nothing */
		client_answered(s, c);
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
	sim_log(s, "client %u: get k%u = %s (op %" PRIu64 ")", c->id, op->key,
	        op->result ? op->result : "(absent)", rq->op);
	op_finish(s, c, rq->op, 1);
	client_answered(s, c);
}

/* A write whose outcome is unknown is proposed again with the same sequence number (the
 * session makes the retry apply at most once), a few times; then it stays unknown. Only
 * a client of depth 1 resends: it sent nothing after the write, so the resend keeps its
 * order. A pipelining client leaves it unknown. */
static void write_unknown(struct sim *s, struct client *c, uint64_t opi)
{
	struct hist_op *op = &s->hist[opi];
	if (op->tries >= SIM_WRITE_TRIES || c->depth > 1) {
		op_finish(s, c, opi, -1);
		return;
	}
	s->res->retries++;
	c->resend = opi;
	c->resend_at = s->now + 5 * MS + sim_rand(s, 25 * MS);
}

/* Whether the entry just applied carries this write (its unique value). */
static bool entry_carries(const struct raft_entry *e, const struct hist_op *op)
{
	if (op->kind == CHECK_KIND_TXN)
		return txn_carries(e, op);
	if (op->kind == CHECK_KIND_INCR || op->kind == CHECK_KIND_DELETE ||
	    op->kind == CHECK_KIND_DELRANGE)
		return true; /* no unique bytes: the driver's term rule is what is checked */
	char text[SIM_VALUE];
	size_t len = value_text(op, text);
	return memmem(raft_entry_data(e), raft_entry_len(e), text, len) != NULL;
}

/* A committed write's effect as the store replied: 1 took effect, 0 did not. */
static int reply_outcome(struct sim *s, struct client *c, struct hist_op *op,
                         const struct kv_reply *r)
{
	if (op->lease != 0 && r->code == KV_ELEASE)
		return 0; /* its lease expired (or was revoked) first: no effect */
	s->res->lease_puts += op->lease != 0 && r->code == KV_OK;
	switch (op->kind) {
	case CHECK_KIND_TXN:
		return txn_outcome(s, c, op, r);
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
	case CHECK_KIND_DELRANGE: {
		char count[24];
		snprintf(count, sizeof(count), "%" PRId64, r->integer);
		op->result = text_dup(count, strlen(count));
		break;
	}
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
	if (op->kind == CHECK_KIND_MSET || op->kind == CHECK_KIND_DELRANGE)
		s->res->multi_acked++;
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
	struct client *c = client_of(rq);
	if (c == NULL)
		return;
	struct hist_op *op = &s->hist[rq->op];
	if (status == DRIVER_ELOST) {
		sim_log(s, "client %u: %s k%u lost its index to another leader", c->id,
		        kind_name(op->kind), op->key);
		/* This proposal had no effect; an earlier try of the same write may have. */
		if (op->tries > 1)
			write_unknown(s, c, rq->op);
		else
			op_finish(s, c, rq->op, -3);
		client_answered(s, c);
		return;
	}
	if (status != DRIVER_OK) {
		sim_log(s, "client %u: %s k%u: %s; outcome unknown", c->id, kind_name(op->kind),
		        op->key, sim_driver_error(status));
		write_unknown(s, c, rq->op);
		client_answered(s, c);
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
	op_finish(s, c, rq->op, reply_outcome(s, c, op, reply));
	client_answered(s, c);
}

/* ---------------------------------------------------------------------------------
 * Submission
 */

struct request *client_request(struct sim *s, struct client *c, struct node *nd, uint64_t op)
{
	struct request *rq = calloc(1, sizeof(*rq));
	if (rq == NULL)
		abort();
	*rq = (struct request){.sim = s,
	                       .client = c->id,
	                       .op = op,
	                       .node = nd->idx,
	                       .epoch = nd->epoch,
	                       .conn = c->conn.gen,
	                       .next = s->requests};
	s->requests = rq;
	return rq;
}

/* A client of depth 1 writes under its session; a pipelining one without (a session keeps
 * one write's reply: kv.md), at most once since it never resends. */
int client_send_write(const struct client *c, struct node *nd, const struct hist_op *op,
                      struct kv_cmd *cmd, struct request *rq)
{
	assert(c->depth > 1 || (c->session != 0 && op->seq != 0));
	cmd->client_id = c->depth == 1 ? c->session : 0;
	cmd->seq = c->depth == 1 ? op->seq : 0;
	return driver_write(nd->d, cmd, on_write, rq);
}

/* MSET of m<a>.. with consecutive values, or DELRANGE [m<a>, m<a + n>): the keys m0..m2
 * that the checker decides as one object. */
static int submit_multi(const struct client *c, struct node *nd, const struct hist_op *op,
                        struct request *rq)
{
	char names[SIM_MULTI_KEYS + 1][8], texts[SIM_MULTI_KEYS][SIM_VALUE];
	struct kv_put puts[SIM_MULTI_KEYS];
	assert(op->nkeys >= 1 && op->key + op->nkeys <= SIM_ALL_KEYS);
	for (uint32_t i = 0; i <= op->nkeys; i++) {
		size_t len = sim_key_name(op->key + i, names[i]);
		if (i == op->nkeys)
			break;
		puts[i] = (struct kv_put){.key = names[i], .key_len = len, .value = texts[i]};
		puts[i].value_len =
		    (size_t)snprintf(texts[i], SIM_VALUE, "%" PRIu64, op->value + i);
	}
	struct kv_cmd cmd = {.op = KV_OP_MSET, .n = op->nkeys, .puts = puts};
	if (op->kind == CHECK_KIND_DELRANGE)
		cmd = (struct kv_cmd){.op = KV_OP_DELRANGE,
		                      .put = {.key = names[0], .key_len = 2},
		                      .range_end = names[op->nkeys],
		                      .range_end_len = 2};
	return client_send_write(c, nd, op, &cmd, rq);
}

/* A put's TTL: on m0..m2 the one drawn, short enough to fire (the history then holds
 * the put's expiry: lincheck.c); else every third put with an hour's, which never fires
 * within a run, so that the history checks that such a key reads like any other. */
static struct kv_expiry put_expiry(const struct hist_op *op)
{
	if (op->lease != 0)
		return (struct kv_expiry){.mode = KV_EXPIRY_LEASE,
		                          .lease = SIM_LEASE_ID_BASE + op->lease - 1};
	if (op->ttl_ms > 0)
		return (struct kv_expiry){.mode = KV_EXPIRY_IN, .ms = op->ttl_ms};
	if (op->seq % 3 == 0)
		return (struct kv_expiry){.mode = KV_EXPIRY_IN, .ms = 3600 * 1000};
	return (struct kv_expiry){0};
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
		cmd.put.expiry = put_expiry(op);
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
		 * delete, answering 1 if the key existed, as DEL does; a quarter as a range
		 * delete of the key's prefix range, [k3, k4): the one key (names are two bytes),
		 * so the checker's per-key model holds. */
		if (op->seq % 2 == 0) {
			cmd = (struct kv_cmd){.op = KV_OP_EXPIRE,
			                      .put = {.key = name,
			                              .key_len = key_len,
			                              .expiry = {.mode = KV_EXPIRY_IN, .ms = -1}}};
		} else if (op->seq % 4 == 1) {
			size_t end_len = kv_prefix_end(name, key_len, (unsigned char *)expect);
			cmd = (struct kv_cmd){.op = KV_OP_DELRANGE,
			                      .put = {.key = name, .key_len = key_len},
			                      .range_end = expect,
			                      .range_end_len = end_len};
		} else {
			cmd = (struct kv_cmd){.op = KV_OP_DEL, .n = 1, .keys = &del};
		}
		break;
	case CHECK_KIND_MSET:
	case CHECK_KIND_DELRANGE:
		return submit_multi(c, nd, op, rq);
	default:
		assert(false);
		return DRIVER_EINVAL;
	}
	return client_send_write(c, nd, op, &cmd, rq);
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
	if (c->session != 0 || !c->opening || c->open_node != rq->node ||
	    c->open_epoch != rq->epoch)
		return; /* an older attempt, or already open */
	if (status != DRIVER_OK || reply->code != KV_OK)
		return; /* the client's timer tries again */
	assert(reply->client_id != 0);
	c->session = reply->client_id;
	c->opening = false;
	sim_log(s, "client %u: session %" PRIu64 " open", c->id, c->session);
	c->next_at = s->now + THINK_US + sim_rand(s, 40 * MS);
	client_rearm(s, c);
}

/* Opens the client's session, as the server's clients do before writing: a command of
 * its own, outside the history. */
static void open_session(struct sim *s, struct client *c)
{
	struct node *nd = leader_guess(s, c);
	int rv = DRIVER_ENOTLEADER;
	if (nd != NULL) {
		struct request *rq = client_request(s, c, nd, SIM_OP_OPEN);
		struct kv_cmd cmd = {.op = KV_OP_SESSION_OPEN};
		rv = driver_write(nd->d, &cmd, on_open, rq);
	}
	if (rv != 0) {
		client_timer(s, c, s->now + 5 * MS + sim_rand(s, 25 * MS));
		return;
	}
	c->opening = true;
	c->open_node = nd->idx;
	c->open_epoch = nd->epoch;
	client_timer(s, c, s->now + SIM_CLIENT_TIMEOUT_US);
	sim_node_input(s, nd);
}

int client_op_start(struct sim *s, struct client *c, struct node *nd, uint64_t opi)
{
	struct hist_op *op = &s->hist[opi];
	struct request *rq = client_request(s, c, nd, opi);
	if (op->kind == CHECK_KIND_TXN)
		return txn_start(s, c, nd, opi, rq); /* counts its tries itself */
	int rv = op->write ? submit_write(c, nd, op, rq) : driver_read(nd->d, false, on_read, rq);
	if (rv != 0)
		return rv;
	op->tries++;
	sim_log(s,
	        "client %u: %s k%u (value %" PRIu64 ", seq %" PRIu64 ", try %u, op %" PRIu64
	        ") sent to n%u",
	        c->id, kind_name(op->kind), op->key, op->value, op->seq, op->tries, opi,
	        nd->idx + 1);
	return 0;
}

void client_op_refused(struct sim *s, struct client *c, uint64_t opi, int rv)
{
	struct hist_op *op = &s->hist[opi];
	sim_log(s, "client %u: n%u refused: %s", c->id, c->conn.node + 1, sim_driver_error(rv));
	if (c->depth == 1) {
		/* Sent again, to whichever node it then believes leads. */
		c->resend = opi;
		c->resend_at = s->now + 5 * MS + sim_rand(s, 25 * MS);
		return;
	}
	/* A pipelining client takes the refusal as the answer: no effect. */
	op_finish(s, c, opi, op->write ? -3 : 0);
}

void client_op_abandoned(struct sim *s, struct client *c, uint64_t opi, bool started)
{
	struct hist_op *op = &s->hist[opi];
	if (op->txn != NULL && op->txn->watching) {
		op->txn->watching = false; /* given up during its WATCH: EXEC was never sent */
		started = false;
	}
	if (!op->write)
		op_finish(s, c, opi, 0); /* a read given up observed nothing */
	else if (started || op->tries > 0)
		write_unknown(s, c, opi);
	else
		op_finish(s, c, opi, -3); /* never proposed */
}

/* Sends the operation waiting to be (re)sent, on the connection or a new one to the node
 * the client believes leads. */
static void resend(struct sim *s, struct client *c)
{
	uint64_t opi = c->resend;
	struct hist_op *op = &s->hist[opi];
	if (!c->conn.open) {
		struct node *nd = leader_guess(s, c);
		if (nd == NULL) {
			if (s->now - op->call >=
			    (uint64_t)SIM_WRITE_TRIES * SIM_CLIENT_TIMEOUT_US) {
				/* Given up: with no proposal it had no effect. */
				c->resend = SIM_NO_OP;
				op_finish(s, c, opi, op->tries > 0 ? -1 : -3);
				return;
			}
			c->resend_at = s->now + 5 * MS + sim_rand(s, 25 * MS);
			return;
		}
		conn_open(s, c, nd);
	}
	c->resend = SIM_NO_OP;
	conn_push(s, c, opi);
	conn_process(s, c, true);
}

/* Starts new operations: one, or for a pipelining client a burst of up to the room left
 * on its connection, sent together. */
static void issue(struct sim *s, struct client *c)
{
	if (!c->conn.open) {
		struct node *nd = leader_guess(s, c);
		if (nd == NULL) {
			c->next_at = s->now + 5 * MS + sim_rand(s, 25 * MS);
			return;
		}
		conn_open(s, c, nd);
	}
	c->next_at = s->now + THINK_US + sim_rand(s, 40 * MS);
	if (c->depth == 1) {
		c->resend = start_op(s, c, SIM_KEYS);
		resend(s, c);
		return;
	}
	uint32_t room = c->depth - c->conn.n;
	uint32_t burst = 1 + (uint32_t)sim_rand(s, room);
	uint32_t key = SIM_KEYS;
	for (uint32_t i = 0; i < burst; i++) {
		uint64_t opi = start_op(s, c, key);
		if (!c->conn.open) {
			/* start_op's side write stepped the node, which stopped (its disk
			 * failed) and closed the connection: this one was never sent. */
			client_op_abandoned(s, c, opi, false);
			break;
		}
		key = s->hist[opi].key;
		conn_push(s, c, opi);
	}
	conn_process(s, c, true);
}

void client_event(struct sim *s, uint32_t id, uint32_t gen)
{
	struct client *c = &s->clients[id];
	if (gen != c->gen)
		return; /* superseded */
	c->timer_at = UINT64_MAX;
	struct sim_conn *k = &c->conn;
	if (k->open && k->n > 0 && s->now >= k->ops[0].sent + SIM_CLIENT_TIMEOUT_US) {
		sim_log(s, "client %u: timed out with %u outstanding; outcome unknown", c->id,
		        k->n);
		conn_close(s, c);
	} else if (k->open && (!conn_alive(s, c) || (k->broken && k->n == 0))) {
		conn_close(s, c);
	}
	if (c->depth == 1 && c->session == 0) {
		if (!s->fresh_acked)
			open_session(s, c);
		return;
	}
	if (c->resend != SIM_NO_OP) {
		if (s->now >= c->resend_at)
			resend(s, c);
	} else if (may_issue(s, c) && s->now >= c->next_at) {
		issue(s, c);
	}
	client_rearm(s, c);
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
		/* Half the clients pipeline, keeping 2 to SIM_PIPE_MAX operations outstanding. */
		c->depth = sim_rand(s, 2) == 0 ? 1 : 2 + (uint32_t)sim_rand(s, SIM_PIPE_MAX - 1);
		c->resend = SIM_NO_OP;
		c->timer_at = UINT64_MAX;
		c->next_at = 50 * MS + sim_rand(s, 100 * MS);
		client_timer(s, c, c->next_at);
	}
}

void clients_free(struct sim *s)
{
	for (uint64_t i = 0; i < s->n_hist; i++) {
		free(s->hist[i].result);
		txn_free(&s->hist[i]);
	}
	lease_free(s);
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
		if (!raft_conf_is_member(members, i + 1) || s->nodes[i].disk.lost)
			continue; /* (a node that refused its damaged disk stays down) */
		if (!s->nodes[i].up || s->nodes[i].applied < s->max_acked_index)
			return false;
	}
	return true;
}
