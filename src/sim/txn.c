/* txn.c: the simulated clients' transactions on m0..m2, shaped as the server's frontends
 * shape a KV_OP_TXN: CONCORD.TXN (value compares, then and else lists), MULTI/EXEC (no
 * guard) and WATCH + MULTI/EXEC (a linearizable read of the watched keys, then the txn
 * guarded on the mod revisions it found); their replies recorded for the checker. */
#include "sim/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define TXN_VALUE 24 /* room for a value's text */

/* Every draw of a txn comes from txn_rng, never from the run's stream: the run's other
 * draws stay what they are with txns off (--no-txn replays older seeds exactly). */
static uint64_t txn_rand(struct sim *s, uint64_t below)
{
	return below == 0 ? 0 : rng_next(&s->txn_rng) % below;
}

static void *txn_xcalloc(size_t n)
{
	void *p = calloc(1, n);
	if (p == NULL)
		abort();
	return p;
}

static char *text_of(const void *p, size_t len)
{
	char *t = malloc(len + 1);
	if (t == NULL)
		abort();
	if (len > 0)
		memcpy(t, p, len);
	t[len] = '\0';
	return t;
}

/* ---------------------------------------------------------------------------------
 * The draw
 */

static void draw_subs(struct sim *s, struct txn_sub *subs, uint32_t n)
{
	assert(n <= SIM_TXN_SUBS);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t r = txn_rand(s, 100);
		subs[i] = (struct txn_sub){.kind = r < 40   ? CHECK_KIND_GET
		                                   : r < 80 ? CHECK_KIND_PUT
		                                            : CHECK_KIND_DELETE,
		                           .key = SIM_KEYS + (uint32_t)txn_rand(s, SIM_MULTI_KEYS)};
		if (subs[i].kind == CHECK_KIND_PUT)
			subs[i].value = ++s->next_value;
	}
}

/* Compares or watched keys: consecutive keys of m0..m2. A compare mostly expects what the
 * client last saw of its key, so that it holds often; else absence, or a value written
 * a little while ago. */
static void draw_cmps(struct sim *s, const struct client *c, struct hist_txn *t)
{
	uint32_t first = (uint32_t)txn_rand(s, SIM_MULTI_KEYS);
	t->n_cmp = 1 + (uint32_t)txn_rand(s, SIM_MULTI_KEYS - first);
	for (uint32_t i = 0; i < t->n_cmp; i++) {
		struct txn_cmp *cmp = &t->cmp[i];
		cmp->key = SIM_KEYS + first + i;
		if (t->shape != TXN_COMPARE)
			continue; /* a WATCH's read fills in what it found */
		uint64_t r = txn_rand(s, 100);
		uint64_t back = txn_rand(s, 8);
		cmp->value = r < 60                            ? c->seen[cmp->key]
		             : r < 80 || s->next_value <= back ? 0
		                                               : s->next_value - back;
		/* Absence as etcd's clients ask for it: a revision or version of 0. */
		static const uint32_t absent[] = {KV_CMP_MOD, KV_CMP_VERSION, KV_CMP_CREATE};
		cmp->absent_as = absent[txn_rand(s, 3)];
	}
}

void txn_draw(struct sim *s, struct client *c, struct hist_op *op)
{
	if (s->opts.no_txn || txn_rand(s, 100) >= SIM_TXN_PERCENT)
		return;
	struct hist_txn *t = txn_xcalloc(sizeof(*t));
	t->shape = TXN_COMPARE + (enum txn_shape)txn_rand(s, 3);
	if (t->shape != TXN_MULTI)
		draw_cmps(s, c, t);
	t->n_then = 1 + (uint32_t)txn_rand(s, t->shape == TXN_MULTI ? SIM_TXN_SUBS : 3);
	if (t->shape == TXN_COMPARE)
		t->n_else = (uint32_t)txn_rand(s, 3);
	draw_subs(s, t->then, t->n_then);
	draw_subs(s, t->els, t->n_else);
	op->kind = CHECK_KIND_TXN;
	op->key = t->n_cmp > 0 ? t->cmp[0].key : t->then[0].key; /* the first key it names */
	op->nkeys = 1;
	op->ttl_ms = 0;
	op->txn = t;
}

