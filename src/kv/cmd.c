/* cmd.c: encoding commands into the log's protobuf form. */
#include "kv/codec.h"
#include "kv/impl.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Encoding. The pb structures point into the caller's memory; only MSET and DEL need
 * arrays of their own.
 */

static ProtobufCBinaryData bin(const void *p, size_t len)
{
	ProtobufCBinaryData b = {len, (uint8_t *)p};
	return b;
}

static void cond_to_pb(const struct kv_cond *cond, Concord__Kv__Condition *pc)
{
	concord__kv__condition__init(pc);
	pc->kind = (Concord__Kv__Condition__Kind)cond->kind;
	if (cond->kind == KV_COND_VALUE)
		pc->value = bin(cond->value, cond->value_len);
	if (cond->kind == KV_COND_MOD_REVISION)
		pc->mod_revision = cond->mod_revision;
}

/* An expiry, or NULL for the default (CLEAR with nothing else): the encoding of a
 * command without expiry stays what it was. */
static Concord__Kv__Expiry *expiry_to_pb(const struct kv_expiry *e, Concord__Kv__Expiry *pe)
{
	if (e->mode == KV_EXPIRY_CLEAR && e->ms == 0 && e->lease == 0)
		return NULL;
	concord__kv__expiry__init(pe);
	pe->mode = (Concord__Kv__Expiry__Mode)e->mode;
	pe->ms = e->ms;
	pe->lease = e->lease;
	return pe;
}

static void put_to_pb(const struct kv_put *p, Concord__Kv__Put *pp, Concord__Kv__Condition *pc,
                      Concord__Kv__Expiry *pe)
{
	concord__kv__put__init(pp);
	pp->key = bin(p->key, p->key_len);
	pp->value = bin(p->value, p->value_len);
	if (p->cond.kind != KV_COND_NONE) {
		cond_to_pb(&p->cond, pc);
		pp->cond = pc;
	}
	pp->expiry = expiry_to_pb(&p->expiry, pe);
}

/* Allocations of one encoding, freed together. */
struct pb_arena {
	void **p;
	size_t n, cap;
};

static void *arena_alloc(struct pb_arena *a, size_t n, size_t size)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->p = xrealloc(a->p, a->cap * sizeof(*a->p));
	}
	void *x = xcalloc(n > 0 ? n : 1, size);
	a->p[a->n++] = x;
	return x;
}

static void arena_free(struct pb_arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
}

static Concord__Kv__Del *keys_to_pb(struct pb_arena *a, size_t n, const struct kv_key *keys)
{
	Concord__Kv__Del *d = arena_alloc(a, 1, sizeof(*d));
	concord__kv__del__init(d);
	ProtobufCBinaryData *k = arena_alloc(a, n, sizeof(*k));
	for (size_t i = 0; i < n; i++)
		k[i] = bin(keys[i].data, keys[i].len);
	d->n_keys = n;
	d->keys = k;
	return d;
}

static Concord__Kv__Put *put_pb(struct pb_arena *a, const struct kv_put *p)
{
	Concord__Kv__Put *pp = arena_alloc(a, 1, sizeof(*pp));
	Concord__Kv__Condition *pc = arena_alloc(a, 1, sizeof(*pc));
	Concord__Kv__Expiry *pe = arena_alloc(a, 1, sizeof(*pe));
	put_to_pb(p, pp, pc, pe);
	return pp;
}

static Concord__Kv__MSet *mset_pb(struct pb_arena *a, size_t n, const struct kv_put *puts)
{
	Concord__Kv__MSet *m = arena_alloc(a, 1, sizeof(*m));
	concord__kv__mset__init(m);
	Concord__Kv__Put **pp = arena_alloc(a, n, sizeof(*pp));
	for (size_t i = 0; i < n; i++)
		pp[i] = put_pb(a, &puts[i]);
	m->n_puts = n;
	m->puts = pp;
	return m;
}

