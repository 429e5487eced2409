/* conn.c: the node's side of a simulated client's connection: the operations it was sent,
 * started in order under the RESP frontend's ordering rule (src/driver/order.h), the
 * rest held back until the operations before them are answered. */
#include "sim/internal.h"

static enum driver_order_kind kind_of(const struct sim *s, uint64_t op)
{
	return s->hist[op].write ? DRIVER_ORDER_WRITE : DRIVER_ORDER_READ;
}

void conn_open(struct sim *s, struct client *c, struct node *nd)
{
	(void)s;
	struct sim_conn *k = &c->conn;
	assert(!k->open && k->n == 0);
	uint32_t gen = k->gen + 1;
	*k = (struct sim_conn){.open = true, .node = nd->idx, .epoch = nd->epoch, .gen = gen};
}

bool conn_alive(const struct sim *s, const struct client *c)
{
	const struct sim_conn *k = &c->conn;
	if (!k->open)
		return false;
	const struct node *nd = &s->nodes[k->node];
	return nd->up && nd->epoch == k->epoch;
}

void conn_push(struct sim *s, struct client *c, uint64_t op)
{
	struct sim_conn *k = &c->conn;
	assert(k->open && k->n < SIM_PIPE_MAX);
	k->ops[k->n++] = (struct conn_op){.op = op, .sent = s->now};
}

static int find(const struct sim_conn *k, uint64_t op)
{
	for (uint32_t i = 0; i < k->n; i++)
		if (k->ops[i].op == op)
			return (int)i;
	return -1;
}

static void remove_at(struct sim_conn *k, uint32_t i)
{
	for (uint32_t j = i + 1; j < k->n; j++)
		k->ops[j - 1] = k->ops[j];
	k->n--;
}

/* The first operation not started yet, if the rule lets it start now; else -1. */
static int next_startable(struct sim *s, struct sim_conn *k)
{
	for (uint32_t i = 0; i < k->n; i++) {
		bool txn_waits = txn_holds(s, k->ops[i].op, k->ops[i].started, &k->order);
		if (k->ops[i].started) {
			if (txn_waits)
				return -1; /* a WATCH still reading: EXEC, and all after it, wait */
			continue;
		}
		if (txn_waits || (!s->opts.unordered &&
		                  driver_order_waits(&k->order, kind_of(s, k->ops[i].op)))) {
			s->res->held += !k->ops[i].held;
			k->ops[i].held = true;
			return -1;
		}
		return (int)i;
	}
	return -1;
}

/* As rconn_process does: in order, start each command unless it must wait for what is
 * in flight; stop at the first that must. A start's callbacks (another write cut by the
 * proposal) may change the list, so it is looked at afresh after each. */
void conn_process(struct sim *s, struct client *c, bool input)
{
	struct sim_conn *k = &c->conn;
	if (k->processing || !conn_alive(s, c))
		return;
	struct node *nd = &s->nodes[k->node];
	uint32_t gen = k->gen;
	k->processing = true;
	bool started = false;
	int i;
	while (k->open && k->gen == gen && nd->up && (i = next_startable(s, k)) >= 0) {
		uint64_t op = k->ops[i].op;
		enum driver_order_kind kind = kind_of(s, op);
		k->ops[i].started = true;
		driver_order_begin(&k->order, kind);
		int rv = client_op_start(s, c, nd, op);
		if (rv == 0) {
			started = true;
			continue;
		}
		/* Refused at once, as the frontend answers an error in the command's slot and
		 * goes on with the next. */
		int at = find(k, op);
		assert(at >= 0);
		driver_order_end(&k->order, kind);
		remove_at(k, (uint32_t)at);
		k->broken = true;
		client_op_refused(s, c, op, rv);
	}
	k->processing = false;
	if (started && input)
		sim_node_input(s, nd);
}

bool conn_take(struct sim *s, struct client *c, uint32_t gen, uint64_t op)
{
	struct sim_conn *k = &c->conn;
	if (!k->open || k->gen != gen)
		return false;
	int at = find(k, op);
	if (at < 0 || !k->ops[at].started)
		return false;
	driver_order_end(&k->order, kind_of(s, op));
	remove_at(k, (uint32_t)at);
	return true;
}

bool conn_has(const struct client *c, uint32_t gen, uint64_t op)
{
	const struct sim_conn *k = &c->conn;
	int at = k->open && k->gen == gen ? find(k, op) : -1;
	return at >= 0 && k->ops[at].started;
}

void conn_close(struct sim *s, struct client *c)
{
	struct sim_conn *k = &c->conn;
	if (!k->open)
		return;
	struct conn_op ops[SIM_PIPE_MAX];
	uint32_t n = k->n;
	for (uint32_t i = 0; i < n; i++)
		ops[i] = k->ops[i];
	uint32_t gen = k->gen;
	*k = (struct sim_conn){.gen = gen};
	for (uint32_t i = 0; i < n; i++)
		client_op_abandoned(s, c, ops[i].op, ops[i].started);
}