void txn_free(struct hist_op *op)
{
	struct hist_txn *t = op->txn;
	if (t == NULL)
		return;
	for (uint32_t i = 0; i < SIM_TXN_SUBS; i++) {
		free(t->then[i].result);
		free(t->els[i].result);
	}
	free(t);
	op->txn = NULL;
}

/* ---------------------------------------------------------------------------------
 * The command, as the frontends build it
 */

struct txn_cmd {
	char names[SIM_MULTI_KEYS][8];
	char values[2 * SIM_TXN_SUBS + SIM_MULTI_KEYS][TXN_VALUE];
	struct kv_key keys[2 * SIM_TXN_SUBS];
	struct kv_compare cmps[SIM_MULTI_KEYS];
	struct kv_guard guards[SIM_MULTI_KEYS];
	struct kv_cmd then[SIM_TXN_SUBS], els[SIM_TXN_SUBS];
};

static size_t decimal(char buf[TXN_VALUE], uint64_t v)
{
	return (size_t)snprintf(buf, TXN_VALUE, "%" PRIu64, v);
}

/* CONCORD.TXN's requests are PUT key value, GET key "" and DEL key "" (a range of the
 * key alone: resp_etxn.c); MULTI queues SET, GET and DEL (resp_txn.c). */
static void build_sub(struct txn_cmd *b, enum txn_shape shape, const struct txn_sub *sub,
                      size_t slot, struct kv_cmd *out)
{
	const char *name = b->names[sub->key - SIM_KEYS];
	*out = (struct kv_cmd){.put = {.key = name, .key_len = 2}};
	switch (sub->kind) {
	case CHECK_KIND_PUT:
		out->op = KV_OP_SET;
		out->put.value = b->values[slot];
		out->put.value_len = decimal(b->values[slot], sub->value);
		break;
	case CHECK_KIND_GET:
		out->op = shape == TXN_COMPARE ? KV_OP_RANGE : KV_OP_GET;
		break;
	default:
		assert(sub->kind == CHECK_KIND_DELETE);
		if (shape == TXN_COMPARE) {
			out->op = KV_OP_DELRANGE;
			break;
		}
		b->keys[slot] = (struct kv_key){name, 2};
		*out = (struct kv_cmd){.op = KV_OP_DEL, .n = 1, .keys = &b->keys[slot]};
		break;
	}
}

static void txn_build(const struct hist_txn *t, struct txn_cmd *b, struct kv_cmd *cmd)
{
	for (uint32_t k = 0; k < SIM_MULTI_KEYS; k++)
		sim_key_name(SIM_KEYS + k, b->names[k]);
	for (uint32_t i = 0; i < t->n_then; i++)
		build_sub(b, t->shape, &t->then[i], i, &b->then[i]);
	for (uint32_t i = 0; i < t->n_else; i++)
		build_sub(b, t->shape, &t->els[i], SIM_TXN_SUBS + i, &b->els[i]);
	for (uint32_t i = 0; i < t->n_cmp; i++) {
		const struct txn_cmp *cmp = &t->cmp[i];
		const char *name = b->names[cmp->key - SIM_KEYS];
		b->guards[i] = (struct kv_guard){name, 2, cmp->mod_rev};
		b->cmps[i] = (struct kv_compare){.key = name, .key_len = 2, .result = KV_CMP_EQUAL};
		if (cmp->value == 0) {
			b->cmps[i].target = (enum kv_cmp_target)cmp->absent_as; /* = 0: absent */
			continue;
		}
		char *text = b->values[2 * SIM_TXN_SUBS + i];
		b->cmps[i].target = KV_CMP_VALUE;
		b->cmps[i].value = text;
		b->cmps[i].value_len = decimal(text, cmp->value);
	}
	bool watch = t->shape == TXN_WATCH;
	assert(!watch || t->watched);
	*cmd = (struct kv_cmd){.op = KV_OP_TXN,
	                       .n_guards = watch ? t->n_cmp : 0,
	                       .guards = b->guards,
	                       .n_compares = t->shape == TXN_COMPARE ? t->n_cmp : 0,
	                       .compares = b->cmps,
	                       .n_ops = t->n_then,
	                       .ops = b->then,
	                       .n_else = t->n_else,
	                       .else_ops = b->els};
}