static Concord__Kv__Expire *expire_pb(struct pb_arena *a, const struct kv_cmd *op)
{
	Concord__Kv__Expire *x = arena_alloc(a, 1, sizeof(*x));
	concord__kv__expire__init(x);
	x->key = bin(op->put.key, op->put.key_len);
	x->expiry = expiry_to_pb(&op->put.expiry, arena_alloc(a, 1, sizeof(*x->expiry)));
	x->flags = op->expire_flags;
	return x;
}

/* The lease and reaper commands, allocated in `a`. */
static void lease_to_pb(struct pb_arena *a, const struct kv_cmd *cmd, Concord__Kv__Command *c)
{
	if (cmd->op == KV_OP_LEASE_GRANT) {
		Concord__Kv__LeaseGrant *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__lease_grant__init(x);
		x->id = cmd->lease;
		x->ttl_ms = cmd->lease_ttl_ms;
		c->op_case = CONCORD__KV__COMMAND__OP_LEASE_GRANT;
		c->lease_grant = x;
	} else if (cmd->op == KV_OP_LEASE_REVOKE) {
		Concord__Kv__LeaseRevoke *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__lease_revoke__init(x);
		x->id = cmd->lease;
		c->op_case = CONCORD__KV__COMMAND__OP_LEASE_REVOKE;
		c->lease_revoke = x;
	} else if (cmd->op == KV_OP_LEASE_KEEPALIVE) {
		Concord__Kv__LeaseKeepalive *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__lease_keepalive__init(x);
		x->id = cmd->lease;
		c->op_case = CONCORD__KV__COMMAND__OP_LEASE_KEEPALIVE;
		c->lease_keepalive = x;
	} else if (cmd->op == KV_OP_EXPIRE) {
		c->op_case = CONCORD__KV__COMMAND__OP_EXPIRE;
		c->expire = expire_pb(a, cmd);
	} else {
		assert(cmd->op == KV_OP_EXPIRE_DUE);
		Concord__Kv__ExpireDue *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__expire_due__init(x);
		Concord__Kv__Del *k = keys_to_pb(a, cmd->n, cmd->keys);
		x->n_keys = k->n_keys;
		x->keys = k->keys;
		uint64_t *ids = arena_alloc(a, cmd->n_leases, sizeof(*ids));
		for (size_t i = 0; i < cmd->n_leases; i++)
			ids[i] = cmd->leases[i];
		x->n_leases = cmd->n_leases;
		x->leases = ids;
		c->op_case = CONCORD__KV__COMMAND__OP_EXPIRE_DUE;
		c->expire_due = x;
	}
}

static void txn_write_to_pb(struct pb_arena *a, const struct kv_cmd *op, Concord__Kv__TxnOp *po)
{
	if (op->op == KV_OP_INCRBY) {
		Concord__Kv__IncrBy *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__incr_by__init(x);
		x->key = bin(op->put.key, op->put.key_len);
		x->delta = op->delta;
		po->op_case = CONCORD__KV__TXN_OP__OP_INCRBY;
		po->incrby = x;
	} else if (op->op == KV_OP_APPEND) {
		Concord__Kv__Append *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__append__init(x);
		x->key = bin(op->put.key, op->put.key_len);
		x->value = bin(op->put.value, op->put.value_len);
		po->op_case = CONCORD__KV__TXN_OP__OP_APPEND;
		po->append = x;
	} else {
		assert(op->op == KV_OP_CAS);
		Concord__Kv__Cas *x = arena_alloc(a, 1, sizeof(*x));
		Concord__Kv__Condition *pc = arena_alloc(a, 1, sizeof(*pc));
		concord__kv__cas__init(x);
		x->key = bin(op->put.key, op->put.key_len);
		x->value = bin(op->put.value, op->put.value_len);
		cond_to_pb(&op->put.cond, pc);
		x->cond = pc;
		x->delete_ = op->cas_delete;
		x->expiry = expiry_to_pb(&op->put.expiry, arena_alloc(a, 1, sizeof(*x->expiry)));
		po->op_case = CONCORD__KV__TXN_OP__OP_CAS;
		po->cas = x;
	}
}