static const char *shape_name(enum txn_shape shape)
{
	return shape == TXN_COMPARE ? "CONCORD.TXN" : shape == TXN_MULTI ? "MULTI" : "WATCH+MULTI";
}

/* EXEC (or CONCORD.TXN) goes to the node, under the client's session if it has one. */
static int propose(struct sim *s, struct client *c, struct node *nd, uint64_t opi,
                   struct request *rq)
{
	struct hist_op *op = &s->hist[opi];
	struct txn_cmd b;
	struct kv_cmd cmd;
	txn_build(op->txn, &b, &cmd);
	int rv = client_send_write(c, nd, op, &cmd, rq);
	if (rv != 0)
		return rv;
	op->tries++;
	sim_log(s,
	        "client %u: txn %s on m%u.. (seq %" PRIu64 ", try %u, op %" PRIu64 ") sent to n%u",
	        c->id, shape_name(op->txn->shape), op->key - SIM_KEYS, op->seq, op->tries, opi,
	        nd->idx + 1);
	return 0;
}

/* WATCH's read came back (ReadIndex confirmed and applied): the watched keys' values and
 * mod revisions, as read_watch takes them; then EXEC, guarded on those revisions. */
static void on_watch_read(void *arg, int status)
{
	struct request *rq = arg;
	struct sim *s = rq->sim;
	struct client *c = &s->clients[rq->client];
	if (!conn_has(c, rq->conn, rq->op))
		return; /* given up already */
	struct hist_op *op = &s->hist[rq->op];
	struct hist_txn *t = op->txn;
	assert(t != NULL && t->watching && !t->watched);
	t->watching = false;
	struct node *nd = &s->nodes[rq->node];
	int rv = status;
	if (status == DRIVER_OK) {
		for (uint32_t i = 0; i < t->n_cmp; i++) {
			char name[8];
			size_t len = sim_key_name(t->cmp[i].key, name);
			struct kv_value v;
			bool live = kv_get(driver_kv(nd->d), name, len, 0, &v) == 0;
			char *text = live ? text_of(v.value, v.value_len) : NULL;
			t->cmp[i].value = live ? strtoull(text, NULL, 10) : 0; /* not NUL-ended */
			free(text);
			t->cmp[i].mod_rev = live ? v.mod_revision : 0;
			assert(!live || t->cmp[i].value != 0); /* every value written is >= 1 */
		}
		t->watched = true;
		rv = propose(s, c, nd, rq->op, client_request(s, c, nd, rq->op));
	}
	if (rv != 0) {
		sim_log(s, "client %u: WATCH for op %" PRIu64 ": %s", c->id, rq->op,
		        sim_driver_error(rv));
		bool taken = conn_take(s, c, rq->conn, rq->op);
		assert(taken);
		(void)taken;
		c->conn.broken = true;
		client_op_refused(s, c, rq->op, rv); /* EXEC never went: no effect */
	}
	client_answered(s, c); /* the connection starts what the WATCH held back */
}

int txn_start(struct sim *s, struct client *c, struct node *nd, uint64_t opi, struct request *rq)
{
	struct hist_txn *t = s->hist[opi].txn;
	if (t->shape != TXN_WATCH || t->watched)
		return propose(s, c, nd, opi, rq); /* a retry keeps the revisions it read */
	int rv = driver_read(nd->d, false, on_watch_read, rq);
	if (rv == 0) {
		t->watching = true;
		sim_log(s, "client %u: WATCH m%u.. (op %" PRIu64 ") sent to n%u", c->id,
		        t->cmp[0].key - SIM_KEYS, opi, nd->idx + 1);
	}
	return rv;
}

bool txn_holds(const struct sim *s, uint64_t opi, bool started, const struct driver_order *o)
{
	const struct hist_txn *t = s->hist[opi].txn;
	if (t == NULL || t->shape != TXN_WATCH)
		return false;
	if (started)
		return t->watching;
	/* WATCH waits for the writes in flight (a read), EXEC for the reads (a write). */
	return !t->watched && driver_order_in_flight(o) > 0;
}

bool txn_carries(const struct raft_entry *e, const struct hist_op *op)
{
	const struct hist_txn *t = op->txn;
	for (uint32_t i = 0; i < 2 * SIM_TXN_SUBS; i++) {
		const struct txn_sub *sub =
		    i < SIM_TXN_SUBS ? &t->then[i] : &t->els[i - SIM_TXN_SUBS];
		bool listed = i < SIM_TXN_SUBS ? i < t->n_then : i - SIM_TXN_SUBS < t->n_else;
		if (!listed || sub->kind != CHECK_KIND_PUT)
			continue;
		char text[TXN_VALUE];
		size_t len = decimal(text, sub->value);
		return memmem(raft_entry_data(e), raft_entry_len(e), text, len) != NULL;
	}
	return true; /* no unique bytes: the driver's term rule is what is checked */
}

/* ---------------------------------------------------------------------------------
 * The reply
 */

/* A get's outcome: GET's value or RANGE's one key; NULL if absent. */
static char *item_read(struct sim *s, const struct kv_txn_item *it)
{
	if (it->op == KV_OP_GET && it->n_values == 1)
		return it->values[0].present ? text_of(it->values[0].data, it->values[0].len)
		                             : NULL;
	if (it->op == KV_OP_RANGE && it->n_kvs <= 1 && it->integer == (int64_t)it->n_kvs)
		return it->n_kvs == 1 ? text_of(it->kvs[0].value, it->kvs[0].value_len) : NULL;
	sim_fail(s, "kv-reply", "a txn's read was answered %zu values, %zu keys", it->n_values,
	         it->n_kvs);
	return NULL;
}

/* The branch that ran: each get's value, and what the client now knows of the keys. */
static void record_branch(struct sim *s, struct client *c, struct txn_sub *subs, uint32_t n,
                          const struct kv_txn_result *res)
{
	if (res == NULL || res->n != n) {
		sim_fail(s, "kv-reply", "client %u's txn was answered %zu outcomes for %u requests",
		         c->id, res != NULL ? res->n : 0, n);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct kv_txn_item *it = &res->items[i];
		if (it->code != KV_OK) {
			sim_fail(s, "kv-reply", "client %u's txn request %u was answered %s", c->id,
			         i, kv_strerror(it->code));
			return;
		}
		if (subs[i].kind == CHECK_KIND_GET) {
			subs[i].result = item_read(s, it);
			c->seen[subs[i].key] =
			    subs[i].result != NULL ? strtoull(subs[i].result, NULL, 10) : 0;
		} else {
			c->seen[subs[i].key] = subs[i].kind == CHECK_KIND_PUT ? subs[i].value : 0;
		}
	}
}