static void txn_op_to_pb(struct pb_arena *a, const struct kv_cmd *op, Concord__Kv__TxnOp *po)
{
	concord__kv__txn_op__init(po);
	switch (op->op) {
	case KV_OP_SET:
		po->op_case = CONCORD__KV__TXN_OP__OP_SET;
		po->set = put_pb(a, &op->put);
		return;
	case KV_OP_DEL:
		po->op_case = CONCORD__KV__TXN_OP__OP_DEL;
		po->del = keys_to_pb(a, op->n, op->keys);
		return;
	case KV_OP_MSET:
		po->op_case = CONCORD__KV__TXN_OP__OP_MSET;
		po->mset = mset_pb(a, op->n, op->puts);
		return;
	case KV_OP_GET:
		po->op_case = CONCORD__KV__TXN_OP__OP_GET_KEY;
		po->get_key = bin(op->put.key, op->put.key_len);
		return;
	case KV_OP_STRLEN:
		po->op_case = CONCORD__KV__TXN_OP__OP_STRLEN_KEY;
		po->strlen_key = bin(op->put.key, op->put.key_len);
		return;
	case KV_OP_MGET:
		po->op_case = CONCORD__KV__TXN_OP__OP_MGET;
		po->mget = keys_to_pb(a, op->n, op->keys);
		return;
	case KV_OP_EXISTS:
		po->op_case = CONCORD__KV__TXN_OP__OP_EXISTS;
		po->exists = keys_to_pb(a, op->n, op->keys);
		return;
	case KV_OP_EXPIRE:
		po->op_case = CONCORD__KV__TXN_OP__OP_EXPIRE;
		po->expire = expire_pb(a, op);
		return;
	case KV_OP_DELRANGE: {
		Concord__Kv__DelRange *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__del_range__init(x);
		x->key = bin(op->put.key, op->put.key_len);
		x->range_end = bin(op->range_end, op->range_end_len);
		x->prev_kv = op->prev_kv;
		po->op_case = CONCORD__KV__TXN_OP__OP_DEL_RANGE;
		po->del_range = x;
		return;
	}
	case KV_OP_RANGE: {
		Concord__Kv__Range *x = arena_alloc(a, 1, sizeof(*x));
		concord__kv__range__init(x);
		x->key = bin(op->put.key, op->put.key_len);
		x->range_end = bin(op->range_end, op->range_end_len);
		x->limit = op->limit;
		x->keys_only = op->keys_only;
		x->count_only = op->count_only;
		po->op_case = CONCORD__KV__TXN_OP__OP_RANGE;
		po->range = x;
		return;
	}
	default:
		txn_write_to_pb(a, op, po);
		return;
	}
}

static Concord__Kv__TxnOp **ops_to_pb(struct pb_arena *a, size_t n, const struct kv_cmd *ops)
{
	Concord__Kv__TxnOp *o = arena_alloc(a, n, sizeof(*o));
	Concord__Kv__TxnOp **op = arena_alloc(a, n, sizeof(*op));
	for (size_t i = 0; i < n; i++) {
		txn_op_to_pb(a, &ops[i], &o[i]);
		op[i] = &o[i];
	}
	return op;
}

/* A checked transaction as its pb structures, allocated in `a`. */
static Concord__Kv__Txn *txn_to_pb(struct pb_arena *a, const struct kv_cmd *cmd)
{
	Concord__Kv__Txn *t = arena_alloc(a, 1, sizeof(*t));
	concord__kv__txn__init(t);
	Concord__Kv__Guard *g = arena_alloc(a, cmd->n_guards, sizeof(*g));
	Concord__Kv__Guard **gp = arena_alloc(a, cmd->n_guards, sizeof(*gp));
	for (size_t i = 0; i < cmd->n_guards; i++) {
		concord__kv__guard__init(&g[i]);
		g[i].key = bin(cmd->guards[i].key, cmd->guards[i].key_len);
		g[i].mod_revision = cmd->guards[i].mod_revision;
		gp[i] = &g[i];
	}
	t->n_guards = cmd->n_guards;
	t->guards = gp;
	t->ops = ops_to_pb(a, cmd->n_ops, cmd->ops);
	t->n_ops = cmd->n_ops;
	t->else_ops = ops_to_pb(a, cmd->n_else, cmd->else_ops);
	t->n_else_ops = cmd->n_else;
	Concord__Kv__Compare *c = arena_alloc(a, cmd->n_compares, sizeof(*c));
	Concord__Kv__Compare **cp = arena_alloc(a, cmd->n_compares, sizeof(*cp));
	for (size_t i = 0; i < cmd->n_compares; i++) {
		const struct kv_compare *k = &cmd->compares[i];
		concord__kv__compare__init(&c[i]);
		c[i].key = bin(k->key, k->key_len);
		c[i].target = (uint32_t)k->target;
		c[i].result = (uint32_t)k->result;
		c[i].value = bin(k->value, k->value_len);
		c[i].number = k->number;
		cp[i] = &c[i];
	}
	t->n_compares = cmd->n_compares;
	t->compares = cp;
	return t;
}