int txn_outcome(struct sim *s, struct client *c, struct hist_op *op, const struct kv_reply *r)
{
	struct hist_txn *t = op->txn;
	if (r->code != KV_OK) {
		sim_fail(s, "kv-reply", "client %u's txn was answered %s", c->id,
		         kv_strerror(r->code));
		return 1;
	}
	s->res->txn_acked++;
	s->res->txn_duplicates += r->duplicate;
	if (t->shape == TXN_WATCH && !r->succeeded) {
		/* A guard failed: a watched key's revision moved, so nothing applied. (Not a
		 * compare that failed: a revision may move while the value comes back.) */
		s->res->txn_aborted++;
		return 0;
	}
	if (!r->succeeded && t->shape != TXN_COMPARE) {
		sim_fail(s, "kv-reply", "client %u's MULTI/EXEC without a guard did not run",
		         c->id);
		return 1;
	}
	s->res->txn_else += !r->succeeded;
	if (r->duplicate) {
		/* From the session's stored reply: the branch is known but not the reads, so
		 * the branch goes down as unobserved (docs/history-format.md). */
		t->branch = CHECK_BRANCH_UNOBSERVED;
		return 1;
	}
	t->branch = r->succeeded ? CHECK_BRANCH_THEN : CHECK_BRANCH_ELSE;
	if (r->succeeded)
		record_branch(s, c, t->then, t->n_then, r->txn);
	else
		record_branch(s, c, t->els, t->n_else, r->txn);
	return 1;
}

/* ---------------------------------------------------------------------------------
 * For the checker
 */

struct txn_text {
	char names[SIM_MULTI_KEYS][8];
	char cmp_values[SIM_MULTI_KEYS][TXN_VALUE];
	char values[2][SIM_TXN_SUBS][TXN_VALUE];
	struct check_compare cmps[SIM_MULTI_KEYS];
	struct check_subop subs[2][SIM_TXN_SUBS];
};

static struct check_str name_of(struct txn_text *x, uint32_t key)
{
	assert(key >= SIM_KEYS && key < SIM_ALL_KEYS);
	return (struct check_str){x->names[key - SIM_KEYS], 2, true};
}

/* `taken`: the branch ran and its reads were seen. */
static void check_subs(struct txn_text *x, int b, const struct txn_sub *subs, uint32_t n,
                       bool taken)
{
	for (uint32_t i = 0; i < n; i++) {
		struct check_subop *o = &x->subs[b][i];
		*o = (struct check_subop){.kind = subs[i].kind, .key = name_of(x, subs[i].key)};
		if (subs[i].kind == CHECK_KIND_PUT)
			o->value = (struct check_str){
			    x->values[b][i], decimal(x->values[b][i], subs[i].value), true};
		if (taken && subs[i].kind == CHECK_KIND_GET && subs[i].result != NULL)
			o->result =
			    (struct check_str){subs[i].result, strlen(subs[i].result), true};
	}
}

/*
 * CONCORD.TXN's compares go down as they are. A WATCH that held (its EXEC ran) goes down
 * as a txn whose compares say each watched key still held the value the read found, absent
 * if it found none: values are unique per write, so "the revision did not move" and "the
 * value is still the one read" are the same here. One that failed has ok false, no effect.
 */
void txn_check_op(const struct hist_op *h, struct check_op *op, struct txn_text **text)
{
	const struct hist_txn *t = h->txn;
	assert(t->shape != TXN_WATCH || t->watched); /* unsent WATCHes are left out */
	struct txn_text *x = txn_xcalloc(sizeof(*x));
	*text = x;
	for (uint32_t k = 0; k < SIM_MULTI_KEYS; k++)
		sim_key_name(SIM_KEYS + k, x->names[k]);
	for (uint32_t i = 0; i < t->n_cmp; i++) {
		x->cmps[i].key = name_of(x, t->cmp[i].key);
		if (t->cmp[i].value != 0)
			x->cmps[i].value = (struct check_str){
			    x->cmp_values[i], decimal(x->cmp_values[i], t->cmp[i].value), true};
	}
	op->branch = h->ok == 1 ? t->branch : CHECK_BRANCH_UNOBSERVED;
	check_subs(x, 0, t->then, t->n_then, op->branch == CHECK_BRANCH_THEN);
	check_subs(x, 1, t->els, t->n_else, op->branch == CHECK_BRANCH_ELSE);
	op->compares = x->cmps;
	op->compare_count = t->n_cmp;
	op->then_ops = x->subs[0];
	op->then_count = t->n_then;
	op->else_ops = x->subs[1];
	op->else_count = t->n_else;
}