int kv_cmd_encode(const struct kv_cmd *cmd, const struct kv_limits *lim, void **buf, size_t *len)
{
	struct kv_limits def;
	if (lim == NULL) {
		kv_limits_default(&def);
		lim = &def;
	}
	int rv = kv_cmd_check(cmd, lim);
	if (rv != KV_OK)
		return rv;

	Concord__Kv__Command c;
	concord__kv__command__init(&c);
	c.client_id = cmd->client_id;
	c.seq = cmd->seq;
	c.time_ms = cmd->time_ms;
	c.mono_ms = cmd->mono_ms;

	Concord__Kv__Put put;
	Concord__Kv__Condition cond;
	Concord__Kv__Expiry exp;
	Concord__Kv__Del del;
	Concord__Kv__IncrBy incr;
	Concord__Kv__Append app;
	Concord__Kv__MSet mset;
	Concord__Kv__Cas cas;
	Concord__Kv__SessionOpen open;
	Concord__Kv__SessionClose close;
	Concord__Kv__SessionKeepalive keep;
	Concord__Kv__Noop noop;
	Concord__Kv__Compact compact;
	Concord__Kv__DelRange delrange;
	Concord__Kv__Publish publish;
	/* MSET and DEL */
	Concord__Kv__Put *puts = NULL;
	Concord__Kv__Put **put_ptrs = NULL;
	Concord__Kv__Condition *conds = NULL;
	ProtobufCBinaryData *keys = NULL;
	struct pb_arena arena = {0};

	switch (cmd->op) {
	case KV_OP_TXN:
		c.op_case = CONCORD__KV__COMMAND__OP_TXN;
		c.txn = txn_to_pb(&arena, cmd);
		break;
	case KV_OP_EXPIRE:
	case KV_OP_LEASE_GRANT:
	case KV_OP_LEASE_REVOKE:
	case KV_OP_LEASE_KEEPALIVE:
	case KV_OP_EXPIRE_DUE:
		lease_to_pb(&arena, cmd, &c);
		break;
	case KV_OP_GET:
	case KV_OP_MGET:
	case KV_OP_EXISTS:
	case KV_OP_STRLEN:
	case KV_OP_RANGE:
		break; /* refused by kv_cmd_check */
	case KV_OP_SET:
		put_to_pb(&cmd->put, &put, &cond, &exp);
		c.op_case = CONCORD__KV__COMMAND__OP_SET;
		c.set = &put;
		break;
	case KV_OP_DEL:
		concord__kv__del__init(&del);
		keys = xcalloc(cmd->n, sizeof(*keys));
		for (size_t i = 0; i < cmd->n; i++)
			keys[i] = bin(cmd->keys[i].data, cmd->keys[i].len);
		del.n_keys = cmd->n;
		del.keys = keys;
		c.op_case = CONCORD__KV__COMMAND__OP_DEL;
		c.del = &del;
		break;
	case KV_OP_INCRBY:
		concord__kv__incr_by__init(&incr);
		incr.key = bin(cmd->put.key, cmd->put.key_len);
		incr.delta = cmd->delta;
		c.op_case = CONCORD__KV__COMMAND__OP_INCRBY;
		c.incrby = &incr;
		break;
	case KV_OP_APPEND:
		concord__kv__append__init(&app);
		app.key = bin(cmd->put.key, cmd->put.key_len);
		app.value = bin(cmd->put.value, cmd->put.value_len);
		c.op_case = CONCORD__KV__COMMAND__OP_APPEND;
		c.append = &app;
		break;
	case KV_OP_MSET:
		concord__kv__mset__init(&mset);
		puts = xcalloc(cmd->n, sizeof(*puts));
		put_ptrs = xcalloc(cmd->n, sizeof(*put_ptrs));
		conds = xcalloc(cmd->n, sizeof(*conds));
		for (size_t i = 0; i < cmd->n; i++) {
			put_to_pb(&cmd->puts[i], &puts[i], &conds[i],
			          arena_alloc(&arena, 1, sizeof(Concord__Kv__Expiry)));
			put_ptrs[i] = &puts[i];
		}
		mset.n_puts = cmd->n;
		mset.puts = put_ptrs;
		c.op_case = CONCORD__KV__COMMAND__OP_MSET;
		c.mset = &mset;
		break;
	case KV_OP_CAS:
		concord__kv__cas__init(&cas);
		cas.key = bin(cmd->put.key, cmd->put.key_len);
		cas.value = bin(cmd->put.value, cmd->put.value_len);
		cond_to_pb(&cmd->put.cond, &cond);
		cas.cond = &cond;
		cas.delete_ = cmd->cas_delete;
		cas.expiry = expiry_to_pb(&cmd->put.expiry, &exp);
		c.op_case = CONCORD__KV__COMMAND__OP_CAS;
		c.cas = &cas;
		break;
	case KV_OP_SESSION_OPEN:
		concord__kv__session_open__init(&open);
		c.op_case = CONCORD__KV__COMMAND__OP_SESSION_OPEN;
		c.session_open = &open;
		break;
	case KV_OP_SESSION_CLOSE:
		concord__kv__session_close__init(&close);
		c.op_case = CONCORD__KV__COMMAND__OP_SESSION_CLOSE;
		c.session_close = &close;
		break;
	case KV_OP_SESSION_KEEPALIVE:
		concord__kv__session_keepalive__init(&keep);
		c.op_case = CONCORD__KV__COMMAND__OP_SESSION_KEEPALIVE;
		c.session_keepalive = &keep;
		break;
	case KV_OP_NOOP:
		concord__kv__noop__init(&noop);
		c.op_case = CONCORD__KV__COMMAND__OP_NOOP;
		c.noop = &noop;
		break;
	case KV_OP_DELRANGE:
		concord__kv__del_range__init(&delrange);
		delrange.key = bin(cmd->put.key, cmd->put.key_len);
		delrange.range_end = bin(cmd->range_end, cmd->range_end_len);
		delrange.prev_kv = cmd->prev_kv;
		c.op_case = CONCORD__KV__COMMAND__OP_DEL_RANGE;
		c.del_range = &delrange;
		break;
	case KV_OP_PUBLISH:
		concord__kv__publish__init(&publish);
		publish.channel = bin(cmd->put.key, cmd->put.key_len);
		publish.message = bin(cmd->put.value, cmd->put.value_len);
		c.op_case = CONCORD__KV__COMMAND__OP_PUBLISH;
		c.publish = &publish;
		break;
	case KV_OP_COMPACT:
		concord__kv__compact__init(&compact);
		compact.revision = cmd->revision;
		c.op_case = CONCORD__KV__COMMAND__OP_COMPACT;
		c.compact = &compact;
		break;
	}
	assert(c.op_case != CONCORD__KV__COMMAND__OP__NOT_SET);

	size_t n = concord__kv__command__get_packed_size(&c);
	uint8_t *out = xmalloc(n);
	size_t written = concord__kv__command__pack(&c, out);
	assert(written == n);
	free(puts);
	free(put_ptrs);
	free(conds);
	free(keys);
	arena_free(&arena);
	*buf = out;
	*len = written;
	return KV_OK;
}
